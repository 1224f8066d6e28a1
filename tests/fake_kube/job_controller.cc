#include "tests/fake_kube/job_controller.h"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "absl/time/clock.h"
#include "tests/fake_kube/garbage_collector.h"
#include "tests/fake_kube/kube_json.h"
#include "tests/fake_kube/pod_status.h"
#include "tests/fake_kube/timer_queue.h"

namespace codeexec::fake_kube {
namespace {

using json = nlohmann::json;

bool JobFinished(const json& job) {
  const json& conditions = JsonAt(job, {"status", "conditions"});
  if (!conditions.is_array()) return false;
  return std::any_of(conditions.begin(), conditions.end(), [](const json& c) {
    const std::string type = c.value("type", "");
    return (type == "Complete" || type == "Failed") &&
           c.value("status", "") == "True";
  });
}

void AddCondition(json& job, const std::string& type, const std::string& reason,
                  const std::string& message, absl::Time now) {
  json condition = {{"type", type},
                    {"status", "True"},
                    {"lastProbeTime", FormatKubeTime(now)},
                    {"lastTransitionTime", FormatKubeTime(now)}};
  if (!reason.empty()) condition["reason"] = reason;
  if (!message.empty()) condition["message"] = message;
  json& conditions = job["status"]["conditions"];
  if (!conditions.is_array()) conditions = json::array();
  conditions.push_back(std::move(condition));
}

void FailJob(json& job, const std::string& reason, const std::string& message,
             absl::Time now) {
  AddCondition(job, "FailureTarget", reason, message, now);
  AddCondition(job, "Failed", reason, message, now);
}

int64_t StatusCount(const json& job, const char* field) {
  const json& value = JsonAt(job, {"status", field});
  return value.is_number() ? value.get<int64_t>() : 0;
}

json DeletedStatus(const json& object, const ResourceKind& kind) {
  json details = {{"name", MetadataString(object, "name")}};
  if (*kind.group != '\0') details["group"] = kind.group;
  details["kind"] = kind.plural;
  details["uid"] = MetadataString(object, "uid");
  return {{"kind", "Status"},
          {"apiVersion", "v1"},
          {"metadata", json::object()},
          {"status", "Success"},
          {"details", std::move(details)}};
}

}  // namespace

ObjectRef JobController::OwnerJob(const json& pod) {
  const json& owners = JsonAt(pod, {"metadata", "ownerReferences"});
  if (owners.is_array()) {
    for (const json& owner : owners) {
      if (owner.value("kind", "") == "Job" &&
          owner.value("controller", false)) {
        return {&kJobs, MetadataString(pod, "namespace"),
                owner.value("name", ""), owner.value("uid", "")};
      }
    }
  }
  return {nullptr, "", "", ""};
}

std::vector<json> JobController::OwnedPods(const std::string& ns,
                                           const std::string& job_uid) const {
  std::vector<json> owned;
  for (json& pod : store_.List(kPods, ns, LabelSelector()).items) {
    if (OwnerJob(pod).uid == job_uid) owned.push_back(std::move(pod));
  }
  return owned;
}

void JobController::CreatePod(const json& job) {
  json pod = PodForJob(job);
  pod["metadata"]["generation"] = 1;
  absl::StatusOr<json> created =
      store_.Create(kPods, MetadataString(job, "namespace"), std::move(pod));
  if (created.ok()) kubelet_.StartPod(*created);
}

void JobController::OnJobCreated(const json& job) {
  const ObjectRef ref = {&kJobs, MetadataString(job, "namespace"),
                         MetadataString(job, "name"),
                         MetadataString(job, "uid")};
  const absl::Time now = absl::Now();
  absl::StatusOr<json> started = store_.Update(ref, [&](json& object) {
    object["status"] = {{"startTime", FormatKubeTime(now)},
                        {"active", 1},
                        {"ready", 0},
                        {"terminating", 0},
                        {"uncountedTerminatedPods", json::object()}};
    return true;
  });
  if (!started.ok()) return;
  const json& deadline = JsonAt(job, {"spec", "activeDeadlineSeconds"});
  if (deadline.is_number()) {
    timers_.Schedule(now + absl::Seconds(deadline.get<int64_t>()),
                     [this, ref] { EnforceDeadline(ref); });
  }
  CreatePod(*started);
}

void JobController::OnPodRunning(const json& pod) {
  const ObjectRef job = OwnerJob(pod);
  if (job.kind == nullptr) return;
  (void)store_.Update(job, [](json& object) {
    if (JobFinished(object) || StatusCount(object, "ready") == 1) return false;
    object["status"]["ready"] = 1;
    return true;
  });
}

void JobController::OnPodFinished(const json& pod) {
  const ObjectRef job = OwnerJob(pod);
  if (job.kind == nullptr) return;
  {
    absl::MutexLock lock(&mu_);
    if (!accounted_pods_.insert(MetadataString(pod, "uid")).second) return;
  }
  const bool succeeded = JsonAt(pod, {"status", "phase"}) == "Succeeded";
  const absl::Time now = absl::Now();
  bool retry = false;
  absl::StatusOr<json> updated = store_.Update(job, [&](json& object) {
    if (JobFinished(object)) return false;
    json& status = object["status"];
    status["active"] = std::max<int64_t>(0, StatusCount(object, "active") - 1);
    status["ready"] = 0;
    if (succeeded) {
      status["succeeded"] = StatusCount(object, "succeeded") + 1;
      const json& completions = JsonAt(object, {"spec", "completions"});
      if (status["succeeded"].get<int64_t>() >=
          (completions.is_number() ? completions.get<int64_t>() : 1)) {
        AddCondition(object, "SuccessCriteriaMet", "CompletionsReached",
                     "Reached expected number of succeeded pods", now);
        AddCondition(object, "Complete", "CompletionsReached",
                     "Reached expected number of succeeded pods", now);
        status["completionTime"] = FormatKubeTime(now);
      }
      return true;
    }
    status["failed"] = StatusCount(object, "failed") + 1;
    const json& backoff_limit = JsonAt(object, {"spec", "backoffLimit"});
    if (status["failed"].get<int64_t>() >
        (backoff_limit.is_number() ? backoff_limit.get<int64_t>() : 6)) {
      FailJob(object, "BackoffLimitExceeded",
              "Job has reached the specified backoff limit", now);
    } else {
      retry = true;
      status["active"] = StatusCount(object, "active") + 1;
    }
    return true;
  });
  if (!updated.ok()) return;
  if (retry) CreatePod(*updated);
  if (JobFinished(*updated)) ScheduleTtl(*updated);
}

void JobController::EnforceDeadline(const ObjectRef& job) {
  absl::StatusOr<json> current = store_.Get(job);
  if (!current.ok() || JobFinished(*current)) return;
  std::vector<json> active;
  for (json& pod : OwnedPods(job.ns, job.uid)) {
    if (PodFinished(pod)) continue;
    absl::MutexLock lock(&mu_);
    if (accounted_pods_.insert(MetadataString(pod, "uid")).second) {
      active.push_back(std::move(pod));
    }
  }
  const absl::Time now = absl::Now();
  absl::StatusOr<json> failed = store_.Update(job, [&](json& object) {
    if (JobFinished(object)) return false;
    json& status = object["status"];
    status["failed"] =
        StatusCount(object, "failed") + static_cast<int64_t>(active.size());
    status["active"] = 0;
    status["ready"] = 0;
    FailJob(object, "DeadlineExceeded",
            "Job was active longer than specified deadline", now);
    return true;
  });
  for (const json& pod : active) {
    kubelet_.KillPod(MetadataString(pod, "uid"), "DeadlineExceeded",
                     "Pod was active on the node longer than the specified "
                     "deadline");
    (void)kubelet_.DeletePod({&kPods, job.ns, MetadataString(pod, "name"),
                              MetadataString(pod, "uid")});
  }
  if (failed.ok()) ScheduleTtl(*failed);
}

void JobController::ScheduleTtl(const json& job) {
  const json& ttl = JsonAt(job, {"spec", "ttlSecondsAfterFinished"});
  if (!ttl.is_number()) return;
  const ObjectRef ref = {&kJobs, MetadataString(job, "namespace"),
                         MetadataString(job, "name"),
                         MetadataString(job, "uid")};
  timers_.Schedule(absl::Now() + absl::Seconds(ttl.get<int64_t>()),
                   [this, ref] { (void)DeleteJob(ref, "Background"); });
}

absl::StatusOr<json> JobController::DeleteJob(const ObjectRef& job,
                                              const std::string& propagation) {
  absl::StatusOr<json> current = store_.Get(job);
  if (!current.ok()) return current.status();
  const std::string uid = MetadataString(*current, "uid");
  const ObjectRef exact = {&kJobs, job.ns, job.name, uid};
  std::vector<json> pods = OwnedPods(job.ns, uid);
  if (propagation == "Foreground") {
    absl::StatusOr<json> marked = store_.Update(exact, [](json& object) {
      json& metadata = object["metadata"];
      if (metadata.contains("deletionTimestamp")) return false;
      metadata["deletionTimestamp"] = FormatKubeTime(absl::Now());
      metadata["deletionGracePeriodSeconds"] = 0;
      metadata["finalizers"].push_back("foregroundDeletion");
      return true;
    });
    if (!marked.ok()) return marked.status();
    for (const json& pod : pods) {
      (void)kubelet_.DeletePod({&kPods, job.ns, MetadataString(pod, "name"),
                                MetadataString(pod, "uid")});
    }
    FinishForegroundDeletion(exact);
    return marked;
  }
  if (propagation != "Background") {
    // Orphan: the dependents stay, without their reference to the Job.
    gc_.OrphanDependents(job.ns, uid);
  }
  absl::StatusOr<json> removed = store_.Remove(exact);
  if (!removed.ok()) return removed.status();
  if (propagation == "Background") {
    for (const json& pod : pods) {
      (void)kubelet_.DeletePod({&kPods, job.ns, MetadataString(pod, "name"),
                                MetadataString(pod, "uid")});
    }
  }
  return DeletedStatus(*removed, kJobs);
}

void JobController::OnPodRemoved(const json& pod) {
  const ObjectRef job = OwnerJob(pod);
  if (job.kind != nullptr) FinishForegroundDeletion(job);
}

void JobController::FinishForegroundDeletion(const ObjectRef& job) {
  absl::StatusOr<json> current = store_.Get(job);
  if (!current.ok() ||
      !JsonAt(*current, {"metadata", "deletionTimestamp"}).is_string()) {
    return;
  }
  if (!OwnedPods(job.ns, job.uid).empty()) return;
  (void)store_.Remove(job);
}

}  // namespace codeexec::fake_kube
