// Fault injection of the fake apiserver: each fault is observed by a client.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
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
using ::testing::HasSubstr;

class FakeKubeFaultsTest : public testing::FakeKubeTest {
 protected:
  std::string OnlyPod() {
    std::vector<std::string> pods;
    EXPECT_TRUE(WaitUntil([&] {
      pods = server_->ObjectNames("pods", "ns1");
      return !pods.empty();
    }));
    return pods.empty() ? "" : pods[0];
  }
};

TEST_F(FakeKubeFaultsTest, StatusForTheNextMatchingRequests) {
  server_->FailNext({.verb = "create", .resource = "configmaps"}, 2, 500);
  auto first = client_->Post(kConfigMaps, ConfigMapBody("c", {}, {}));
  EXPECT_EQ(first.code, 500);
  EXPECT_EQ(first.body["kind"], "Status");
  EXPECT_EQ(first.body["reason"], "InternalError");
  EXPECT_EQ(first.body["code"], 500);
  EXPECT_EQ(client_->Get(kConfigMaps).code, 200);  // other verbs unaffected
  EXPECT_EQ(client_->Post(kConfigMaps, ConfigMapBody("c", {}, {})).code, 500);
  EXPECT_EQ(client_->Post(kConfigMaps, ConfigMapBody("c", {}, {})).code, 201);
  EXPECT_EQ(server_->RequestCount("create", "configmaps"), 3);

  server_->FailNext({.verb = "get", .resource = "configmaps", .name = "c"}, 1,
                    503, "etcd is sleeping");
  EXPECT_EQ(client_->Get(absl::StrCat(kConfigMaps, "/other")).code, 404);
  auto unavailable = client_->Get(absl::StrCat(kConfigMaps, "/c"));
  EXPECT_EQ(unavailable.code, 503);
  EXPECT_EQ(unavailable.body["message"], "etcd is sleeping");
}

TEST_F(FakeKubeFaultsTest, TooManyRequestsWithRetryAfter) {
  server_->ThrottleNext({.verb = "create"}, 1, 2);
  auto throttled =
      client_->Post(kJobs, JobBody({.name = "j", .command = {"true"}}));
  EXPECT_EQ(throttled.code, 429);
  EXPECT_EQ(throttled.headers["Retry-After"], "2");
  EXPECT_EQ(throttled.body["reason"], "TooManyRequests");
  EXPECT_EQ(throttled.body["details"]["retryAfterSeconds"], 2);
  EXPECT_TRUE(server_->ObjectNames("jobs", "ns1").empty());
}

TEST_F(FakeKubeFaultsTest, ConnectionResetBeforeOrAfterHandling) {
  server_->ResetNext({.verb = "create", .resource = "configmaps"}, 1);
  auto reset = client_->Post(kConfigMaps, ConfigMapBody("c", {}, {}));
  EXPECT_EQ(reset.code, 0);
  EXPECT_FALSE(reset.error.empty());
  EXPECT_TRUE(server_->ObjectNames("configmaps", "ns1").empty());

  server_->ResetNext({.verb = "create", .resource = "configmaps"}, 1,
                     /*after_handling=*/true);
  EXPECT_EQ(client_->Post(kConfigMaps, ConfigMapBody("c", {}, {})).code, 0);
  // The create took effect; a retry meets AlreadyExists.
  EXPECT_EQ(server_->ObjectNames("configmaps", "ns1").size(), 1u);
  EXPECT_EQ(client_->Post(kConfigMaps, ConfigMapBody("c", {}, {})).code, 409);
  EXPECT_EQ(server_->RequestLog()[0].code, 0);
}

TEST_F(FakeKubeFaultsTest, DelayedResponse) {
  server_->DelayNext({.verb = "list"}, 1, absl::Milliseconds(500));
  const absl::Time start = absl::Now();
  EXPECT_EQ(client_->Get(kPods).code, 200);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(450));
}

