// CheckPermissions against a loopback HTTP server answering
// SelfSubjectAccessReviews the way kube-apiserver does.
#include "server/kube/permission_check.h"

#include <mutex>
#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/kube/client/rest_client_test_server.h"

namespace codeexec::kube {
namespace {

using ::testing::HasSubstr;
using testing::TestConnection;
using testing::TestHttpServer;
using testing::TestRequest;

std::unique_ptr<RestClient> MakeClient(const std::string& server) {
  ClusterConnection connection;
  connection.server = server;
  connection.description = "test";
  RestClientOptions options;
  options.initial_backoff = absl::Milliseconds(10);
  auto client = RestClient::Create(connection, options, nullptr);
  EXPECT_TRUE(client.ok()) << client.status();
  return *std::move(client);
}

// Allows everything except `denied` ("verb resource[/sub]"), recording the
// reviews it was asked.
class ReviewServer {
 public:
  explicit ReviewServer(std::set<std::string> denied)
      : denied_(std::move(denied)),
        http_([this](const TestRequest& request, TestConnection& c) {
          nlohmann::json review = nlohmann::json::parse(request.body);
          const auto& attributes = review["spec"]["resourceAttributes"];
          std::string key = attributes.value("verb", "") + " " +
                            attributes.value("resource", "");
          if (attributes.contains("subresource")) {
            key += "/" + attributes["subresource"].get<std::string>();
          }
          {
            std::lock_guard<std::mutex> lock(mu_);
            asked_.push_back({request.target, review});
          }
          review["status"] = {{"allowed", !denied_.contains(key)}};
          c.Respond(201, review.dump());
        }) {}
  std::string url() const { return http_.url(); }
  std::vector<std::pair<std::string, nlohmann::json>> asked() {
    std::lock_guard<std::mutex> lock(mu_);
    return asked_;
  }

 private:
  const std::set<std::string> denied_;
  std::mutex mu_;
  std::vector<std::pair<std::string, nlohmann::json>> asked_;
  TestHttpServer http_;
};

TEST(PermissionCheckTest, AllAllowedIsOkAndAsksEachOnceInTheNamespace) {
  ReviewServer server({});
  auto client = MakeClient(server.url());
  EXPECT_TRUE(CheckPermissions(*client, "ns1", RequiredPermissions()).ok());
  const auto asked = server.asked();
  ASSERT_EQ(asked.size(), RequiredPermissions().size());
  EXPECT_EQ(asked[0].first,
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews");
  EXPECT_EQ(asked[0].second["kind"], "SelfSubjectAccessReview");
  for (const auto& [target, review] : asked) {
    EXPECT_EQ(review["spec"]["resourceAttributes"]["namespace"], "ns1");
  }
}

TEST(PermissionCheckTest, NamesEveryMissingVerb) {
  ReviewServer server({"watch pods", "get pods/log", "delete jobs"});
  auto client = MakeClient(server.url());
  absl::Status checked =
      CheckPermissions(*client, "ns1", RequiredPermissions());
  EXPECT_EQ(checked.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(checked.message(), HasSubstr("\"ns1\""));
  EXPECT_THAT(checked.message(), HasSubstr("watch pods"));
  EXPECT_THAT(checked.message(), HasSubstr("get pods/log"));
  EXPECT_THAT(checked.message(), HasSubstr("delete jobs.batch"));
  EXPECT_THAT(checked.message(), ::testing::Not(HasSubstr("create jobs")));
}

TEST(PermissionCheckTest, ServerWithoutTheAuthorizationApiIsNotChecked) {
  TestHttpServer server([](const TestRequest&, TestConnection& c) {
    c.Respond(404, R"({"kind":"Status","code":404,"reason":"NotFound"})");
  });
  auto client = MakeClient(server.url());
  EXPECT_TRUE(CheckPermissions(*client, "ns1", RequiredPermissions()).ok());
}

TEST(PermissionCheckTest, ExactlyTheChartsRole) {
  std::set<std::string> required;
  for (const Permission& p : RequiredPermissions()) {
    required.insert(p.ToString());
  }
  EXPECT_EQ(required,
            (std::set<std::string>{"create configmaps", "get configmaps",
                                   "list configmaps", "delete configmaps",
                                   "create jobs.batch", "get jobs.batch",
                                   "list jobs.batch", "delete jobs.batch",
                                   "list pods", "watch pods", "get pods/log"}));
}

}  // namespace
}  // namespace codeexec::kube
