// Warm sandboxes of the gvisor-local backend: `runsc run` of the launcher in
// its waiting mode (`launcher --wait`), started ahead of demand under the
// default run's shape (rootfs, memory and CPU limits) with the same config
// as a cold run's minus the request: the sandbox has booted, its workspace
// is mounted and its cgroup limited, and the launcher blocks reading its
// stdin. A claim writes one request there and the run goes on exactly as a
// cold one (SandboxDriver). Nothing of a run is in the sandbox before the
// claim, and each sandbox serves one run.
#ifndef CODEEXEC_SERVER_LOCAL_WARM_SANDBOXES_H_
#define CODEEXEC_SERVER_LOCAL_WARM_SANDBOXES_H_

#include <atomic>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/base/child_process.h"
#include "server/exec/warm_pool.h"
#include "server/local/container_start_watcher.h"
#include "server/local/runsc_cli.h"
#include "server/local/sandbox_setup.h"

namespace codeexec {

class LocalWarmSandbox : public WarmSandbox {
 public:
  // False once `runsc run` has exited (the sandbox died while idle).
  bool Alive() override { return !child->TryReap(); }

  SandboxResources resources;
  std::optional<ChildProcess> child;
};

// Writes `request` to the waiting launcher's stdin and (unless a prestart
// is written) closes it. Fails with FAILED_PRECONDITION if the sandbox has
// gone (nothing of the run reached a program: the caller may run it cold),
// DEADLINE_EXCEEDED if the launcher does not take it before `deadline`.
absl::Status DeliverRequest(ChildProcess& child, absl::string_view request,
                            absl::Time deadline, bool close_stdin = true);

// Prepares and boots a sandbox whose launcher reads its requests from stdin:
// `launcher --wait` (a warm sandbox) or, with `session`, `launcher
// --session` (a session's). Returns once runsc says the container runs,
// `child` holding `runsc run`; on failure nothing of it is left and the
// error carries runsc's own words.
absl::Status BootStreamSandbox(const SandboxSetup& setup, const RunscCli& runsc,
                               ContainerStartWatcher& start_watcher,
                               const SandboxShape& shape, bool session,
                               absl::Duration kill_grace,
                               SandboxResources& resources,
                               std::optional<ChildProcess>& child);

// Ends such a sandbox (closing its stdin ends a waiting launcher, or a
// session's between cells; one that does not exit within kill_grace is
// killed) and removes what it left.
void EndStreamSandbox(const SandboxSetup& setup, const RunscCli& runsc,
                      absl::Duration kill_grace,
                      const SandboxResources& resources, ChildProcess& child);

// Starts and retires the backend's warm sandboxes (WarmPool::Hooks).
class WarmSandboxes {
 public:
  // All references must outlive this.
  WarmSandboxes(const SandboxSetup& setup, const RunscCli& runsc,
                ContainerStartWatcher& start_watcher, SandboxShape shape,
                std::string prestart, absl::Duration kill_grace);

  // Prepares and boots one sandbox; returns once runsc says its container
  // (the launcher) runs and has been sent `prestart` (a PRESTART request,
  // if not empty). Errors carry runsc's own words.
  absl::StatusOr<std::unique_ptr<WarmSandbox>> Start();

  // Ends an idle sandbox (closing its stdin ends a waiting launcher; one that
  // does not exit is killed) and removes what it left.
  void Retire(std::unique_ptr<WarmSandbox> sandbox) const;

  // Ends a sandbox that failed to take its request, then removes it.
  void Discard(LocalWarmSandbox& sandbox) const;

  const SandboxShape& shape() const { return shape_; }

 private:
  const SandboxSetup& setup_;
  const RunscCli& runsc_;
  ContainerStartWatcher& start_watcher_;
  const SandboxShape shape_;
  const std::string prestart_;
  const absl::Duration kill_grace_;
  std::atomic<uint64_t> next_number_{1};
};

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_LOCAL_WARM_SANDBOXES_H_
