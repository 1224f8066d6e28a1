// The API server's verdict on a bearer token (TokenReview), for
// server.auth.mode token: the one place that speaks that API.
#ifndef CODEEXEC_SERVER_KUBE_TOKEN_REVIEW_H_
#define CODEEXEC_SERVER_KUBE_TOKEN_REVIEW_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "prometheus/registry.h"
#include "server/exec/cancellation.h"
#include "server/kube/client/rest_client.h"
#include "server/kube/kube_options.h"

namespace codeexec::kube {

struct TokenReviewStatus {
  bool authenticated = false;
  // status.user.username, e.g. "system:serviceaccount:team-a:agent".
  std::string username;
  // status.audiences: those of the asked ones the token is valid for.
  std::vector<std::string> audiences;
  // status.error, when not authenticated.
  std::string error;
};

// POSTs a TokenReview of `token` for `audience`. An error only when the API
// server gave no verdict (unreachable, 403 without the ClusterRole, ...).
absl::StatusOr<TokenReviewStatus> ReviewToken(RestClient& client,
                                              const std::string& token,
                                              const std::string& audience,
                                              const Cancellation* cancel);

// A client for TokenReviews on the connection `options` resolve to (the
// kubernetes backend's: in-cluster or a kubeconfig), whose create of
// tokenreviews was checked (TokenReviewPermissions). `registry` may be null.
absl::StatusOr<std::unique_ptr<RestClient>> ConnectForTokenReviews(
    const KubernetesOptions& options,
    std::shared_ptr<prometheus::Registry> registry);

}  // namespace codeexec::kube

#endif  // CODEEXEC_SERVER_KUBE_TOKEN_REVIEW_H_