TEST_F(FakeKubeFaultsTest, DroppedWatchEndsWithoutTheFinalChunk) {
  auto watch = client_->Stream(absl::StrCat(kPods, "?watch=1"));
  ASSERT_TRUE(WaitUntil([&] { return server_->OpenWatches() == 1; }));
  server_->DropWatches();
  ASSERT_TRUE(watch->WaitForEnd(absl::Seconds(5)));
  EXPECT_NE(watch->error(), "");
  EXPECT_TRUE(WaitUntil([&] { return server_->OpenWatches() == 0; }));
  // New watches work.
  auto again =
      client_->Stream(absl::StrCat(kPods, "?watch=1&timeoutSeconds=1"));
  ASSERT_TRUE(again->WaitForEnd(absl::Seconds(5)));
  EXPECT_EQ(again->error(), "");
}

TEST_F(FakeKubeFaultsTest, NextWatchExpires) {
  server_->ExpireNextWatches(1);
  auto expired = client_->Stream(absl::StrCat(
      kPods, "?watch=1&resourceVersion=", server_->resource_version()));
  ASSERT_TRUE(expired->WaitForEnd(absl::Seconds(5)));
  ASSERT_EQ(expired->JsonLines().size(), 1u);
  EXPECT_EQ(expired->JsonLines()[0]["type"], "ERROR");
  EXPECT_EQ(expired->JsonLines()[0]["object"]["reason"], "Expired");
  EXPECT_EQ(expired->JsonLines()[0]["object"]["code"], 410);
  auto fine = client_->Stream(absl::StrCat(kPods, "?watch=1&timeoutSeconds=1"));
  ASSERT_TRUE(fine->WaitForEnd(absl::Seconds(5)));
  EXPECT_TRUE(fine->lines().empty());
}

TEST_F(FakeKubeFaultsTest, SlowLogSendsLinesApart) {
  FakeKubeOptions options;
  options.kubelet.instant_log = "@ce1 o YQ==\n@ce1 o Yg==\n@ce1 x 0\n";
  options.kubelet.instant_run_time = absl::Seconds(2);
  StartServer(options);
  server_->SetLogChunkDelay(absl::Milliseconds(300));
  ASSERT_EQ(
      client_->Post(kJobs, JobBody({.name = "j", .command = {"true"}})).code,
      201);
  const std::string pod = OnlyPod();
  ASSERT_TRUE(WaitUntil([&] {
    return server_->GetObject("pods", "ns1", pod).value()["status"]["phase"] ==
           "Running";
  }));
  auto log = client_->Stream(absl::StrCat(kPods, "/", pod, "/log?follow=true"));
  ASSERT_TRUE(log->WaitForEnd(absl::Seconds(10)));
  auto lines = log->lines();
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_GE(lines[2].arrived - lines[0].arrived, absl::Milliseconds(500));
  EXPECT_EQ(lines[2].text, "@ce1 x 0");
}

