// The pod objects the fake Job controller creates, and the status changes
// the fake scheduler and kubelet make to them, in kube's JSON shapes.
#ifndef CODEEXEC_TESTS_FAKE_KUBE_POD_STATUS_H_
#define CODEEXEC_TESTS_FAKE_KUBE_POD_STATUS_H_

#include <string>

#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace codeexec::fake_kube {

inline constexpr char kFakeNodeName[] = "fake-node-1";

// A new pod for `job` (stored, with uid): name `<job>-<5 chars>` (the
// caller's store fills it from generateName), the template's labels plus
// job-name / controller-uid (and their batch.kubernetes.io/ forms), an
// ownerReference to the Job with controller true, the template's spec with
// the defaults the apiserver applies, and status Pending.
nlohmann::json PodForJob(const nlohmann::json& job);

// Name of the pod's (first and only) container.
std::string ContainerName(const nlohmann::json& pod);
// "waiting", "running", "terminated", or "" before the kubelet reported.
std::string ContainerStateName(const nlohmann::json& pod);
// status.containerStatuses[0].state.waiting.reason, or "".
std::string WaitingReason(const nlohmann::json& pod);
bool PodFinished(const nlohmann::json& pod);  // Succeeded or Failed

// The scheduler bound the pod: spec.nodeName, PodScheduled True.
void MarkScheduled(nlohmann::json& pod, absl::Time now);
// The scheduler cannot place it: PodScheduled False, reason Unschedulable.
void MarkUnschedulable(nlohmann::json& pod, const std::string& message,
                       absl::Time now);
// The kubelet took it: Pending, hostIP/podIP/startTime, the container
// waiting for `reason` (ContainerCreating, ErrImagePull, ...).
void MarkContainerWaiting(nlohmann::json& pod, const std::string& reason,
                          const std::string& message, absl::Time now);
void MarkContainerRunning(nlohmann::json& pod, absl::Time started);

struct Termination {
  int exit_code = 0;
  std::string reason;  // Completed, Error, OOMKilled, StartError
  std::string message;
  absl::Time started;
  absl::Time finished;
  // status.reason / status.message of the pod (e.g. DeadlineExceeded).
  std::string pod_reason;
  std::string pod_message;
};
// The container ended: phase Succeeded (exit 0) or Failed, terminated state,
// Ready False with reason PodCompleted / PodFailed.
void MarkContainerTerminated(nlohmann::json& pod, const Termination& end);

}  // namespace codeexec::fake_kube

#endif  // CODEEXEC_TESTS_FAKE_KUBE_POD_STATUS_H_
