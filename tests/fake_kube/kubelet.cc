#include "tests/fake_kube/kubelet.h"

#include <poll.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/base/child_process.h"
#include "server/exec/json_log.h"
#include "server/local/fs_util.h"
#include "server/local/state_dir.h"
#include "tests/fake_kube/fault_injector.h"
#include "tests/fake_kube/kubelet_pod_state.h"
#include "tests/fake_kube/object_store.h"
#include "tests/fake_kube/runsc_node.h"
#include "tests/fake_kube/timer_queue.h"

namespace codeexec::fake_kube {

using json = nlohmann::json;

absl::StatusOr<std::unique_ptr<Kubelet>> Kubelet::Create(KubeletOptions options,
                                                         ObjectStore& store,
                                                         FaultInjector& faults,
                                                         TimerQueue& timers) {
  std::unique_ptr<Kubelet> kubelet(new Kubelet(options, store, faults, timers));
  if (options.mode == KubeletMode::kRunsc) {
    std::string state_dir = options.state_dir;
    if (state_dir.empty()) {
      char pattern[] = "/tmp/fake-kubelet-XXXXXX";
      if (mkdtemp(pattern) == nullptr) {
        return ErrnoError(errno, "creating the fake kubelet's state dir");
      }
      state_dir = pattern;
      kubelet->owns_state_dir_ = true;
    }
    absl::StatusOr<std::unique_ptr<RunscNode>> node =
        RunscNode::Create(options, state_dir);
    if (!node.ok()) {
      if (kubelet->owns_state_dir_) (void)RemoveTree(state_dir);
      return node.status();
    }
    kubelet->runsc_ = *std::move(node);
  }
  return kubelet;
}

Kubelet::Kubelet(KubeletOptions options, ObjectStore& store,
                 FaultInjector& faults, TimerQueue& timers)
    : options_(std::move(options)),
      store_(store),
      faults_(faults),
      timers_(timers) {}

Kubelet::~Kubelet() { Stop(); }

std::shared_ptr<Kubelet::PodState> Kubelet::FindPod(
    const std::string& uid) const {
  absl::MutexLock lock(&mu_);
  auto it = pods_.find(uid);
  return it == pods_.end() ? nullptr : it->second;
}

std::shared_ptr<PodLog> Kubelet::Log(const std::string& uid) const {
  std::shared_ptr<PodState> pod = FindPod(uid);
  return pod == nullptr ? nullptr : pod->log;
}

std::shared_ptr<PodStdin> Kubelet::Stdin(const std::string& uid) const {
  std::shared_ptr<PodState> pod = FindPod(uid);
  return pod == nullptr ? nullptr : pod->input;
}

int Kubelet::running_containers() const {
  absl::MutexLock lock(&mu_);
  return running_containers_;
}

std::optional<json> Kubelet::UpdatePod(
    const PodState& pod, const std::function<void(json&)>& mutate) {
  absl::StatusOr<json> updated = store_.Update(pod.ref, [&](json& object) {
    mutate(object);
    return true;
  });
  if (!updated.ok()) return std::nullopt;
  return *std::move(updated);
}

void Kubelet::StartPod(const json& pod) {
  auto state = std::make_shared<PodState>();
  state->ref = {&kPods, MetadataString(pod, "namespace"),
                MetadataString(pod, "name"), MetadataString(pod, "uid")};
  state->pod = pod;
  state->kill_fd = UniqueFd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  const json& containers = JsonAt(pod, {"spec", "containers"});
  if (containers.is_array() && !containers.empty() &&
      containers[0].contains("stdin") && containers[0]["stdin"] == true) {
    state->input = std::make_shared<PodStdin>();
  }
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    ReapWorkers();
    pods_[state->ref.uid] = state;
    state->active = true;
  }
  if (ApplyPendingFault(state)) return;
  if (options_.mode == KubeletMode::kInstant) {
    timers_.Schedule(absl::Now() + options_.schedule_delay,
                     [this, state] { RunInstant(state); });
    return;
  }
  absl::MutexLock lock(&mu_);
  workers_[state->ref.uid] = std::thread([this, state] {
    RunWithRunsc(state);
    absl::MutexLock done_lock(&mu_);
    worker_done_[state->ref.uid] = true;
  });
}

void Kubelet::Finish(const std::shared_ptr<PodState>& pod,
                     std::optional<Termination> termination) {
  std::string kill_reason;
  std::string kill_message;
  {
    absl::MutexLock lock(&mu_);
    if (pod->finished) return;
    pod->finished = true;
    kill_reason = pod->kill_reason;
    kill_message = pod->kill_message;
  }
  pod->log->Finish();
  if (pod->input != nullptr) {
    pod->input->Close();
    pod->input->set_on_change(nullptr);  // it holds `pod`: no cycle
  }
  std::optional<json> updated;
  if (termination.has_value()) {
    termination->pod_reason = kill_reason;
    termination->pod_message = kill_message;
    updated = UpdatePod(*pod, [&](json& object) {
      MarkContainerTerminated(object, *termination);
    });
  } else if (!kill_reason.empty()) {
    // Killed before its container started.
    updated = UpdatePod(*pod, [&](json& object) {
      object["status"]["phase"] = "Failed";
      object["status"]["reason"] = kill_reason;
      object["status"]["message"] = kill_message;
    });
  }
  if (updated.has_value() && listener_ != nullptr && PodFinished(*updated)) {
    listener_->OnPodFinished(*updated);
  }
  {
    absl::MutexLock lock(&mu_);
    pod->active = false;
  }
  RemoveIfDeleted(pod);
}