TEST_F(FakeKubeFaultsTest, PodStuckPendingWithAReason) {
  server_->StickPodsPending({.reason = "ImagePullBackOff",
                             .message = "Back-off pulling image \"nope:1\"",
                             .label_selector = "stuck=yes"});
  ASSERT_EQ(client_
                ->Post(kJobs, JobBody({.name = "j",
                                       .labels = {{"stuck", "yes"}},
                                       .command = {"true"}}))
                .code,
            201);
  const std::string pod = OnlyPod();
  json status;
  ASSERT_TRUE(WaitUntil([&] {
    status = server_->GetObject("pods", "ns1", pod).value()["status"];
    return status.contains("containerStatuses");
  }));
  absl::SleepFor(absl::Milliseconds(200));
  status = server_->GetObject("pods", "ns1", pod).value()["status"];
  EXPECT_EQ(status["phase"], "Pending");
  const json& waiting = status["containerStatuses"][0]["state"]["waiting"];
  EXPECT_EQ(waiting["reason"], "ImagePullBackOff");
  EXPECT_EQ(waiting["message"], "Back-off pulling image \"nope:1\"");
  auto log = client_->Get(absl::StrCat(kPods, "/", pod, "/log?follow=true"));
  EXPECT_EQ(log.code, 400);
  EXPECT_EQ(log.body["message"],
            absl::StrCat("container \"main\" in pod \"", pod,
                         "\" is waiting to start: ImagePullBackOff"));
  ASSERT_EQ(
      client_->Delete(absl::StrCat(kJobs, "/j?propagationPolicy=Background"))
          .code,
      200);
  EXPECT_TRUE(WaitUntil([&] { return server_->HoldsNoObjects("ns1"); }));

  // Unschedulable: no node, so the log is empty rather than an error.
  server_->ClearFaults();
  server_->StickPodsPending({.message = "0/3 nodes are available: 3 node(s) "
                                        "didn't match Pod's node affinity.",
                             .unschedulable = true});
  ASSERT_EQ(
      client_->Post(kJobs, JobBody({.name = "u", .command = {"true"}})).code,
      201);
  const std::string unscheduled = OnlyPod();
  ASSERT_TRUE(WaitUntil([&] {
    return server_->GetObject("pods", "ns1", unscheduled)
        .value()["status"]
        .contains("conditions");
  }));
  const json condition = server_->GetObject("pods", "ns1", unscheduled)
                             .value()["status"]["conditions"][0];
  EXPECT_EQ(condition["type"], "PodScheduled");
  EXPECT_EQ(condition["status"], "False");
  EXPECT_EQ(condition["reason"], "Unschedulable");
  auto empty = client_->Get(absl::StrCat(kPods, "/", unscheduled, "/log"));
  EXPECT_EQ(empty.code, 200);
  EXPECT_EQ(empty.text, "");
}

TEST_F(FakeKubeFaultsTest, ForbiddenWithTheRbacMessage) {
  server_->Forbid("create", "jobs");
  server_->Forbid("get", "pods/log");
  auto denied =
      client_->Post(kJobs, JobBody({.name = "j", .command = {"true"}}));
  EXPECT_EQ(denied.code, 403);
  EXPECT_EQ(
      denied.body["message"],
      "jobs.batch is forbidden: User "
      "\"system:serviceaccount:default:code-executor\" cannot create "
      "resource \"jobs\" in API group \"batch\" in the namespace \"ns1\"");
  EXPECT_EQ(denied.body["reason"], "Forbidden");
  EXPECT_EQ(denied.body["details"],
            json({{"group", "batch"}, {"kind", "jobs"}}));
  auto log = client_->Get(absl::StrCat(kPods, "/p1/log"));
  EXPECT_EQ(log.code, 403);
  EXPECT_EQ(log.body["message"],
            "pods \"p1\" is forbidden: User "
            "\"system:serviceaccount:default:code-executor\" cannot get "
            "resource \"pods/log\" in API group \"\" in the namespace \"ns1\"");
  EXPECT_EQ(client_->Get(kPods).code, 200);
}

TEST_F(FakeKubeFaultsTest, BearerTokenRequiredAndRotated) {
  FakeKubeOptions options;
  options.required_bearer_token = "t1";
  StartServer(options);
  auto anonymous = client_->Get(kPods);
  EXPECT_EQ(anonymous.code, 401);
  EXPECT_EQ(anonymous.body["reason"], "Unauthorized");
  TestClient with_token(server_->url(), "t1");
  EXPECT_EQ(with_token.Get(kPods).code, 200);
  server_->SetRequiredBearerToken("t2");
  EXPECT_EQ(with_token.Get(kPods).code, 401);
  EXPECT_EQ(TestClient(server_->url(), "t2").Get(kPods).code, 200);
}

}  // namespace
}  // namespace codeexec::fake_kube
