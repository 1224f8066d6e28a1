// The interface every sandbox backend implements (gvisor-local, kubernetes).
#ifndef CODEEXEC_SERVER_EXEC_BACKEND_H_
#define CODEEXEC_SERVER_EXEC_BACKEND_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
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

// The sandbox of one session (CreateSession): its cells run there one at a
// time, and it stays between them. Destroying it ends the sandbox and
// removes everything of it, like the cleanup of a run.
class SandboxSession {
 public:
  // How long an interrupted cell has to end before its sandbox is killed.
  static constexpr absl::Duration kInterruptGrace = absl::Seconds(2);

  // Why a cell's result ends its session.
  enum class EndCause {
    kKilled,           // the cell ignored its interrupt: sandbox killed
    kInterpreterExit,  // the kernel exited (sys.exit, a crash)
    kSandboxEnded,     // the sandbox died (or its stream broke)
  };
  // Marks `result` as the session's last and says why in its message.
  static void MarkEnded(ExecutionResult& result, EndCause cause) {
    std::string why;
    switch (cause) {
      case EndCause::kKilled:
        why = absl::StrCat("the cell did not stop within ",
                           absl::FormatDuration(kInterruptGrace),
                           " of its interrupt: the session's sandbox was "
                           "killed");
        break;
      case EndCause::kInterpreterExit:
        why = absl::StrCat("the session's interpreter exited with code ",
                           result.exit_code, ": the session has ended");
        break;
      case EndCause::kSandboxEnded:
        why = "the session's sandbox has ended";
        break;
    }
    absl::StrAppend(&result.message, result.message.empty() ? "" : "; ", why);
    result.session_ended = true;
  }

  virtual ~SandboxSession() = default;

  // The sandbox's name (runsc container id, or Job name).
  virtual std::string_view sandbox_name() const = 0;

  // Runs one cell: Backend::Run's contract, except that the sandbox stays
  // and only the files the cell created or changed come back. A cell
  // stopped at its timeout, on cancellation or at the output cap is
  // interrupted (SIGINT to its processes: Python raises KeyboardInterrupt);
  // one that does not end within a grace gets its sandbox killed. Then, or
  // when the session's interpreter exits or its sandbox dies, the result
  // has session_ended set and says why; the session is not used again.
  // Called from one thread at a time.
  virtual absl::StatusOr<ExecutionResult> RunCell(
      const ExecutionSpec& spec, OutputSink& sink,
      const Cancellation& cancel) = 0;
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

  // Starts the sandbox of a session whose cells run like `shape` (its
  // language, limits and env; code and files come with each cell), named by
  // `session_id`, to live at most `max_lifetime` (the registry closes it
  // then; a backend may bound the sandbox itself too, against a crash);
  // returns once it is ready. UNIMPLEMENTED where the backend has no
  // sessions. Blocks: call it from a worker thread.
  virtual absl::StatusOr<std::unique_ptr<SandboxSession>> StartSession(
      const ExecutionSpec& shape, std::string_view session_id,
      absl::Duration max_lifetime) {
    return absl::UnimplementedError(
        absl::StrCat("the ", std::string(Name()), " backend has no sessions"));
  }
};

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_EXEC_BACKEND_H_
