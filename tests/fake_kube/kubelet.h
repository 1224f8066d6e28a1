// The fake node: schedules each pod onto one fake node, runs its single
// container (under runsc, or not at all in instant mode), keeps its log,
// reports status changes into the store, and carries out pod deletion
// (kill the container, then remove the object).
#ifndef CODEEXEC_TESTS_FAKE_KUBE_KUBELET_H_
#define CODEEXEC_TESTS_FAKE_KUBE_KUBELET_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "server/local/oci_bundle.h"
#include "server/local/runsc_cli.h"
#include "tests/fake_kube/pod_log.h"
#include "tests/fake_kube/pod_status.h"

namespace codeexec::fake_kube {

class FaultInjector;
class ObjectStore;
class RunscNode;
class TimerQueue;
struct ObjectRef;

enum class KubeletMode {
  // Each pod's container runs under gVisor (runsc) with its volumes and
  // limits. Needs root, runsc and cgroups.
  kRunsc,
  // No process: Pending -> Running -> Succeeded (or instant_exit_code) at
  // once, the log being instant_log. For control-plane benchmarks. A
  // container with stdin behaves as `launcher --wait` does from outside: it
  // runs once a whole launcher request came on its stdin (an attach), and
  // stdin's end before that is a bad request (exit 125).
  kInstant,
};

struct KubeletOptions {
  KubeletMode mode = KubeletMode::kInstant;
  // Time from pod creation to scheduling (both modes).
  absl::Duration schedule_delay = absl::ZeroDuration();
  // kInstant: the log, exit code and time spent Running. `instant_log` is
  // written when the container starts, `instant_final_log` when it ends
  // (instant_run_time later): output that arrives while it runs.
  std::string instant_log = "@ce1 x 0\n";
  std::string instant_final_log;
  int instant_exit_code = 0;
  absl::Duration instant_run_time = absl::ZeroDuration();
  // kRunsc:
  std::string runsc_path = kDefaultRunscPath;
  std::string runsc_platform = kDefaultRunscPlatform;
  // Bundles, volumes and runsc state; empty: a new directory under /tmp,
  // removed at Stop().
  std::string state_dir;
  // Each pod's limits live in cgroup <cgroup_parent>/<pod uid>.
  std::string cgroup_parent = "code-executor-fake-kubelet";
  // The pods' image: the sandbox rootfs (the same tree as the e2e images).
  std::string rootfs = kDefaultSandboxRootfs;
  // Host-side pids limit of each sandbox.
  int64_t pids_limit = 1024;
};

// What the Job controller wants to hear from the kubelet. Called without
// any kubelet lock held.
class PodLifecycleListener {
 public:
  virtual ~PodLifecycleListener() = default;
  virtual void OnPodRunning(const nlohmann::json& pod) = 0;
  // The pod reached Succeeded or Failed.
  virtual void OnPodFinished(const nlohmann::json& pod) = 0;
  // The pod object was removed from the store.
  virtual void OnPodRemoved(const nlohmann::json& pod) = 0;
};

class Kubelet {
 public:
  static absl::StatusOr<std::unique_ptr<Kubelet>> Create(KubeletOptions options,
                                                         ObjectStore& store,
                                                         FaultInjector& faults,
                                                         TimerQueue& timers);
  ~Kubelet();

  void set_listener(PodLifecycleListener* listener) { listener_ = listener; }

  // Takes a newly created pod: schedules it and starts its container.
  void StartPod(const nlohmann::json& pod);
  // Deletes a pod the way the kubelet confirms deletions: sets
  // deletionTimestamp (MODIFIED), kills its container if it runs, reports
  // the final status, then removes the object (DELETED). Returns the pod as
  // marked; NotFound if it does not exist.
  absl::StatusOr<nlohmann::json> DeletePod(const ObjectRef& pod);
  // Kills the pod's container (if it runs); the pod ends Failed with
  // status.reason `pod_reason` (e.g. DeadlineExceeded).
  void KillPod(const std::string& uid, const std::string& pod_reason,
               const std::string& pod_message);
  // The pod's log; nullptr for an unknown pod.
  std::shared_ptr<PodLog> Log(const std::string& uid) const;
  // The stdin of the pod's container; nullptr for an unknown pod or one
  // whose container has no stdin (spec.containers[0].stdin false).
  std::shared_ptr<PodStdin> Stdin(const std::string& uid) const;
  int running_containers() const;
  // Kills every container, waits for the workers, removes the state dir.
  void Stop();

 private:
  struct PodState;
  Kubelet(KubeletOptions options, ObjectStore& store, FaultInjector& faults,
          TimerQueue& timers);

  std::shared_ptr<PodState> FindPod(const std::string& uid) const;
  // Applies `mutate` to the pod's status in the store (no-op if gone).
  std::optional<nlohmann::json> UpdatePod(
      const PodState& pod, const std::function<void(nlohmann::json&)>& mutate);
  // The fault-injected Pending state, if a fault applies.
  bool ApplyPendingFault(const std::shared_ptr<PodState>& pod);
  void RunInstant(std::shared_ptr<PodState> pod);
  // kInstant: the instant log, then the end instant_run_time after
  // `program_start` (the container started at `now`).
  void RunInstantProgram(const std::shared_ptr<PodState>& pod, absl::Time now,
                         absl::Time program_start);
  // kInstant with stdin: runs the program once a whole request came.
  void WaitForInstantRequest(const std::shared_ptr<PodState>& pod,
                             absl::Time started);
  void RunWithRunsc(std::shared_ptr<PodState> pod);
  // Records the termination, tells the listener, removes a deleted pod.
  void Finish(const std::shared_ptr<PodState>& pod,
              std::optional<Termination> termination);
  // Ends a pod whose container is not a process (instant, or never
  // started): terminated with `exit_code` if it was running.
  void EndNow(const std::shared_ptr<PodState>& pod, int exit_code);
  // Removes the pod object if deletion was requested and nothing runs.
  void RemoveIfDeleted(const std::shared_ptr<PodState>& pod);
  void ReapWorkers() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const KubeletOptions options_;
  ObjectStore& store_;
  FaultInjector& faults_;
  TimerQueue& timers_;
  PodLifecycleListener* listener_ = nullptr;
  std::unique_ptr<RunscNode> runsc_;  // kRunsc only
  bool owns_state_dir_ = false;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, std::shared_ptr<PodState>> pods_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::thread> workers_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, bool> worker_done_ ABSL_GUARDED_BY(mu_);
  int running_containers_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace codeexec::fake_kube

#endif  // CODEEXEC_TESTS_FAKE_KUBE_KUBELET_H_
