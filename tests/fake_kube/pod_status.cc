#include "tests/fake_kube/pod_status.h"

#include <atomic>
#include <cstdint>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/exec/quantity.h"
#include "tests/fake_kube/kube_json.h"

namespace codeexec::fake_kube {
namespace {

using json = nlohmann::json;

json& ContainerStatus(json& pod) {
  json& statuses = pod["status"]["containerStatuses"];
  if (!statuses.is_array() || statuses.empty()) {
    const json& container = pod["spec"]["containers"][0];
    statuses = json::array({{{"name", ContainerName(pod)},
                             {"state", json::object()},
                             {"lastState", json::object()},
                             {"ready", false},
                             {"restartCount", 0},
                             {"image", container.value("image", "")},
                             {"imageID", ""},
                             {"started", false}}});
  }
  return statuses[0];
}

void SetCondition(json& pod, const std::string& type, bool status,
                  absl::Time now, const std::string& reason = "",
                  const std::string& message = "") {
  json& conditions = pod["status"]["conditions"];
  if (!conditions.is_array()) conditions = json::array();
  json condition = {{"type", type},
                    {"status", status ? "True" : "False"},
                    {"lastProbeTime", nullptr},
                    {"lastTransitionTime", FormatKubeTime(now)}};
  if (!reason.empty()) condition["reason"] = reason;
  if (!message.empty()) condition["message"] = message;
  for (json& existing : conditions) {
    if (existing.value("type", "") != type) continue;
    if (existing.value("status", "") == condition["status"]) {
      condition["lastTransitionTime"] = existing["lastTransitionTime"];
    }
    existing = std::move(condition);
    return;
  }
  conditions.push_back(std::move(condition));
}

// Requests default to limits; Guaranteed when cpu and memory requests equal
// limits, BestEffort when nothing is set, Burstable otherwise.
std::string DefaultResourcesAndQos(json& container) {
  json& resources = container["resources"];
  if (!resources.is_object()) resources = json::object();
  if (resources.contains("limits")) {
    for (auto& [name, limit] : resources["limits"].items()) {
      if (!resources["requests"].contains(name)) {
        resources["requests"][name] = limit;
      }
    }
  }
  if (!resources.contains("limits") && !resources.contains("requests")) {
    return "BestEffort";
  }
  for (const char* name : {"cpu", "memory"}) {
    if (!resources.contains("limits") || !resources["limits"].contains(name)) {
      return "Burstable";
    }
    const std::string limit = QuantityText(resources["limits"][name]);
    const std::string request = QuantityText(resources["requests"][name]);
    const bool cpu = std::string(name) == "cpu";
    if ((cpu ? ParseCpuMillis(limit) : ParseBytes(limit)).value_or(-1) !=
        (cpu ? ParseCpuMillis(request) : ParseBytes(request)).value_or(-2)) {
      return "Burstable";
    }
  }
  return "Guaranteed";
}

}  // namespace

json PodForJob(const json& job) {
  const json& pod_template = JsonAt(job, {"spec", "template"});
  json metadata = pod_template.value("metadata", json::object());
  const std::string job_name = MetadataString(job, "name");
  metadata.erase("name");
  metadata["generateName"] = job_name + "-";
  metadata["annotations"]["batch.kubernetes.io/job-tracking"] = "";
  metadata["ownerReferences"] =
      json::array({{{"apiVersion", "batch/v1"},
                    {"kind", "Job"},
                    {"name", job_name},
                    {"uid", MetadataString(job, "uid")},
                    {"controller", true},
                    {"blockOwnerDeletion", true}}});
  json spec = pod_template.value("spec", json::object());
  const json defaults = {{"dnsPolicy", "ClusterFirst"},
                         {"schedulerName", "default-scheduler"},
                         {"terminationGracePeriodSeconds", 30},
                         {"securityContext", json::object()},
                         {"serviceAccountName", "default"},
                         {"enableServiceLinks", true},
                         {"priority", 0},
                         {"preemptionPolicy", "PreemptLowerPriority"}};
  for (const auto& [key, value] : defaults.items()) {
    if (!spec.contains(key)) spec[key] = value;
  }
  spec["serviceAccount"] = spec["serviceAccountName"];
  if (!spec["tolerations"].is_array()) spec["tolerations"] = json::array();
  for (const char* taint :
       {"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"}) {
    spec["tolerations"].push_back({{"key", taint},
                                   {"operator", "Exists"},
                                   {"effect", "NoExecute"},
                                   {"tolerationSeconds", 300}});
  }
  std::string qos = "BestEffort";
  for (json& container : spec["containers"]) {
    const std::string image = container.value("image", "");
    if (!container.contains("imagePullPolicy")) {
      container["imagePullPolicy"] =
          absl::StrContains(image.substr(image.rfind('/') + 1), ':') &&
                  !absl::EndsWith(image, ":latest")
              ? "IfNotPresent"
              : "Always";
    }
    if (!container.contains("terminationMessagePath")) {
      container["terminationMessagePath"] = "/dev/termination-log";
    }
    if (!container.contains("terminationMessagePolicy")) {
      container["terminationMessagePolicy"] = "File";
    }
    qos = DefaultResourcesAndQos(container);
  }
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", std::move(metadata)},
          {"spec", std::move(spec)},
          {"status", {{"phase", "Pending"}, {"qosClass", qos}}}};
}

