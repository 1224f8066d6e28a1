#include "server/kube/client/api_paths.h"

#include "absl/strings/str_cat.h"

namespace codeexec::kube {

std::string ApiGroupPath(absl::string_view resource) {
  return resource == "jobs" ? "/apis/batch/v1" : "/api/v1";
}

std::string CollectionPath(absl::string_view namespace_name,
                           absl::string_view resource) {
  return absl::StrCat(ApiGroupPath(resource), "/namespaces/", namespace_name,
                      "/", resource);
}

std::string ObjectPath(absl::string_view namespace_name,
                       absl::string_view resource, absl::string_view name) {
  return absl::StrCat(CollectionPath(namespace_name, resource), "/", name);
}

std::string PodLogPath(absl::string_view namespace_name,
                       absl::string_view pod_name) {
  return absl::StrCat(ObjectPath(namespace_name, "pods", pod_name), "/log");
}

}  // namespace codeexec::kube
