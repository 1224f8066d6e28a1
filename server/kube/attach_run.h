// One run in a claimed warm pod: the request goes to the waiting launcher
// over the pod's attach subresource (ContainerStream), the launcher's frames
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
#include <functional>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "server/exec/backend.h"
#include "server/exec/cancellation.h"
#include "server/exec/execution_spec.h"
#include "server/kube/client/rest_client.h"

namespace codeexec::kube {

struct AttachRunOutcome {
  // False: the stream could not be opened, so nothing reached a program
  // (open_error says why); the caller may run the spec cold instead.
  bool delivered = false;
  absl::Status open_error;
  // When delivered: outcome, exit code, message, files; timings.run.
  ExecutionResult result;
  // When the request was written, and when the first stdout frame came.
  std::optional<absl::Time> delivered_at;
  std::optional<absl::Time> first_output_at;
};

class AttachRun {
 public:
  static constexpr int64_t kMaxBufferedBytes = int64_t{16} << 20;

  // References must outlive the run.
  AttachRun(RestClient& client, const ExecutionSpec& spec, OutputSink& sink,
            const Cancellation& cancel);

  // Attaches to `pod` (container kSandboxContainerName) in `namespace_name`,
  // writes `request` (BuildRequest of the spec) to its stdin and follows the
  // run. `wait_terminated(deadline)` gives the container's state.terminated
  // from the shared watch, for a run that ended without an exit record.
  AttachRunOutcome Run(
      const std::string& namespace_name, const std::string& pod,
      const std::string& request, absl::Time clock_start,
      const std::function<std::optional<nlohmann::json>(absl::Time)>&
          wait_terminated);

 private:
  RestClient& client_;
  const ExecutionSpec& spec_;
  OutputSink& sink_;
  const Cancellation& cancel_;
};

}  // namespace codeexec::kube

#endif  // CODEEXEC_SERVER_KUBE_ATTACH_RUN_H_
