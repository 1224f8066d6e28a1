// The API server paths of the resources this service uses, built in one
// place: the API group of each resource is written here and nowhere else.
#ifndef CODEEXEC_SERVER_KUBE_CLIENT_API_PATHS_H_
#define CODEEXEC_SERVER_KUBE_CLIENT_API_PATHS_H_

#include <string>

#include "absl/strings/string_view.h"

namespace codeexec::kube {

// The API group path of a resource of ours: "/apis/batch/v1" for "jobs",
// "/api/v1" for "configmaps" and "pods".
std::string ApiGroupPath(absl::string_view resource);

// "/api/v1/namespaces/<ns>/configmaps", ".../jobs", ".../pods".
std::string CollectionPath(absl::string_view namespace_name,
                           absl::string_view resource);

// CollectionPath + "/<name>".
std::string ObjectPath(absl::string_view namespace_name,
                       absl::string_view resource, absl::string_view name);

// "/api/v1/namespaces/<ns>/pods/<pod>/log" (the caller adds the query).
std::string PodLogPath(absl::string_view namespace_name,
                       absl::string_view pod_name);

// SelfSubjectAccessReview, cluster-scoped.
inline constexpr char kAccessReviewPath[] =
    "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";

}  // namespace codeexec::kube

#endif  // CODEEXEC_SERVER_KUBE_CLIENT_API_PATHS_H_
