// A session's sandbox on the gvisor-local backend: `runsc run` of the
// launcher in its session mode (`launcher --session`), booted with the
// session's shape (rootfs, memory and CPU limits). Each cell's request is
// written to the launcher's stdin and its frames up to the exit record are
// the cell's result; the sandbox, its workspace and (for Python) its
// interpreter stay between cells. A cell to stop (timeout, cancellation,
// output cap) gets an interrupt byte on the stream; one that does not end
// within kInterruptGrace has its sandbox killed, and the session ends.
#ifndef CODEEXEC_SERVER_LOCAL_LOCAL_SESSION_H_
#define CODEEXEC_SERVER_LOCAL_LOCAL_SESSION_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/base/child_process.h"
#include "server/exec/backend.h"
#include "server/launcher/launcher_bundle.h"
#include "server/launcher/python_prestart.h"
#include "server/local/container_start_watcher.h"
#include "server/local/runsc_cli.h"
#include "server/local/sandbox_driver.h"
#include "server/local/sandbox_setup.h"

namespace codeexec {

class LocalSession : public SandboxSession {
 public:
  // What a session's sandbox needs of the backend; all must outlive it.
  struct Parts {
    const SandboxSetup* setup = nullptr;
    const RunscCli* runsc = nullptr;
    const SandboxDriver* driver = nullptr;
    ContainerStartWatcher* start_watcher = nullptr;
    absl::Duration kill_grace;
    RunAs run_as;
  };

  // Boots the sandbox `id` of `shape`; cells of a language with a kernel
  // (python_prestart.h: KernelFor) run in one interpreter, others each as a
  // fresh program. Errors carry runsc's own words.
  static absl::StatusOr<std::unique_ptr<LocalSession>> Start(
      const Parts& parts, const SandboxShape& shape,
      std::optional<Starter> kernel, std::string id);

  ~LocalSession() override;

  std::string_view sandbox_name() const override { return resources_.id; }

  // timings: create = handing the request to the launcher, run = the rest
  // (no start: the sandbox runs already), cleanup = 0.
  absl::StatusOr<ExecutionResult> RunCell(const ExecutionSpec& spec,
                                          OutputSink& sink,
                                          const Cancellation& cancel) override;

 private:
  LocalSession(const Parts& parts, std::optional<Starter> kernel);

  // Writes the interrupt byte; false if the launcher is gone.
  bool Interrupt();

  const Parts parts_;
  const std::optional<Starter> kernel_;
  SandboxResources resources_;
  std::optional<ChildProcess> child_;
  bool ended_ = false;
};

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_LOCAL_LOCAL_SESSION_H_
