// Reading a Pod object's status (JSON from the API server or the watch).
#ifndef CODEEXEC_SERVER_KUBE_POD_STATUS_H_
#define CODEEXEC_SERVER_KUBE_POD_STATUS_H_

#include <optional>
#include <string>

#include "nlohmann/json.hpp"

namespace codeexec::kube {

// Waiting reasons of a Pending container that will not go away by waiting
// (ErrImagePull, ImagePullBackOff, CreateContainerConfigError, ...).
bool IsHopelessWaitingReason(const std::string& reason);

// A PendingReason saying the pod waits for capacity ("Unschedulable: 0/3
// nodes are available: 3 Insufficient cpu."): backpressure that ends when
// pods finish or a cluster autoscaler adds a node, not a broken pod.
bool IsWaitingForCapacity(const std::string& pending_reason);

// status.containerStatuses[0], or an empty object.
const nlohmann::json& ContainerStatus(const nlohmann::json& pod);
// status.phase ("Pending", "Running", "Succeeded", "Failed"), or "".
std::string PodPhase(const nlohmann::json& pod);
// The container is running or has terminated.
bool ContainerStarted(const nlohmann::json& pod);
// state.terminated of the container, if it has terminated.
std::optional<nlohmann::json> Terminated(const nlohmann::json& pod);
// Why a pod is not running yet, e.g. "ImagePullBackOff: <message>" or
// "Unschedulable: 0/3 nodes are available: ..."; "" if nothing says.
std::string PendingReason(const nlohmann::json& pod);

}  // namespace codeexec::kube

#endif  // CODEEXEC_SERVER_KUBE_POD_STATUS_H_
