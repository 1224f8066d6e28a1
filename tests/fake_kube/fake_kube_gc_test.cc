// The garbage collector: dependents of a deleted owner go (Background,
// Foreground, TTL) or stay without the reference (Orphan); objects whose
// owners do not exist are collected; a dependent with a live owner keeps
// living. Also how the instant kubelet ends a pod deleted while it runs.
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
using ::codeexec::fake_kube::testing::kPods;
using ::codeexec::fake_kube::testing::WaitUntil;
using ::testing::ElementsAre;

class FakeKubeGcTest : public testing::FakeKubeTest {
 protected:
  // Creates Job `name` and returns an ownerReference to it.
  json MakeJob(const std::string& name) {
    auto created =
        client_->Post(kJobs, JobBody({.name = name, .command = {"true"}}));
    EXPECT_EQ(created.code, 201) << created.text;
    return {{"apiVersion", "batch/v1"},
            {"kind", "Job"},
            {"name", name},
            {"uid", created.body["metadata"]["uid"]},
            {"controller", true}};
  }
  // Creates ConfigMap `name` owned by `owners`.
  void MakeOwnedConfigMap(const std::string& name, const json& owners) {
    json body = ConfigMapBody(name, {}, {{"k", "v"}});
    body["metadata"]["ownerReferences"] = owners;
    auto created = client_->Post(kConfigMaps, body);
    EXPECT_EQ(created.code, 201) << created.text;
  }
  bool ConfigMapGone(const std::string& name) {
    return !server_->GetObject("configmaps", "ns1", name).has_value();
  }
};

TEST_F(FakeKubeGcTest, BackgroundDeleteCollectsTheJobsConfigMap) {
  MakeOwnedConfigMap("cm", json::array({MakeJob("j")}));
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_FALSE(ConfigMapGone("cm"));  // its owner lives
  ASSERT_EQ(
      client_->Delete(absl::StrCat(kJobs, "/j?propagationPolicy=Background"))
          .code,
      200);
  EXPECT_TRUE(WaitUntil([&] { return server_->HoldsNoObjects("ns1"); }));
  // The ConfigMap, and maybe the pod if the collector got to it before the
  // Job's own pod deletion did.
  EXPECT_GE(server_->GarbageCollected(), 1);
}

TEST_F(FakeKubeGcTest, ForegroundDeleteCollectsTheJobsConfigMap) {
  MakeOwnedConfigMap("cm", json::array({MakeJob("j")}));
  ASSERT_EQ(client_
                ->Delete(absl::StrCat(kJobs, "/j"),
                         {{"propagationPolicy", "Foreground"}})
                .code,
            200);
  EXPECT_TRUE(WaitUntil([&] { return server_->HoldsNoObjects("ns1"); }));
}

TEST_F(FakeKubeGcTest, OrphanDeleteLeavesDependentsWithoutTheReference) {
  const json owner = MakeJob("j");
  MakeOwnedConfigMap("cm", json::array({owner}));
  ASSERT_EQ(client_->Delete(absl::StrCat(kJobs, "/j")).code, 200);
  absl::SleepFor(absl::Milliseconds(300));
  std::optional<json> cm = server_->GetObject("configmaps", "ns1", "cm");
  ASSERT_TRUE(cm.has_value());
  EXPECT_FALSE((*cm)["metadata"].contains("ownerReferences"));
  EXPECT_EQ(server_->ObjectNames("pods", "ns1").size(), 1u);
  EXPECT_EQ(server_->GarbageCollected(), 0);
}

TEST_F(FakeKubeGcTest, TtlAfterFinishedTakesTheOwnedConfigMapToo) {
  json body = JobBody({.name = "ttl", .command = {"true"}});
  body["spec"]["ttlSecondsAfterFinished"] = 1;
  auto created = client_->Post(kJobs, body);
  ASSERT_EQ(created.code, 201);
  // Like ADK: the ConfigMap first, then the owner reference by PATCH.
  ASSERT_EQ(client_->Post(kConfigMaps, ConfigMapBody("code", {}, {})).code,
            201);
  ASSERT_EQ(client_
                ->Patch(absl::StrCat(kConfigMaps, "/code"),
                        "application/strategic-merge-patch+json",
                        {{"metadata",
                          {{"ownerReferences",
                            {{{"apiVersion", "batch/v1"},
                              {"kind", "Job"},
                              {"name", "ttl"},
                              {"uid", created.body["metadata"]["uid"]}}}}}}})
                .code,
            200);
  EXPECT_TRUE(WaitUntil([&] { return server_->HoldsNoObjects("ns1"); },
                        absl::Seconds(10)));
}

