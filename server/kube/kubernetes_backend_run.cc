// KubernetesBackend::Run: one execution from ConfigMap to cleanup.
#include <string>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "server/kube/client/api_paths.h"
#include "server/kube/job_follower.h"
#include "server/kube/kubernetes_backend.h"

namespace codeexec::kube {
namespace {

ExecutionResult Fail(Outcome outcome, std::string message) {
  ExecutionResult result;
  result.outcome = outcome;
  result.message = std::move(message);
  return result;
}

// API failures that are the service's, not the program's, end the call with
// their status (PERMISSION_DENIED names the verb and resource); others are
// the run's SANDBOX_ERROR.
absl::StatusOr<ExecutionResult> ApiFailure(absl::Status status,
                                           const Cancellation& cancel,
                                           absl::string_view doing) {
  if (cancel.IsCancelled() || absl::IsCancelled(status)) {
    return Fail(Outcome::kCancelled, cancel.Reason());
  }
  const std::string message = absl::StrCat(doing, ": ", status.message());
  if (absl::IsPermissionDenied(status) || absl::IsUnavailable(status) ||
      absl::IsUnauthenticated(status) || absl::IsResourceExhausted(status)) {
    return absl::Status(status.code(), message);
  }
  return Fail(Outcome::kSandboxError, message);
}

}  // namespace

absl::StatusOr<ExecutionResult> KubernetesBackend::Run(
    const ExecutionSpec& spec, OutputSink& sink, const Cancellation& cancel) {
  if (std::optional<absl::StatusOr<ExecutionResult>> warm =
          RunWarm(spec, sink, cancel)) {
    return *std::move(warm);
  }
  return RunCold(spec, sink, cancel);
}

absl::StatusOr<ExecutionResult> KubernetesBackend::RunCold(
    const ExecutionSpec& spec, OutputSink& sink, const Cancellation& cancel) {
  const std::string& id = spec.execution_id;
  const std::string& ns = options_.namespace_name;
  const absl::Time begin = absl::Now();
  absl::StatusOr<nlohmann::json> configmap = BuildConfigMap(spec, context_);
  if (!configmap.ok()) {
    return Fail(Outcome::kSandboxError,
                std::string(configmap.status().message()));
  }
  const nlohmann::json job = BuildJob(spec, context_);

  // Stops on the client's cancellation, the timeout or the output cap.
  JobFollower follower(*client_, options_, spec, sink, cancel);
  const Cancellation& run_cancel = follower.run_cancellation();
  const int subscription = watcher_->Subscribe(
      id, [&follower](const PodState& state) { follower.OnPodState(state); });
  {
    absl::MutexLock lock(&live_mu_);
    live_executions_.insert(id);
  }
  ExecutionResult result;
  absl::Time cleanup_start;
  absl::Cleanup cleanup = [&] {
    watcher_->Unsubscribe(subscription);
    cleanup_start = absl::Now();
    DeleteExecutionObjects(id);
    absl::MutexLock lock(&live_mu_);
    live_executions_.erase(id);
  };

  // Every path ends here: cleanup (timed), then the result, or the service
  // failure carrying the phases the run got through.
  auto finish = [&](absl::StatusOr<ExecutionResult> ended) {
    if (result.timings.create == absl::ZeroDuration()) {
      result.timings.create = absl::Now() - begin;  // failed while creating
    }
    std::move(cleanup).Invoke();
    result.timings.cleanup = absl::Now() - cleanup_start;
    if (!ended.ok()) {
      return absl::StatusOr<ExecutionResult>(
          WithPhaseTimings(ended.status(), result.timings));
    }
    ended->timings = result.timings;
    return ended;
  };

  // Create: ConfigMap, then the Job that mounts it.
  if (absl::Status s =
          CreateObject("configmaps", CollectionPath(ns, "configmaps"),
                       *configmap, id, &run_cancel);
      !s.ok()) {
    return finish(ApiFailure(s, run_cancel, "creating the ConfigMap"));
  }
  if (absl::Status s = CreateObject("jobs", CollectionPath(ns, "jobs"), job, id,
                                    &run_cancel);
      !s.ok()) {
    return finish(ApiFailure(s, run_cancel, "creating the Job"));
  }
  const absl::Time created = absl::Now();
  result.timings.create = created - begin;
  const absl::Status refused = follower.Follow(created, result);
  if (!refused.ok()) return finish(refused);
  return finish(result);
}

}  // namespace codeexec::kube
