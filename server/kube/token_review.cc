#include "server/kube/token_review.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "server/kube/permission_check.h"

namespace codeexec::kube {
namespace {

constexpr absl::Duration kReviewAttemptTimeout = absl::Seconds(5);
constexpr int kReviewAttempts = 3;

}  // namespace

absl::StatusOr<TokenReviewStatus> ReviewToken(RestClient& client,
                                              const std::string& token,
                                              const std::string& audience,
                                              const Cancellation* cancel) {
  KubeRequest review{
      .verb = "POST",
      .path = "/apis/authentication.k8s.io/v1/tokenreviews",
      .body =
          nlohmann::json{{"apiVersion", "authentication.k8s.io/v1"},
                         {"kind", "TokenReview"},
                         {"spec",
                          {{"token", token},
                           {"audiences", nlohmann::json::array({audience})}}}},
      .resource = "tokenreviews",
      .kube_verb = "create"};
  absl::StatusOr<nlohmann::json> answer = client.Call(review, cancel);
  if (!answer.ok()) return answer.status();
  TokenReviewStatus status;
  try {
    const nlohmann::json& body = answer->at("status");
    status.authenticated = body.value("authenticated", false);
    status.error = body.value("error", "");
    if (body.contains("user")) {
      status.username = body.at("user").value("username", "");
    }
    if (body.contains("audiences")) {
      status.audiences = body.at("audiences").get<std::vector<std::string>>();
    }
  } catch (const nlohmann::json::exception& e) {
    return absl::InternalError(
        absl::StrCat("unexpected TokenReview answer: ", e.what()));
  }
  return status;
}

absl::StatusOr<std::unique_ptr<RestClient>> ConnectForTokenReviews(
    const KubernetesOptions& options,
    std::shared_ptr<prometheus::Registry> registry) {
  absl::StatusOr<ClusterConnection> connection =
      ResolveClusterConnection(options, ConnectionEnvironment::FromProcess());
  if (!connection.ok()) {
    return absl::Status(
        connection.status().code(),
        absl::StrCat("server.auth.mode token checks tokens with the "
                     "Kubernetes API, which is not reachable: ",
                     connection.status().message()));
  }
  // A caller waits for its review: fewer, shorter attempts than the
  // backend's, so an API server outage is UNAVAILABLE within seconds.
  RestClientOptions client_options;
  client_options.qps = options.qps;
  client_options.burst = options.burst;
  client_options.request_timeout =
      std::min(options.request_timeout, kReviewAttemptTimeout);
  client_options.max_attempts = kReviewAttempts;
  absl::StatusOr<std::unique_ptr<RestClient>> client = RestClient::Create(
      *std::move(connection), client_options, std::move(registry));
  if (!client.ok()) return client.status();
  if (absl::Status allowed =
          CheckPermissions(**client, "", TokenReviewPermissions());
      !allowed.ok()) {
    return allowed;
  }
  return client;
}

}  // namespace codeexec::kube
