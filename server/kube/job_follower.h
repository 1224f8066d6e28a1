// Following one created Job to its outcome: waits for its pod to start
// (schedule), streams the launcher's frames from the pod log (run), and
// decides the outcome from what it saw. The decision is a pure function of
// plain facts (ClassifyJobRun), like the local backend's ClassifyRun.
#ifndef CODEEXEC_SERVER_KUBE_JOB_FOLLOWER_H_
#define CODEEXEC_SERVER_KUBE_JOB_FOLLOWER_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "server/exec/backend.h"
#include "server/exec/cancellation.h"
#include "server/exec/execution_spec.h"
#include "server/exec/run_verdict.h"
#include "server/kube/client/rest_client.h"
#include "server/kube/kube_options.h"
#include "server/kube/pod_watcher.h"
#include "server/launcher/launcher_output.h"

namespace codeexec::kube {

// What was seen of one Job's run.
struct JobRunFacts {
  StopReason stop_reason = StopReason::kNone;
  // The client's reason, when stop_reason is kCancelled.
  std::string cancel_reason;
  // While the pod waited for capacity (IsWaitingForCapacity): its reason.
  std::string pending_reason;
  // The pod could not start, or its log could not be read.
  std::string sandbox_error;
  // The launcher's exit record: the program ran to its end.
  std::optional<int> exit_record;
  // The container's state.terminated ({"reason", "exitCode"}), looked up
  // only for runs that ended without an exit record.
  std::optional<nlohmann::json> terminated;
  // Log lines that were not frames.
  std::string diagnostics;
  bool output_truncated = false;
  absl::Duration timeout;
  int64_t max_output_bytes = 0;
  int64_t memory_limit_bytes = 0;
};

RunVerdict ClassifyJobRun(const JobRunFacts& facts);

class JobFollower {
 public:
  // Every reference must outlive the follower. A cancellation of
  // `client_cancel` stops the run (kCancelled, with its reason).
  JobFollower(RestClient& client, const KubernetesOptions& options,
              const ExecutionSpec& spec, OutputSink& sink,
              const Cancellation& client_cancel);
  ~JobFollower();
  JobFollower(const JobFollower&) = delete;
  JobFollower& operator=(const JobFollower&) = delete;

  // The newest state of the Job's pod (from the shared pod watch; any
  // thread, does not block).
  void OnPodState(const PodState& state);

  // Stops the run; the first reason wins. Any thread.
  void Stop(StopReason reason);

  // Cancelled once the run is stopped: for the API calls made for the run.
  const Cancellation& run_cancellation() const { return run_cancel_; }

  // Follows the Job created at `created` until its end, the run's timeout
  // (counted from `created`) or Stop; fills outcome, message, exit code,
  // output files and the schedule/start/run timings of `result`. An API
  // refusal mid-run (RBAC, credentials) is the returned error.
  absl::Status Follow(absl::Time created, ExecutionResult& result);

 private:
  // Waits until version_ moves past `seen` or `deadline`; the newest state.
  std::optional<PodState> WaitForPod(int& seen, absl::Time deadline);
  std::optional<nlohmann::json> WaitForStart(absl::Time created);
  absl::Status FollowLog(const std::string& pod_name, absl::Time started,
                         ExecutionResult& result);
  bool WaitForRoom();
  std::optional<nlohmann::json> WaitForTermination();
  StopReason stop_reason() const;

  RestClient& client_;
  const KubernetesOptions& options_;
  const ExecutionSpec& spec_;
  OutputSink& sink_;
  LauncherOutput output_;
  const Cancellation& client_cancel_;
  Cancellation run_cancel_;
  Cancellation::CallbackId forward_;
  Cancellation::CallbackId wake_;
  absl::Time run_deadline_ = absl::InfiniteFuture();
  std::string sandbox_error_;
  // Set while the pod waits for capacity (IsWaitingForCapacity).
  std::string pending_reason_;

  mutable absl::Mutex mu_;
  StopReason stop_reason_ ABSL_GUARDED_BY(mu_) = StopReason::kNone;
  std::optional<PodState> latest_ ABSL_GUARDED_BY(mu_);
  int version_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace codeexec::kube

#endif  // CODEEXEC_SERVER_KUBE_JOB_FOLLOWER_H_
