// Watch streams of the fake apiserver: event order, resume from a
// resourceVersion, 410 Expired, bookmarks, timeoutSeconds; and the request
// counters.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
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
using ::codeexec::fake_kube::testing::kPods;
using ::codeexec::fake_kube::testing::TestClient;
using ::codeexec::fake_kube::testing::WaitUntil;

int64_t Rv(const json& event) {
  int64_t rv = 0;
  EXPECT_TRUE(absl::SimpleAtoi(
      event["object"]["metadata"]["resourceVersion"].get<std::string>(), &rv));
  return rv;
}

std::vector<std::string> Types(const std::vector<json>& events) {
  std::vector<std::string> types;
  for (const json& event : events) types.push_back(event["type"]);
  return types;
}

class FakeKubeWatchTest : public testing::FakeKubeTest {
 protected:
};

TEST_F(FakeKubeWatchTest, SeesAPodsLifeInOrderAndResumesFromAVersion) {
  const int64_t start_rv = server_->resource_version();
  auto watch = client_->Stream(absl::StrCat(
      kPods, "?watch=1&labelSelector=app%3Dw&resourceVersion=", start_rv));
  ASSERT_EQ(client_
                ->Post(kJobs, JobBody({.name = "w",
                                       .labels = {{"app", "w"}},
                                       .command = {"true"}}))
                .code,
            201);
  ASSERT_TRUE(WaitUntil([&] {
    return server_->GetObject("jobs", "ns1", "w")
        .value()["status"]
        .contains("completionTime");
  }));
  ASSERT_EQ(
      client_->Delete(absl::StrCat(kJobs, "/w?propagationPolicy=Background"))
          .code,
      200);
  ASSERT_TRUE(WaitUntil([&] {
    auto events = watch->JsonLines();
    return !events.empty() && events.back()["type"] == "DELETED";
  }));
  std::vector<json> events = watch->JsonLines();
  ASSERT_GE(events.size(), 4u);
  EXPECT_EQ(events.front()["type"], "ADDED");
  EXPECT_EQ(events.front()["object"]["status"]["phase"], "Pending");
  EXPECT_EQ(events.front()["object"]["kind"], "Pod");
  std::vector<std::string> phases;
  for (size_t i = 1; i < events.size(); ++i) {
    EXPECT_GT(Rv(events[i]), Rv(events[i - 1]));
    if (events[i]["type"] == "MODIFIED") {
      phases.push_back(events[i]["object"]["status"]["phase"]);
    }
  }
  EXPECT_THAT(phases, ::testing::Contains("Running"));
  EXPECT_EQ(phases.back(), "Succeeded");  // then deletionTimestamp set

  // Resuming from the second event replays exactly what followed it.
  auto resumed = client_->Stream(absl::StrCat(
      kPods,
      "?watch=true&labelSelector=app%3Dw&resourceVersion=", Rv(events[1])));
  ASSERT_TRUE(resumed->WaitForLines(events.size() - 2, absl::Seconds(5)));
  std::vector<json> replayed = resumed->JsonLines();
  ASSERT_EQ(replayed.size(), events.size() - 2);
  for (size_t i = 0; i < replayed.size(); ++i) {
    EXPECT_EQ(replayed[i], events[i + 2]);
  }
}

TEST_F(FakeKubeWatchTest, WithoutAVersionStartsWithAddedForExistingObjects) {
  ASSERT_EQ(
      client_->Post(kConfigMaps, ConfigMapBody("a", {{"x", "1"}}, {})).code,
      201);
  ASSERT_EQ(
      client_->Post(kConfigMaps, ConfigMapBody("b", {{"x", "2"}}, {})).code,
      201);
  auto watch =
      client_->Stream(absl::StrCat(kConfigMaps, "?watch=1&labelSelector=x"));
  ASSERT_TRUE(watch->WaitForLines(2, absl::Seconds(5)));
  ASSERT_EQ(client_->Delete(absl::StrCat(kConfigMaps, "/a")).code, 200);
  ASSERT_TRUE(watch->WaitForLines(3, absl::Seconds(5)));
  std::vector<json> events = watch->JsonLines();
  EXPECT_THAT(Types(events),
              ::testing::ElementsAre("ADDED", "ADDED", "DELETED"));
  EXPECT_EQ(events[2]["object"]["metadata"]["name"], "a");
  EXPECT_EQ(server_->OpenWatches(), 1);
  watch.reset();  // the client goes away: the fake notices
  EXPECT_TRUE(WaitUntil([&] { return server_->OpenWatches() == 0; }));
}

