#include "server/kube/object_calls.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "server/kube/objects/objects.h"

namespace codeexec::kube {

std::string LabelOf(const nlohmann::json& object, const char* label) {
  const nlohmann::json labels =
      object.value("/metadata/labels"_json_pointer, nlohmann::json::object());
  auto it = labels.find(label);
  return it != labels.end() && it->is_string() ? it->get<std::string>() : "";
}

absl::Status CreateOwnObject(RestClient& client, const std::string& resource,
                             const std::string& collection_path,
                             const nlohmann::json& object,
                             const std::string& execution_id,
                             const Cancellation* cancel) {
  KubeRequest request{.verb = "POST",
                      .path = collection_path,
                      .body = object,
                      .resource = resource,
                      .kube_verb = "create"};
  absl::StatusOr<nlohmann::json> created = client.Call(request, cancel);
  if (created.ok() || !absl::IsAlreadyExists(created.status())) {
    return created.status();
  }
  const std::string name = object["metadata"]["name"];
  KubeRequest get{.verb = "GET",
                  .path = absl::StrCat(collection_path, "/", name),
                  .body = std::nullopt,
                  .resource = resource,
                  .kube_verb = "get"};
  absl::StatusOr<nlohmann::json> existing = client.Call(get, cancel);
  if (existing.ok() && LabelOf(*existing, kExecutionIdLabel) == execution_id) {
    return absl::OkStatus();
  }
  return created.status();
}

absl::Status DeleteObjectIfExists(RestClient& client,
                                  const std::string& resource,
                                  const std::string& object_path,
                                  const std::string& propagation) {
  KubeRequest request{
      .verb = "DELETE",
      .path = absl::StrCat(object_path, "?propagationPolicy=", propagation),
      .body = nlohmann::json{{"kind", "DeleteOptions"},
                             {"apiVersion", "v1"},
                             {"propagationPolicy", propagation}},
      .resource = resource,
      .kube_verb = "delete"};
  absl::StatusOr<nlohmann::json> deleted = client.Call(request, nullptr);
  if (deleted.ok() || absl::IsNotFound(deleted.status())) {
    return absl::OkStatus();
  }
  return deleted.status();
}

}  // namespace codeexec::kube
