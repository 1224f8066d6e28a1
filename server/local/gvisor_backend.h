// The embedded backend: each run is a fresh gVisor sandbox started with
// `runsc run` from a generated OCI bundle on this host (no cluster).
#ifndef CODEEXEC_SERVER_LOCAL_GVISOR_BACKEND_H_
#define CODEEXEC_SERVER_LOCAL_GVISOR_BACKEND_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/base/child_process.h"
#include "server/exec/backend.h"
#include "server/local/container_start_watcher.h"
#include "server/local/io_pump.h"
#include "server/local/local_backend_options.h"
#include "server/local/oci_bundle.h"
#include "server/local/runsc_cli.h"
#include "server/local/sandbox_cgroup.h"
#include "server/local/state_dir.h"

namespace codeexec {

// <cgroup_parent>/server-<hash of state_dir>: where this server's per-run
// cgroups live.
std::string ServerCgroupParent(const LocalBackendOptions& options);

// OK if `path` (the value of config key `key`, e.g. "local.rootfs") is a
// directory; else FAILED_PRECONDITION saying how to install the built-in
// trees. Nothing else is asked of a rootfs: the launcher is static and comes
// with each run's bundle; a profile's missing interpreter is exit 127.
absl::Status CheckSandboxRootfs(absl::string_view key, const std::string& path);

class GvisorBackend : public Backend {
 public:
  // Checks that runsc exists and runs, that we are root, that cgroups are
  // usable, and prepares state_dir (removing what a crashed server left).
  // Errors say what is missing and how to fix it.
  static absl::StatusOr<std::unique_ptr<GvisorBackend>> Create(
      LocalBackendOptions options);

  // Releases runsc's shared state (StateDir::RunscNullNetns): once every run
  // has ended, nothing of this backend is mounted under state_dir.
  ~GvisorBackend() override;

  std::string_view Name() const override { return kGvisorLocalBackendName; }

  // Safe to call from several threads at once (one sandbox per call).
  // result.timings: `create` = workspace, cgroup and bundle; `start` = the
  // sandbox's boot, from spawning `runsc run` until runsc's state file says
  // the container is running (see ContainerStartWatcher), or until the
  // first output if that came earlier; `run` = from there until runsc
  // exited (the program, its interpreter's start-up included); `cleanup` =
  // removing container, bundle, workspace and cgroups. A run whose container
  // was never seen running (runsc failed, or was killed while booting) falls
  // back to `start` ending at the first output, or at the end if there was
  // none.
  // Never an error status: every failure is the run's outcome.
  absl::StatusOr<ExecutionResult> Run(const ExecutionSpec& spec,
                                      OutputSink& sink,
                                      const Cancellation& cancel) override;

 private:
  // Paths and objects of one run, for cleanup.
  struct RunResources;

  GvisorBackend(LocalBackendOptions options, StateDir state, RunscCli runsc,
                CgroupLayout cgroups,
                std::unique_ptr<ContainerStartWatcher> start_watcher);

  // Removes what a crashed server left in state_dir and the cgroups.
  void RemoveLeftovers() const;
  // Everything of Run() except the cleanup.
  ExecutionResult Execute(const ExecutionSpec& spec, OutputSink& sink,
                          const Cancellation& cancel,
                          RunResources& resources) const;
  // Kills the running sandbox (runsc kill, then SIGKILL of runsc after
  // kill_grace) and waits for `runsc run` to exit, draining its output.
  void StopSandbox(const std::string& id, ChildProcess& child,
                   IoPump& pump) const;
  // Removes the sandbox, bundle, workspace and cgroups of one run; logs what
  // it could not remove.
  void CleanUp(const RunResources& resources) const;

  LocalBackendOptions options_;
  StateDir state_;
  RunscCli runsc_;
  CgroupLayout cgroups_;
  // Null if inotify is unavailable (then `start` ends at the first output).
  std::unique_ptr<ContainerStartWatcher> start_watcher_;
};

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_LOCAL_GVISOR_BACKEND_H_
