// The embedded backend: each run is a fresh gVisor sandbox on this host (no
// cluster), started with `runsc run` from a generated OCI bundle for the
// run, or ahead of it and taken from the warm pool.
#ifndef CODEEXEC_SERVER_LOCAL_GVISOR_BACKEND_H_
#define CODEEXEC_SERVER_LOCAL_GVISOR_BACKEND_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/base/child_process.h"
#include "server/exec/backend.h"
#include "server/exec/warm_pool.h"
#include "server/local/container_start_watcher.h"
#include "server/local/io_pump.h"
#include "server/local/local_backend_options.h"
#include "server/local/local_session.h"
#include "server/local/oci_bundle.h"
#include "server/local/runsc_cli.h"
#include "server/local/sandbox_cgroup.h"
#include "server/local/sandbox_driver.h"
#include "server/local/sandbox_setup.h"
#include "server/local/state_dir.h"
#include "server/local/warm_sandboxes.h"
#include "server/metrics/warm_pool_metrics.h"

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
  // Errors say what is missing and how to fix it. With
  // options.warm_pool.size > 0, starts that many warm sandboxes of
  // `warm_shape` (the default run's: default language's rootfs, default
  // limits) in the background; `registry` (may be null) gets the pool's
  // metrics. With `default_run` (the run of a request that sets only its
  // code) whose language has a starter (python_prestart.h), each warm
  // sandbox also starts that interpreter ahead of its request.
  static absl::StatusOr<std::unique_ptr<GvisorBackend>> Create(
      LocalBackendOptions options, SandboxShape warm_shape = {},
      prometheus::Registry* registry = nullptr,
      std::optional<ExecutionSpec> default_run = std::nullopt);

  // Retires the warm sandboxes, then releases runsc's shared state
  // (StateDir::RunscNullNetns): once every run has ended, nothing of this
  // backend is mounted under state_dir.
  ~GvisorBackend() override;

  std::string_view Name() const override { return kGvisorLocalBackendName; }

  // Safe to call from several threads at once (one sandbox per call).
  // A run whose shape (ShapeOf) is the warm pool's takes an idle warm
  // sandbox if there is one: timings.create is then the claim (handing the
  // request to the waiting launcher), `start` is 0 and `run` the rest.
  // Otherwise (cold) result.timings: `create` = workspace, cgroup and
  // bundle; `start` = the sandbox's boot, from spawning `runsc run` until
  // runsc's state file says the container is running (see
  // ContainerStartWatcher), or until the first output if that came
  // earlier; `run` = from there until runsc exited (the program, its
  // interpreter's start-up included). Both: `cleanup` = removing container,
  // bundle, workspace and cgroups. A run whose container was never seen
  // running (runsc failed, or was killed while booting) falls back to
  // `start` ending at the first output, or at the end if there was none.
  // Never an error status: every failure is the run's outcome.
  absl::StatusOr<ExecutionResult> Run(const ExecutionSpec& spec,
                                      OutputSink& sink,
                                      const Cancellation& cancel) override;

  // A LocalSession (local_session.h) of `shape`'s language and limits, its
  // sandbox named `session_id`. FAILED_PRECONDITION without inotify (a
  // session's boot is seen through it); UNAVAILABLE if it did not boot.
  // The registry bounds its lifetime (a sandbox of a crashed server is
  // removed by the next one's start-up).
  absl::StatusOr<std::unique_ptr<SandboxSession>> StartSession(
      const ExecutionSpec& shape, std::string_view session_id,
      absl::Duration max_lifetime) override;

  // The warm pool (null when local.warmPool.size is 0 or inotify is
  // unavailable); for tests and benchmarks that wait for it to fill.
  const WarmPool* warm_pool() const { return warm_pool_.get(); }

 private:
  GvisorBackend(LocalBackendOptions options, StateDir state, RunscCli runsc,
                CgroupLayout cgroups,
                std::unique_ptr<ContainerStartWatcher> start_watcher,
                prometheus::Registry* registry);

  // Removes what a crashed server left in state_dir and the cgroups.
  void RemoveLeftovers() const;
  // Starts the warm pool of `shape` if options_.warm_pool.size > 0.
  void StartWarmPool(SandboxShape shape,
                     const std::optional<ExecutionSpec>& default_run);
  // The run in a warm sandbox, or nullopt if it must run cold (the reason
  // is counted).
  std::optional<ExecutionResult> RunWarm(const ExecutionSpec& spec,
                                         OutputSink& sink,
                                         const Cancellation& cancel);
  // The run in a sandbox of its own, but for the cleanup.
  ExecutionResult RunCold(const ExecutionSpec& spec, OutputSink& sink,
                          const Cancellation& cancel,
                          SandboxResources& resources) const;

  LocalBackendOptions options_;
  StateDir state_;
  RunscCli runsc_;
  CgroupLayout cgroups_;
  // Null if inotify is unavailable (then `start` ends at the first output,
  // and there is no warm pool).
  std::unique_ptr<ContainerStartWatcher> start_watcher_;
  SandboxSetup setup_;
  SandboxDriver driver_;
  WarmPoolMetrics warm_metrics_;
  std::unique_ptr<WarmSandboxes> warm_sandboxes_;
  // Last: destroyed (its sandboxes retired) before what it uses.
  std::unique_ptr<WarmPool> warm_pool_;
};

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_LOCAL_GVISOR_BACKEND_H_
