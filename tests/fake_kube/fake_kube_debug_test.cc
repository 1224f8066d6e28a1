// The fake's debug endpoints: request counts by audit verb and resource,
// watches, objects, per namespace; reset; never counted themselves.
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fake_kube/fake_kube_apiserver.h"
#include "tests/fake_kube/fake_kube_test_client.h"

namespace codeexec::fake_kube {
namespace {

using json = nlohmann::json;
using ::codeexec::fake_kube::testing::ConfigMapBody;
using ::codeexec::fake_kube::testing::JobBody;
using ::codeexec::fake_kube::testing::kConfigMaps;
using ::codeexec::fake_kube::testing::kJobs;
using ::codeexec::fake_kube::testing::WaitUntil;
using ::testing::UnorderedElementsAre;

class FakeKubeDebugTest : public testing::FakeKubeTest {};

json Entry(const std::string& verb, const std::string& resource,
           int64_t count) {
  return {{"verb", verb}, {"resource", resource}, {"count", count}};
}

TEST_F(FakeKubeDebugTest, RequestsWatchesAndObjectsByNamespace) {
  ASSERT_EQ(client_->Post(kConfigMaps, ConfigMapBody("c", {}, {})).code, 201);
  ASSERT_EQ(client_
                ->Post("/api/v1/namespaces/ns2/configmaps",
                       ConfigMapBody("c", {}, {}))
                .code,
            201);
  ASSERT_EQ(client_
                ->Patch(absl::StrCat(kConfigMaps, "/c"),
                        "application/merge-patch+json",
                        {{"metadata", {{"labels", {{"a", "b"}}}}}})
                .code,
            200);
  ASSERT_EQ(
      client_->Post(kJobs, JobBody({.name = "j", .command = {"true"}})).code,
      201);
  ASSERT_TRUE(
      WaitUntil([&] { return !server_->ObjectNames("pods", "ns1").empty(); }));
  client_->Stream(absl::StrCat(kJobs, "?watch=true&timeoutSeconds=1"))
      ->WaitForEnd(absl::Seconds(5));
  client_->Get(absl::StrCat(kConfigMaps, "/missing"));

  auto stats = client_->Get("/debug/fake/requests");
  ASSERT_EQ(stats.code, 200) << stats.text;
  EXPECT_THAT(stats.body["requests"],
              UnorderedElementsAre(
                  Entry("create", "configmaps", 2),
                  Entry("patch", "configmaps", 1), Entry("create", "jobs", 1),
                  Entry("watch", "jobs", 1), Entry("get", "configmaps", 1)));
  EXPECT_THAT(stats.body["requests_by_namespace"]["ns2"],
              UnorderedElementsAre(Entry("create", "configmaps", 1)));
  EXPECT_EQ(stats.body["watches_opened"], 1);
  EXPECT_EQ(stats.body["patch_content_types"],
            json({{"application/merge-patch+json", 1}}));
  EXPECT_EQ(stats.body["response_codes"]["404"], 1);
  EXPECT_EQ(stats.body["objects"],
            json({{"configmaps", 2}, {"jobs", 1}, {"pods", 1}}));
  EXPECT_EQ(stats.body["objects_by_namespace"]["ns2"],
            json({{"configmaps", 1}, {"jobs", 0}, {"pods", 0}}));

  auto ns1 = client_->Get("/debug/fake/requests?namespace=ns1");
  EXPECT_EQ(ns1.body["objects"],
            json({{"configmaps", 1}, {"jobs", 1}, {"pods", 1}}));
  EXPECT_THAT(ns1.body["requests"],
              ::testing::Contains(Entry("create", "configmaps", 1)));
  // The debug requests themselves are not counted.
  EXPECT_EQ(server_->RequestLog().size(), 6u);

  auto reset = client_->Send("POST", "/debug/fake/reset", "");
  EXPECT_EQ(reset.code, 200);
  auto after = client_->Get("/debug/fake/requests");
  EXPECT_EQ(after.body["requests"], json::array());
  EXPECT_EQ(after.body["watches_opened"], 0);
  EXPECT_EQ(after.body["objects"]["jobs"], 1);  // objects stay
  EXPECT_EQ(client_->Get("/debug/fake/nope").code, 404);
}

TEST_F(FakeKubeDebugTest, NeedsNoTokenWhenTheApiDoes) {
  FakeKubeOptions options;
  options.required_bearer_token = "secret";
  StartServer(options);
  EXPECT_EQ(client_->Get(kConfigMaps).code, 401);
  auto stats = client_->Get("/debug/fake/requests");
  EXPECT_EQ(stats.code, 200);
  EXPECT_THAT(stats.body["requests"],
              UnorderedElementsAre(Entry("list", "configmaps", 1)));
  EXPECT_EQ(stats.body["response_codes"]["401"], 1);
}

}  // namespace
}  // namespace codeexec::fake_kube
