#include "server/kube/pod_status.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace codeexec::kube {

// Waiting reasons of a Pending container that will not go away by waiting.
bool IsHopelessWaitingReason(const std::string& reason) {
  return reason == "ErrImagePull" || reason == "ImagePullBackOff" ||
         reason == "InvalidImageName" ||
         reason == "CreateContainerConfigError" ||
         reason == "CreateContainerError" || reason == "RunContainerError";
}

const nlohmann::json& ContainerStatus(const nlohmann::json& pod) {
  static const nlohmann::json* empty =
      new nlohmann::json(nlohmann::json::object());
  if (pod.contains("status") && pod["status"].contains("containerStatuses") &&
      !pod["status"]["containerStatuses"].empty()) {
    return pod["status"]["containerStatuses"][0];
  }
  return *empty;
}

std::string PodPhase(const nlohmann::json& pod) {
  return pod.value("/status/phase"_json_pointer, std::string());
}

bool ContainerStarted(const nlohmann::json& pod) {
  const nlohmann::json& status = ContainerStatus(pod);
  return status.contains("state") && (status["state"].contains("running") ||
                                      status["state"].contains("terminated"));
}

std::optional<nlohmann::json> Terminated(const nlohmann::json& pod) {
  const nlohmann::json& status = ContainerStatus(pod);
  if (status.contains("state") && status["state"].contains("terminated")) {
    return status["state"]["terminated"];
  }
  return std::nullopt;
}

bool IsWaitingForCapacity(const std::string& pending_reason) {
  return absl::StartsWith(pending_reason, "Unschedulable:") &&
         absl::StrContains(pending_reason, "Insufficient ");
}

// Why a pod is not running yet, e.g. "ImagePullBackOff: ..." or
// "Unschedulable: 0/3 nodes are available ...".
std::string PendingReason(const nlohmann::json& pod) {
  const nlohmann::json& status = ContainerStatus(pod);
  if (status.contains("state") && status["state"].contains("waiting")) {
    const auto& waiting = status["state"]["waiting"];
    return absl::StrCat(waiting.value("reason", ""), ": ",
                        waiting.value("message", ""));
  }
  for (const auto& condition :
       pod.value("/status/conditions"_json_pointer, nlohmann::json::array())) {
    if (condition.value("status", "") == "False" &&
        !condition.value("reason", "").empty()) {
      return absl::StrCat(condition.value("reason", ""), ": ",
                          condition.value("message", ""));
    }
  }
  return "";
}

}  // namespace codeexec::kube