TEST_F(FakeKubeWatchTest, TooOldVersionGetsAnExpiredErrorEvent) {
  FakeKubeOptions options;
  options.watch_history = 3;
  StartServer(options);
  const int64_t old_rv = server_->resource_version();
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(
        client_->Post(kConfigMaps, ConfigMapBody(absl::StrCat("c", i), {}, {}))
            .code,
        201);
  }
  auto watch = client_->Stream(
      absl::StrCat(kConfigMaps, "?watch=1&resourceVersion=", old_rv));
  ASSERT_TRUE(watch->WaitForEnd(absl::Seconds(5)));
  EXPECT_EQ(watch->code(), 200);
  EXPECT_EQ(watch->error(), "");
  std::vector<json> events = watch->JsonLines();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["type"], "ERROR");
  const json& status = events[0]["object"];
  EXPECT_EQ(status["kind"], "Status");
  EXPECT_EQ(status["code"], 410);
  EXPECT_EQ(status["reason"], "Expired");
  EXPECT_THAT(status["message"].get<std::string>(),
              ::testing::StartsWith(
                  absl::StrCat("too old resource version: ", old_rv, " (")));
  // A recent version still works; after a compaction it is too old as well.
  const int64_t recent = server_->resource_version() - 1;
  auto fine = client_->Stream(
      absl::StrCat(kConfigMaps, "?watch=1&resourceVersion=", recent));
  ASSERT_TRUE(fine->WaitForLines(1, absl::Seconds(5)));
  EXPECT_EQ(fine->JsonLines()[0]["type"], "ADDED");
  server_->CompactWatchHistory();
  auto compacted = client_->Stream(
      absl::StrCat(kConfigMaps, "?watch=1&resourceVersion=", recent));
  ASSERT_TRUE(compacted->WaitForEnd(absl::Seconds(5)));
  EXPECT_EQ(compacted->JsonLines()[0]["object"]["code"], 410);
}

TEST_F(FakeKubeWatchTest, BookmarksAndTimeoutSeconds) {
  FakeKubeOptions options;
  options.bookmark_interval = absl::Milliseconds(200);
  StartServer(options);
  const absl::Time start = absl::Now();
  auto watch = client_->Stream(
      absl::StrCat(kPods,
                   "?watch=1&allowWatchBookmarks=true&timeoutSeconds=1&"
                   "resourceVersion=",
                   server_->resource_version()));
  ASSERT_TRUE(watch->WaitForEnd(absl::Seconds(5)));
  const absl::Duration took = absl::Now() - start;
  EXPECT_GE(took, absl::Milliseconds(900));
  EXPECT_LT(took, absl::Seconds(3));
  EXPECT_EQ(watch->error(), "");  // a clean end
  std::vector<json> events = watch->JsonLines();
  ASSERT_GE(events.size(), 3u);
  for (const json& event : events) {
    EXPECT_EQ(event["type"], "BOOKMARK");
    EXPECT_EQ(event["object"]["kind"], "Pod");
    EXPECT_EQ(event["object"]["metadata"]["resourceVersion"],
              absl::StrCat(server_->resource_version()));
  }
  // Without allowWatchBookmarks there are none.
  auto quiet =
      client_->Stream(absl::StrCat(kPods, "?watch=1&timeoutSeconds=1"));
  ASSERT_TRUE(quiet->WaitForEnd(absl::Seconds(5)));
  EXPECT_TRUE(quiet->lines().empty());
  EXPECT_EQ(server_->WatchConnectionsOpened(), 2);
}

TEST_F(FakeKubeWatchTest, CountsRequestsByVerbAndResource) {
  ASSERT_EQ(client_->Post(kConfigMaps, ConfigMapBody("c", {}, {})).code, 201);
  ASSERT_EQ(
      client_->Post(kJobs, JobBody({.name = "j", .command = {"true"}})).code,
      201);
  ASSERT_TRUE(
      WaitUntil([&] { return !server_->ObjectNames("pods", "ns1").empty(); }));
  const std::string pod = server_->ObjectNames("pods", "ns1")[0];
  client_->Get(absl::StrCat(kJobs, "/j"));
  client_->Get(kPods);
  client_->Get(absl::StrCat(kPods, "/", pod, "/log"));
  client_->Stream(absl::StrCat(kPods, "?watch=1&timeoutSeconds=1"))
      ->WaitForEnd(absl::Seconds(5));
  client_->Delete(absl::StrCat(kJobs, "/j?propagationPolicy=Background"));
  client_->Delete(absl::StrCat(kConfigMaps, "/c"));
  EXPECT_EQ(server_->RequestCount("create", "configmaps"), 1);
  EXPECT_EQ(server_->RequestCount("create", "jobs"), 1);
  EXPECT_EQ(server_->RequestCount("get", "jobs"), 1);
  EXPECT_EQ(server_->RequestCount("list", "pods"), 1);
  EXPECT_EQ(server_->RequestCount("get", "pods/log"), 1);
  EXPECT_EQ(server_->RequestCount("watch", "pods"), 1);
  EXPECT_EQ(server_->RequestCount("delete", "jobs"), 1);
  EXPECT_EQ(server_->RequestCount("delete", "configmaps"), 1);
  EXPECT_EQ(server_->RequestCounts().size(), 8u);
  EXPECT_EQ(server_->RequestLog().back().code, 200);
  EXPECT_TRUE(WaitUntil([&] { return server_->HoldsNoObjects("ns1"); }));
  server_->ResetCounters();
  EXPECT_TRUE(server_->RequestCounts().empty());
}

}  // namespace
}  // namespace codeexec::fake_kube
