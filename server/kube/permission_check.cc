#include "server/kube/permission_check.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/exec/backend_names.h"
#include "server/exec/json_log.h"
#include "server/kube/client/api_paths.h"

namespace codeexec::kube {

std::string Permission::ToString() const {
  return absl::StrCat(verb, " ", resource,
                      subresource.empty() ? "" : "/" + subresource,
                      group.empty() ? "" : "." + group);
}

std::vector<Permission> RequiredPermissions(bool warm_pool) {
  std::vector<Permission> permissions{
      // One ConfigMap per run: created, read back after a retried create's
      // 409, listed by the janitor, deleted when the run ends.
      {"", "configmaps", "", "create"},
      {"", "configmaps", "", "get"},
      {"", "configmaps", "", "list"},
      {"", "configmaps", "", "delete"},
      // One Job per run, the same way.
      {"batch", "jobs", "", "create"},
      {"batch", "jobs", "", "get"},
      {"batch", "jobs", "", "list"},
      {"batch", "jobs", "", "delete"},
      // The replica's one pod watch (list, then watch).
      {"", "pods", "", "list"},
      {"", "pods", "", "watch"},
      // Following the sandbox's output.
      {"", "pods", "log", "get"},
  };
  if (warm_pool) {
    // A warm pod gets its request over a WebSocket attach: the API server
    // authorizes the GET and (Kubernetes 1.35+) the upgrade as a create.
    permissions.push_back({"", "pods", "attach", "get"});
    permissions.push_back({"", "pods", "attach", "create"});
  }
  return permissions;
}

absl::Status CheckPermissions(RestClient& client,
                              const std::string& namespace_name,
                              const std::vector<Permission>& permissions) {
  std::vector<std::string> missing;
  for (const Permission& permission : permissions) {
    nlohmann::json attributes = {{"namespace", namespace_name},
                                 {"verb", permission.verb},
                                 {"group", permission.group},
                                 {"resource", permission.resource}};
    if (!permission.subresource.empty()) {
      attributes["subresource"] = permission.subresource;
    }
    KubeRequest review{
        .verb = "POST",
        .path = kAccessReviewPath,
        .body = nlohmann::json{{"apiVersion", "authorization.k8s.io/v1"},
                               {"kind", "SelfSubjectAccessReview"},
                               {"spec", {{"resourceAttributes", attributes}}}},
        .resource = "selfsubjectaccessreviews",
        .kube_verb = "create"};
    absl::StatusOr<nlohmann::json> answer = client.Call(review, nullptr);
    if (absl::IsNotFound(answer.status())) {
      LogWarning(kKubernetesBackendName,
                 "the API server has no SelfSubjectAccessReview; RBAC not "
                 "checked at start-up");
      return absl::OkStatus();
    }
    if (!answer.ok()) {
      return absl::Status(answer.status().code(),
                          absl::StrCat("cannot check RBAC permissions: ",
                                       answer.status().message()));
    }
    if (!answer->value("/status/allowed"_json_pointer, false)) {
      missing.push_back(permission.ToString());
    }
  }
  if (missing.empty()) return absl::OkStatus();
  if (namespace_name.empty()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "missing cluster-wide RBAC permissions: ", absl::StrJoin(missing, ", "),
        " (the chart's ClusterRole for server.auth.mode token grants exactly "
        "this)"));
  }
  return absl::PermissionDeniedError(absl::StrCat(
      "missing RBAC permissions in namespace \"", namespace_name,
      "\" (kubernetes.namespace): ", absl::StrJoin(missing, ", "),
      " (the Role in k8s/rbac.yaml grants exactly what is needed)"));
}

std::vector<Permission> TokenReviewPermissions() {
  // Cluster-scoped by nature: a TokenReview has no namespace.
  return {{"authentication.k8s.io", "tokenreviews", "", "create"}};
}

}  // namespace codeexec::kube
