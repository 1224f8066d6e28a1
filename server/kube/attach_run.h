// One run in a claimed warm pod: the request goes to the waiting launcher
// over the pod's attach subresource (a ContainerStream opened when the pod
// became ready), the launcher's frames
// come back on the stream's stdout channel (its own words on stderr), and
// the run ends when the stream does, at the timeout (counted from the
// claim), on cancellation or at the output cap. What was seen goes to
// ClassifyJobRun, as a cold run's does. Deleting the pod is the caller's.
//
// Unlike a pod log, a WebSocket cannot be paused: while the client is slow,
// up to kMaxBufferedBytes (or twice the run's output cap, if larger) of
// frames wait in memory; a run that outpaces its client beyond that is
// stopped as OUTPUT_LIMIT.
#ifndef CODEEXEC_SERVER_KUBE_ATTACH_RUN_H_
#define CODEEXEC_SERVER_KUBE_ATTACH_RUN_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "server/exec/backend.h"
#include "server/exec/cancellation.h"
#include "server/exec/execution_spec.h"
#include "server/kube/client/container_stream.h"
#include "server/kube/client/rest_client.h"

namespace codeexec::kube {

// What a ContainerStream's handlers (cpprestsdk threads) hand to the run.
struct StreamInbox {
  absl::Mutex mu;
  std::deque<std::pair<int, std::string>> chunks ABSL_GUARDED_BY(mu);
  int64_t queued_bytes ABSL_GUARDED_BY(mu) = 0;
  std::optional<absl::Status> closed ABSL_GUARDED_BY(mu);
  bool woken ABSL_GUARDED_BY(mu) = false;

  bool Ready() const ABSL_SHARED_LOCKS_REQUIRED(mu) {
    return !chunks.empty() || closed.has_value() || woken;
  }
  bool Closed() {
    absl::MutexLock lock(&mu);
    return closed.has_value();
  }
};

// A stream attached to a warm pod's waiting launcher (stdin, stdout and
// stderr of container kSandboxContainerName), opened when the pod became
// ready, so that a claim only writes the request.
struct AttachedStream {
  std::unique_ptr<ContainerStream> stream;
  std::shared_ptr<StreamInbox> inbox;
};

// Attaches to `pod` in `namespace_name` (one rate-limited, counted
// request: create pods/attach).
absl::StatusOr<AttachedStream> AttachToPod(RestClient& client,
                                           const std::string& namespace_name,
                                           const std::string& pod);

struct AttachRunOutcome {
  // Outcome, exit code, message, files; timings.run (from the claim).
  ExecutionResult result;
  // When the request was written, and when the first stdout frame came.
  std::optional<absl::Time> delivered_at;
  std::optional<absl::Time> first_output_at;
  // The stream ended (the launcher, or the connection to it).
  bool stream_closed = false;
  // A cell's exit record said the session ended (its kernel exited).
  bool session_ended = false;
  // A stopped cell did not end within the interrupt's grace.
  bool interrupt_unanswered = false;
};

class AttachRun {
 public:
  static constexpr int64_t kMaxBufferedBytes = int64_t{16} << 20;

  // References must outlive the run.
  AttachRun(const ExecutionSpec& spec, OutputSink& sink,
            const Cancellation& cancel);

  // Writes `request` (BuildRequest of the spec) to the attached launcher's
  // stdin and follows the run. `wait_terminated(deadline)` gives the
  // container's state.terminated from the shared watch, for a run that
  // ended without an exit record. The stream is closed when it returns.
  //
  // A `cell` (BuildCellRequest, a session's launcher) ends at its exit
  // record and the stream stays open; one stopped (timeout, cancellation,
  // output cap) gets the interrupt byte and SandboxSession::kInterruptGrace
  // to end.
  AttachRunOutcome Run(
      AttachedStream& attached, const std::string& request,
      absl::Time clock_start,
      const std::function<std::optional<nlohmann::json>(absl::Time)>&
          wait_terminated,
      bool cell = false);

 private:
  const ExecutionSpec& spec_;
  OutputSink& sink_;
  const Cancellation& cancel_;
};

}  // namespace codeexec::kube

#endif  // CODEEXEC_SERVER_KUBE_ATTACH_RUN_H_
