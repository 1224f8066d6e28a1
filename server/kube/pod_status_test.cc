#include "server/kube/pod_status.h"

#include "gtest/gtest.h"

namespace codeexec::kube {
namespace {

TEST(PodStatusTest, PendingWithImagePullError) {
  const auto pod = nlohmann::json::parse(R"({
    "status": {"phase": "Pending", "containerStatuses": [{"name": "sandbox",
      "state": {"waiting": {"reason": "ImagePullBackOff",
                            "message": "Back-off pulling image \"nope\""}}}]}})");
  EXPECT_EQ(PodPhase(pod), "Pending");
  EXPECT_FALSE(ContainerStarted(pod));
  EXPECT_FALSE(Terminated(pod).has_value());
  EXPECT_EQ(PendingReason(pod),
            "ImagePullBackOff: Back-off pulling image \"nope\"");
  EXPECT_TRUE(IsHopelessWaitingReason("ImagePullBackOff"));
  EXPECT_FALSE(IsHopelessWaitingReason("ContainerCreating"));
}

TEST(PodStatusTest, UnschedulableCondition) {
  const auto pod = nlohmann::json::parse(R"({
    "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled",
      "status": "False", "reason": "Unschedulable",
      "message": "0/1 nodes are available"}]}})");
  EXPECT_EQ(PendingReason(pod), "Unschedulable: 0/1 nodes are available");
  EXPECT_FALSE(ContainerStarted(pod));
}

TEST(PodStatusTest, RunningAndTerminated) {
  auto pod = nlohmann::json::parse(R"({"status": {"phase": "Running",
      "containerStatuses": [{"state": {"running": {}}}]}})");
  EXPECT_TRUE(ContainerStarted(pod));
  pod = nlohmann::json::parse(R"({"status": {"phase": "Failed",
      "containerStatuses": [{"state": {"terminated": {"exitCode": 137,
        "reason": "OOMKilled"}}}]}})");
  EXPECT_TRUE(ContainerStarted(pod));
  ASSERT_TRUE(Terminated(pod).has_value());
  EXPECT_EQ(Terminated(pod)->value("reason", ""), "OOMKilled");
  EXPECT_EQ(Terminated(pod)->value("exitCode", 0), 137);
}

TEST(PodStatusTest, EmptyPod) {
  const nlohmann::json pod = nlohmann::json::object();
  EXPECT_EQ(PodPhase(pod), "");
  EXPECT_FALSE(ContainerStarted(pod));
  EXPECT_EQ(PendingReason(pod), "");
  EXPECT_TRUE(ContainerStatus(pod).empty());
}

TEST(PodStatusTest, WaitingForCapacityIsOnlyInsufficientResources) {
  EXPECT_TRUE(IsWaitingForCapacity(
      "Unschedulable: 0/3 nodes are available: 3 Insufficient cpu."));
  EXPECT_TRUE(IsWaitingForCapacity(
      "Unschedulable: 0/1 nodes are available: 1 Insufficient memory."));
  EXPECT_FALSE(IsWaitingForCapacity(
      "Unschedulable: 0/1 nodes are available: 1 node(s) had untolerated "
      "taint {sandbox: gvisor}."));
  EXPECT_FALSE(IsWaitingForCapacity("ImagePullBackOff: Back-off pulling"));
  EXPECT_FALSE(IsWaitingForCapacity(""));
}

}  // namespace
}  // namespace codeexec::kube