std::string ContainerName(const json& pod) {
  const json& containers = JsonAt(pod, {"spec", "containers"});
  if (!containers.is_array() || containers.empty()) return "";
  return containers[0].value("name", "");
}

std::string ContainerStateName(const json& pod) {
  const json& statuses = JsonAt(pod, {"status", "containerStatuses"});
  if (!statuses.is_array() || statuses.empty()) return "";
  const json& state = JsonAt(statuses[0], {"state"});
  for (const char* name : {"terminated", "running", "waiting"}) {
    if (state.is_object() && state.contains(name)) return name;
  }
  return "";
}

std::string WaitingReason(const json& pod) {
  if (ContainerStateName(pod) != "waiting") return "";
  return JsonAt(pod, {"status", "containerStatuses"})[0]["state"]["waiting"]
      .value("reason", "");
}

bool PodFinished(const json& pod) {
  const json& phase_value = JsonAt(pod, {"status", "phase"});
  const std::string phase =
      phase_value.is_string() ? phase_value.get<std::string>() : "";
  return phase == "Succeeded" || phase == "Failed";
}

void MarkScheduled(json& pod, absl::Time now) {
  pod["spec"]["nodeName"] = kFakeNodeName;
  SetCondition(pod, "PodScheduled", true, now);
}

void MarkUnschedulable(json& pod, const std::string& message, absl::Time now) {
  SetCondition(pod, "PodScheduled", false, now, "Unschedulable", message);
}

void MarkContainerWaiting(json& pod, const std::string& reason,
                          const std::string& message, absl::Time now) {
  json& status = pod["status"];
  status["phase"] = "Pending";
  status["hostIP"] = "10.0.0.11";
  status["hostIPs"] = json::array({{{"ip", "10.0.0.11"}}});
  if (!status.contains("podIP")) {
    static std::atomic<int> next_pod_ip{0};
    status["podIP"] = absl::StrCat("10.244.", next_pod_ip / 250 % 250, ".",
                                   2 + next_pod_ip++ % 250);
    status["podIPs"] = json::array({{{"ip", status["podIP"]}}});
    status["startTime"] = FormatKubeTime(now);
  }
  SetCondition(pod, "PodReadyToStartContainers", true, now);
  SetCondition(pod, "Initialized", true, now);
  SetCondition(pod, "Ready", false, now, "ContainersNotReady",
               absl::StrCat("containers with unready status: [",
                            ContainerName(pod), "]"));
  SetCondition(pod, "ContainersReady", false, now, "ContainersNotReady",
               absl::StrCat("containers with unready status: [",
                            ContainerName(pod), "]"));
  json waiting = {{"reason", reason}};
  if (!message.empty()) waiting["message"] = message;
  ContainerStatus(pod)["state"] = {{"waiting", std::move(waiting)}};
}

void MarkContainerRunning(json& pod, absl::Time started) {
  pod["status"]["phase"] = "Running";
  json& container = ContainerStatus(pod);
  container["state"] = {{"running", {{"startedAt", FormatKubeTime(started)}}}};
  container["ready"] = true;
  container["started"] = true;
  container["containerID"] = absl::StrCat("containerd://", RandomHex(64));
  container["imageID"] =
      absl::StrCat(container.value("image", ""), "@sha256:", RandomHex(64));
  SetCondition(pod, "Ready", true, started);
  SetCondition(pod, "ContainersReady", true, started);
}

void MarkContainerTerminated(json& pod, const Termination& end) {
  json& status = pod["status"];
  const bool succeeded = end.exit_code == 0 && end.pod_reason.empty();
  status["phase"] = succeeded ? "Succeeded" : "Failed";
  if (!end.pod_reason.empty()) status["reason"] = end.pod_reason;
  if (!end.pod_message.empty()) status["message"] = end.pod_message;
  json& container = ContainerStatus(pod);
  json terminated = {{"exitCode", end.exit_code},
                     {"reason", end.reason},
                     {"startedAt", FormatKubeTime(end.started)},
                     {"finishedAt", FormatKubeTime(end.finished)}};
  if (!end.message.empty()) terminated["message"] = end.message;
  if (!container.contains("containerID")) {
    container["containerID"] = absl::StrCat("containerd://", RandomHex(64));
  }
  terminated["containerID"] = container["containerID"];
  container["state"] = {{"terminated", std::move(terminated)}};
  container["ready"] = false;
  container["started"] = false;
  const char* reason = succeeded ? "PodCompleted" : "PodFailed";
  SetCondition(pod, "PodReadyToStartContainers", false, end.finished);
  SetCondition(pod, "Ready", false, end.finished, reason);
  SetCondition(pod, "ContainersReady", false, end.finished, reason);
}

}  // namespace codeexec::fake_kube
