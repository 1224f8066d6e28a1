// How the fake kubelet runs a pod's container: a scripted instant run, or
// the real thing under runsc (RunscContainer), with the faults a test asked
// for applied first.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "server/launcher/request_format.h"
#include "tests/fake_kube/fault_injector.h"
#include "tests/fake_kube/kube_json.h"
#include "tests/fake_kube/kubelet.h"
#include "tests/fake_kube/kubelet_pod_state.h"
#include "tests/fake_kube/pod_status.h"
#include "tests/fake_kube/runsc_node.h"
#include "tests/fake_kube/timer_queue.h"

namespace codeexec::fake_kube {
namespace {

uint32_t U32At(absl::string_view data, size_t at) {
  uint32_t value = 0;
  for (int i = 3; i >= 0; --i) {
    value = (value << 8) | static_cast<unsigned char>(data[at + i]);
  }
  return value;
}

// Whether `data` holds a whole launcher request to run (request_format.h):
// primer bytes, the header, as many body bytes as it says — after any
// number of PRESTART requests, which `launcher --wait` does not run.
bool LauncherRequestComplete(absl::string_view data) {
  while (true) {
    while (!data.empty() && data.front() == CE_REQ_PRIMER) {
      data.remove_prefix(1);
    }
    if (data.size() < CE_REQ_HEADER_BYTES) return false;
    const uint32_t body = U32At(data, 8);
    if (data.size() - CE_REQ_HEADER_BYTES < body) return false;
    bool prestart = false;
    for (size_t at = CE_REQ_HEADER_BYTES;
         at + CE_REQ_RECORD_HEADER_BYTES <= CE_REQ_HEADER_BYTES + body;) {
      prestart = prestart || U32At(data, at) == CE_TAG_PRESTART;
      at += CE_REQ_RECORD_HEADER_BYTES + U32At(data, at + 4);
    }
    if (!prestart) return true;
    data.remove_prefix(CE_REQ_HEADER_BYTES + body);
  }
}

using json = nlohmann::json;

// How often a pod whose ConfigMap is not there yet looks again.
constexpr absl::Duration kConfigMapRetry = absl::Milliseconds(500);
// The kubelet's message when activeDeadlineSeconds ends a pod.
constexpr char kDeadlineMessage[] =
    "Pod was active on the node longer than the specified deadline";

}  // namespace

bool Kubelet::ApplyPendingFault(const std::shared_ptr<PodState>& pod) {
  std::optional<PendingFault> fault =
      faults_.PendingFaultFor(JsonAt(pod->pod, {"metadata", "labels"}));
  if (!fault.has_value()) return false;
  UpdatePod(*pod, [&](json& object) {
    const absl::Time now = absl::Now();
    if (fault->unschedulable) {
      MarkUnschedulable(object, fault->message, now);
    } else {
      MarkScheduled(object, now);
      MarkContainerWaiting(object, fault->reason, fault->message, now);
    }
  });
  absl::MutexLock lock(&mu_);
  pod->active = false;  // nothing will ever run
  return true;
}

void Kubelet::RunInstant(std::shared_ptr<PodState> pod) {
  bool cancelled;
  {
    absl::MutexLock lock(&mu_);
    if (pod->finished) return;
    cancelled = pod->deletion_requested || !pod->kill_reason.empty();
  }
  if (cancelled) return Finish(pod, std::nullopt);
  const absl::Time now = absl::Now();
  UpdatePod(*pod, [&](json& object) { MarkScheduled(object, now); });
  UpdatePod(*pod, [&](json& object) {
    MarkContainerWaiting(object, "ContainerCreating", "", now);
  });
  if (pod->input == nullptr) pod->log->Append(options_.instant_log);
  std::optional<json> running =
      UpdatePod(*pod, [&](json& object) { MarkContainerRunning(object, now); });
  if (running.has_value() && listener_ != nullptr) {
    listener_->OnPodRunning(*running);
  }
  if (pod->input != nullptr) return WaitForInstantRequest(pod, now);
  RunInstantProgram(pod, now, now);
}

void Kubelet::WaitForInstantRequest(const std::shared_ptr<PodState>& pod,
                                    absl::Time started) {
  struct Received {
    absl::Mutex mu;
    std::string data ABSL_GUARDED_BY(mu);
    bool decided ABSL_GUARDED_BY(mu) = false;
  };
  auto received = std::make_shared<Received>();
  // Called by each attach write and at stdin's end; never with mu_ held.
  pod->input->set_on_change([this, pod, received, started] {
    enum { kWait, kRun, kBadRequest } next = kWait;
    {
      absl::MutexLock lock(&received->mu);
      if (received->decided) return;
      const bool closed = pod->input->TakeInto(&received->data);
      if (LauncherRequestComplete(received->data)) {
        next = kRun;
      } else if (closed) {
        next = kBadRequest;
      }
      received->decided = next != kWait;
    }
    if (next == kRun) {
      pod->log->Append(options_.instant_log);
      RunInstantProgram(pod, started, absl::Now());
    } else if (next == kBadRequest) {
      {
        absl::MutexLock lock(&mu_);
        if (pod->finished) return;  // closed because the pod ended
      }
      pod->log->Append("launcher: truncated header\n", PodStream::kStderr);
      Termination end;
      end.exit_code = CE_EXIT_BAD_REQUEST;
      end.reason = "Error";
      end.started = started;
      end.finished = absl::Now();
      Finish(pod, end);
    }
  });
}

void Kubelet::RunInstantProgram(const std::shared_ptr<PodState>& pod,
                                absl::Time now, absl::Time program_start) {
  auto complete = [this, pod, now] {
    {
      absl::MutexLock lock(&mu_);
      if (pod->finished) return;  // killed or deleted first
    }
    pod->log->Append(options_.instant_final_log);
    Termination end;
    end.exit_code = options_.instant_exit_code;
    end.reason = end.exit_code == 0 ? "Completed" : "Error";
    end.started = now;
    end.finished = absl::Now();
    Finish(pod, end);
  };
  if (options_.instant_run_time > absl::ZeroDuration()) {
    timers_.Schedule(program_start + options_.instant_run_time, complete);
  } else {
    complete();
  }
}

void Kubelet::RunWithRunsc(std::shared_ptr<PodState> pod) {
  if (pod->WaitForKill(options_.schedule_delay)) {
    return Finish(pod, std::nullopt);
  }
  UpdatePod(*pod, [&](json& object) { MarkScheduled(object, absl::Now()); });
  std::optional<json> current = UpdatePod(*pod, [&](json& object) {
    MarkContainerWaiting(object, "ContainerCreating", "", absl::Now());
  });
  if (!current.has_value()) return Finish(pod, std::nullopt);
  RunscContainer container(*runsc_, pod->ref.uid);
  while (true) {
    absl::Status prepared = container.Prepare(*current, store_);
    if (prepared.ok()) break;
    const bool retry = absl::IsNotFound(prepared);
    const std::string reason =
        retry ? "ContainerCreating" : "CreateContainerConfigError";
    const json& waiting = JsonAt(
        *current, {"status", "containerStatuses"})[0]["state"]["waiting"];
    if (waiting.value("reason", "") != reason ||
        waiting.value("message", "") != prepared.message()) {
      current = UpdatePod(*pod, [&](json& object) {
        MarkContainerWaiting(object, reason, std::string(prepared.message()),
                             absl::Now());
      });
      if (!current.has_value()) return Finish(pod, std::nullopt);
    }
    if (pod->WaitForKill(retry ? kConfigMapRetry : absl::InfiniteDuration())) {
      container.CleanUp();
      return Finish(pod, std::nullopt);
    }
  }
  if (absl::Status started = container.Start(pod->input); !started.ok()) {
    container.CleanUp();
    Termination end;
    end.exit_code = 128;
    end.reason = "StartError";
    end.message = std::string(started.message());
    end.started = end.finished = absl::Now();
    return Finish(pod, end);
  }
  {
    absl::MutexLock lock(&mu_);
    ++running_containers_;
  }
  const absl::Time started = absl::Now();
  std::optional<json> running = UpdatePod(
      *pod, [&](json& object) { MarkContainerRunning(object, started); });
  if (running.has_value() && listener_ != nullptr) {
    listener_->OnPodRunning(*running);
  }
  const json& deadline_seconds =
      JsonAt(pod->pod, {"spec", "activeDeadlineSeconds"});
  const absl::Time deadline =
      deadline_seconds.is_number()
          ? started + absl::Seconds(deadline_seconds.get<int64_t>())
          : absl::InfiniteFuture();
  const RunscContainer::Ending ending =
      container.Wait(*pod->log, pod->kill_fd.get(), deadline);
  Termination end = container.Result();  // reads the cgroup: before CleanUp
  container.CleanUp();
  {
    absl::MutexLock lock(&mu_);
    --running_containers_;
    if (ending == RunscContainer::Ending::kDeadline) {
      pod->kill_reason = "DeadlineExceeded";
      pod->kill_message = kDeadlineMessage;
    }
  }
  Finish(pod, std::move(end));
}

}  // namespace codeexec::fake_kube
