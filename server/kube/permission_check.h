// What the kubernetes backend may do in its namespace, asked of the API server
// at start-up (SelfSubjectAccessReview, which every authenticated user may
// create): a missing RBAC verb stops the server at once, naming every missing
// one, instead of surfacing later as failed runs or leaked objects.
#ifndef CODEEXEC_SERVER_KUBE_PERMISSION_CHECK_H_
#define CODEEXEC_SERVER_KUBE_PERMISSION_CHECK_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "server/kube/client/rest_client.h"

namespace codeexec::kube {

struct Permission {
  std::string group;  // "" = core
  std::string resource;
  std::string subresource;  // "" or e.g. "log"
  std::string verb;
  // e.g. "create jobs.batch", "get pods/log" (kubectl's spelling).
  std::string ToString() const;
};

// Exactly the Role in charts/code-executor/templates/rbac.yaml: every verb
// the backend uses, and nothing else; with `warm_pool`, also what a claim
// of a warm pod needs (get and create on pods/attach), which the chart adds
// when kubernetes.warmPool.size > 0.
std::vector<Permission> RequiredPermissions(bool warm_pool = false);

// What server.auth.mode token needs, cluster-wide (TokenReview is not
// namespaced): exactly the chart's ClusterRole.
std::vector<Permission> TokenReviewPermissions();

// OK when the client may do all of `permissions` in `namespace_name` (""
// = cluster-wide);
// PermissionDenied listing each missing one otherwise. An API server without
// the authorization API (404, e.g. a test fake) is not checked: OK.
absl::Status CheckPermissions(RestClient& client,
                              const std::string& namespace_name,
                              const std::vector<Permission>& permissions);

}  // namespace codeexec::kube

#endif  // CODEEXEC_SERVER_KUBE_PERMISSION_CHECK_H_
