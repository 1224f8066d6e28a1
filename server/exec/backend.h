// The interface every sandbox backend implements (gvisor-local, kubernetes).
#ifndef CODEEXEC_SERVER_EXEC_BACKEND_H_
#define CODEEXEC_SERVER_EXEC_BACKEND_H_

#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/exec/backend_names.h"
#include "server/exec/cancellation.h"
#include "server/exec/execution_spec.h"

namespace codeexec {

// Receives the program's output as it is produced. Called from the backend's
// thread; OnOutput must not block for long.
class OutputSink {
 public:
  virtual ~OutputSink() = default;
  virtual void OnOutput(OutputStream stream, std::string_view data) = 0;

  // Backpressure. Blocks until the sink can take more output (its client
  // has read enough of what is queued), the run is cancelled, or `deadline`
  // passes; true if there is room. Backends call it before reading more of
  // the sandbox's output, so a client that stops reading stops the program
  // at its next write instead of growing the server's memory, while the
  // run's own timeout still counts (pass the run's deadline).
  virtual bool WaitForRoom(absl::Time deadline) { return true; }
};

class Backend {
 public:
  virtual ~Backend() = default;

  // kGvisorLocalBackendName or kKubernetesBackendName (backend_names.h):
  // reported to clients and used as a metrics label.
  virtual std::string_view Name() const = 0;

  // Checks what only the backend can judge before the request is queued
  // (e.g. the kubernetes backend's 1 MiB ConfigMap limit). An error is
  // returned to the client as is (INVALID_ARGUMENT naming the field).
  virtual absl::Status Validate(const ExecutionSpec& spec) const {
    return absl::OkStatus();
  }

  // Runs `spec` to completion on the calling (worker) thread.
  // - Streams stdout/stderr through `sink` in the order produced, never more
  //   than spec.max_output_bytes in total (then kOutputLimit, truncated).
  // - Returns promptly once `cancel` fires, with outcome kCancelled.
  // - Returns only when nothing of the run is left (sandbox, files, objects),
  //   on every path.
  // Failures of the sandbox itself are kSandboxError with a message. An
  // error status is a failure of the service, not of the program (API
  // server unreachable -> UNAVAILABLE, RBAC missing -> PERMISSION_DENIED):
  // the call ends with it instead of a Finished event; attach the phases
  // the run got through (WithPhaseTimings) so the metrics count them.
  virtual absl::StatusOr<ExecutionResult> Run(const ExecutionSpec& spec,
                                              OutputSink& sink,
                                              const Cancellation& cancel) = 0;
};

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_EXEC_BACKEND_H_