TEST_F(FakeKubeGcTest, ObjectsWhoseOwnersDoNotExistAreCollected) {
  json gone = MakeJob("j");
  gone["uid"] = "00000000-0000-4000-8000-000000000000";  // not j's uid
  MakeOwnedConfigMap("dangling", json::array({gone}));
  MakeOwnedConfigMap("foreign", json::array({{{"apiVersion", "apps/v1"},
                                              {"kind", "Deployment"},
                                              {"name", "d"},
                                              {"uid", "u-d"}}}));
  EXPECT_TRUE(WaitUntil([&] { return ConfigMapGone("dangling"); }));
  // An owner of a kind the fake does not serve is taken to exist.
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_FALSE(ConfigMapGone("foreign"));
}

TEST_F(FakeKubeGcTest, ADependentWithALiveOwnerLosesOnlyTheDeadReference) {
  const json first = MakeJob("j1");
  const json second = MakeJob("j2");
  MakeOwnedConfigMap("shared", json::array({first, second}));
  ASSERT_EQ(
      client_->Delete(absl::StrCat(kJobs, "/j1?propagationPolicy=Background"))
          .code,
      200);
  json owners;
  ASSERT_TRUE(WaitUntil([&] {
    std::optional<json> cm = server_->GetObject("configmaps", "ns1", "shared");
    if (!cm.has_value()) return false;
    owners = (*cm)["metadata"]["ownerReferences"];
    return owners.size() == 1;
  }));
  EXPECT_EQ(owners[0]["name"], "j2");
  EXPECT_EQ(server_->ObjectNames("jobs", "ns1"),
            std::vector<std::string>{"j2"});
}

TEST_F(FakeKubeGcTest, InstantPodDeletedWhileRunningEndsAtOnce) {
  FakeKubeOptions options;
  options.kubelet.instant_run_time = absl::Seconds(600);
  options.kubelet.instant_log = "a\n";
  options.kubelet.instant_final_log = "b\n";
  StartServer(options);
  MakeJob("long");
  std::string pod;
  ASSERT_TRUE(WaitUntil([&] {
    auto pods = client_->Get(
        absl::StrCat(kPods, "?fieldSelector=status.phase%3DRunning"));
    if (pods.body["items"].empty()) return false;
    pod = pods.body["items"][0]["metadata"]["name"];
    return true;
  }));
  EXPECT_EQ(server_->PodLogContents("ns1", pod), "a\n");
  auto watch = client_->Stream(
      absl::StrCat(kPods, "?watch=1&fieldSelector=metadata.name%3D", pod));
  ASSERT_TRUE(watch->WaitForLines(1, absl::Seconds(5)));  // ADDED
  ASSERT_EQ(
      client_->Delete(absl::StrCat(kJobs, "/long?propagationPolicy=Background"))
          .code,
      200);
  ASSERT_TRUE(WaitUntil([&] { return server_->HoldsNoObjects("ns1"); },
                        absl::Seconds(5)));
  ASSERT_TRUE(WaitUntil([&] {
    auto events = watch->JsonLines();
    return !events.empty() && events.back()["type"] == "DELETED";
  }));
  const json last = watch->JsonLines().back()["object"];
  EXPECT_EQ(last["status"]["phase"], "Failed");
  EXPECT_EQ(
      last["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"],
      143);
}

TEST_F(FakeKubeGcTest, InstantFinalLogArrivesWhenThePodEnds) {
  FakeKubeOptions options;
  options.kubelet.instant_run_time = absl::Milliseconds(700);
  options.kubelet.instant_log = "a\n";
  options.kubelet.instant_final_log = "b\n";
  StartServer(options);
  MakeJob("split");
  std::string pod;
  // Followed once on the node: before that the log is answered at once.
  ASSERT_TRUE(WaitUntil([&] {
    std::vector<std::string> pods = server_->ObjectNames("pods", "ns1");
    if (pods.empty()) return false;
    pod = pods[0];
    auto object = server_->GetObject("pods", "ns1", pod);
    return object.has_value() && (*object)["spec"].contains("nodeName");
  }));
  auto follow =
      client_->Stream(absl::StrCat(kPods, "/", pod, "/log?follow=true"));
  ASSERT_TRUE(follow->WaitForEnd(absl::Seconds(5)));
  std::vector<testing::LineStream::Line> lines = follow->lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].text, "a");
  EXPECT_EQ(lines[1].text, "b");
  EXPECT_GE(lines[1].arrived - lines[0].arrived, absl::Milliseconds(400));
}

}  // namespace
}  // namespace codeexec::fake_kube
