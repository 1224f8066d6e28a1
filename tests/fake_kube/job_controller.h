// The fake kube-controller-manager, as far as Jobs go: the Job controller
// (one pod per Job at a time, status counters and conditions, backoffLimit
// retries, activeDeadlineSeconds), the TTL-after-finished controller, and
// the garbage collector's handling of a Job's pods when the Job is deleted
// (propagationPolicy Orphan / Background / Foreground).
#ifndef CODEEXEC_TESTS_FAKE_KUBE_JOB_CONTROLLER_H_
#define CODEEXEC_TESTS_FAKE_KUBE_JOB_CONTROLLER_H_

#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"
#include "tests/fake_kube/kubelet.h"
#include "tests/fake_kube/object_store.h"

namespace codeexec::fake_kube {

class GarbageCollector;
class TimerQueue;

class JobController : public PodLifecycleListener {
 public:
  JobController(ObjectStore& store, Kubelet& kubelet, TimerQueue& timers,
                GarbageCollector& gc)
      : store_(store), kubelet_(kubelet), timers_(timers), gc_(gc) {}

  // A Job was stored: create its pod, set status.startTime/active, arm its
  // activeDeadlineSeconds.
  void OnJobCreated(const nlohmann::json& job);
  // Deletes a Job. `propagation` is Orphan (also when empty: the batch/v1
  // default: its dependents lose their reference to it first), Background
  // (its pods are deleted now, other dependents by the garbage collector)
  // or Foreground. Returns the response body: a
  // success Status, or (Foreground) the Job marked for deletion.
  absl::StatusOr<nlohmann::json> DeleteJob(const ObjectRef& job,
                                           const std::string& propagation);

  void OnPodRunning(const nlohmann::json& pod) override;
  void OnPodFinished(const nlohmann::json& pod) override;
  void OnPodRemoved(const nlohmann::json& pod) override;

 private:
  // The Job that controls `pod` (uid set); kind null if none.
  static ObjectRef OwnerJob(const nlohmann::json& pod);
  std::vector<nlohmann::json> OwnedPods(const std::string& ns,
                                        const std::string& job_uid) const;
  void CreatePod(const nlohmann::json& job);
  void EnforceDeadline(const ObjectRef& job);
  void ScheduleTtl(const nlohmann::json& job);
  // Removes a Foreground-deleted Job once its pods are gone.
  void FinishForegroundDeletion(const ObjectRef& job);

  ObjectStore& store_;
  Kubelet& kubelet_;
  TimerQueue& timers_;
  GarbageCollector& gc_;
  absl::Mutex mu_;
  // Pods whose end the Job's status already counts.
  std::set<std::string> accounted_pods_ ABSL_GUARDED_BY(mu_);
};

}  // namespace codeexec::fake_kube

#endif  // CODEEXEC_TESTS_FAKE_KUBE_JOB_CONTROLLER_H_