void Kubelet::RemoveIfDeleted(const std::shared_ptr<PodState>& pod) {
  {
    absl::MutexLock lock(&mu_);
    if (!pod->deletion_requested || pod->active || pod->removed) return;
    pod->removed = true;
    pods_.erase(pod->ref.uid);
  }
  pod->log->Finish();
  absl::StatusOr<json> removed = store_.Remove(pod->ref);
  if (removed.ok() && listener_ != nullptr) listener_->OnPodRemoved(*removed);
}

absl::StatusOr<json> Kubelet::DeletePod(const ObjectRef& ref) {
  absl::StatusOr<json> marked = store_.Update(ref, [](json& object) {
    json& metadata = object["metadata"];
    if (metadata.contains("deletionTimestamp")) return false;
    metadata["deletionTimestamp"] = FormatKubeTime(absl::Now());
    metadata["deletionGracePeriodSeconds"] =
        JsonAt(object, {"spec", "terminationGracePeriodSeconds"}).is_number()
            ? object["spec"]["terminationGracePeriodSeconds"]
            : json(30);
    return true;
  });
  if (!marked.ok()) return marked.status();
  std::shared_ptr<PodState> pod = FindPod(MetadataString(*marked, "uid"));
  if (pod == nullptr) {
    // Not (or no longer) on the node: nothing to stop.
    absl::StatusOr<json> removed = store_.Remove(
        {&kPods, ref.ns, ref.name, MetadataString(*marked, "uid")});
    if (removed.ok() && listener_ != nullptr) listener_->OnPodRemoved(*removed);
    return marked;
  }
  bool kill_instant = false;
  {
    absl::MutexLock lock(&mu_);
    pod->deletion_requested = true;
    if (pod->active) pod->SignalKill();
    kill_instant =
        options_.mode == KubeletMode::kInstant && pod->active && !pod->finished;
  }
  // A running instant container dies at once, as if by the kubelet's
  // SIGTERM (no grace period).
  if (kill_instant) EndNow(pod, 143);
  RemoveIfDeleted(pod);
  return marked;
}

void Kubelet::KillPod(const std::string& uid, const std::string& pod_reason,
                      const std::string& pod_message) {
  std::shared_ptr<PodState> pod = FindPod(uid);
  if (pod == nullptr) return;
  bool finish_now = false;
  {
    absl::MutexLock lock(&mu_);
    if (pod->finished) return;
    pod->kill_reason = pod_reason;
    pod->kill_message = pod_message;
    pod->SignalKill();
    // Nothing runs (stuck Pending) or an instant pod: end it here.
    finish_now = !pod->active || options_.mode == KubeletMode::kInstant;
  }
  if (finish_now) EndNow(pod, 137);
}

void Kubelet::EndNow(const std::shared_ptr<PodState>& pod, int exit_code) {
  std::optional<Termination> end;
  if (ContainerStateName(store_.Get(pod->ref).value_or(json())) == "running") {
    end = Termination{exit_code, "Error", "", absl::Now(), absl::Now(), "", ""};
  }
  Finish(pod, end);
}

void Kubelet::ReapWorkers() {
  for (auto it = worker_done_.begin(); it != worker_done_.end();) {
    auto worker = workers_.find(it->first);
    if (worker != workers_.end()) {
      worker->second.join();
      workers_.erase(worker);
    }
    it = worker_done_.erase(it);
  }
}

void Kubelet::Stop() {
  std::map<std::string, std::thread> workers;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
    for (auto& [uid, pod] : pods_) pod->SignalKill();
    workers.swap(workers_);
  }
  for (auto& [uid, worker] : workers) worker.join();
  {
    absl::MutexLock lock(&mu_);
    worker_done_.clear();
    for (auto& [uid, pod] : pods_) pod->log->Finish();
  }
  if (runsc_ != nullptr) {
    // runsc's shared empty network namespace, pinned by the first sandbox.
    absl::Status released =
        StateDir(runsc_->state_dir()).ReleaseRunscNullNetns();
    if (!released.ok()) LogWarning("fake-kubelet", released.message());
  }
  if (runsc_ != nullptr && owns_state_dir_) {
    absl::Status removed = RemoveTree(runsc_->state_dir());
    if (!removed.ok()) LogWarning("fake-kubelet", removed.message());
  }
}

}  // namespace codeexec::fake_kube
