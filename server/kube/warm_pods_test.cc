// What a warm pod's state means to the pool (from the shared watch's pod
// objects) and which runs fit the pool. The pods' life on a real cluster is
// tests/e2e/e2e_warm_pool_test.cc's.
#include "server/kube/warm_pods.h"

#include <memory>
#include <thread>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace codeexec::kube {
namespace {

using nlohmann::json;

PodState Pod(const std::string& phase, const json& container_state,
             bool deleting = false) {
  PodState state;
  state.pod = {
      {"metadata", {{"name", "cw-0123456789ab-x1y2z"}}},
      {"status",
       {{"phase", phase},
        {"containerStatuses",
         json::array({{{"name", "sandbox"}, {"state", container_state}}})}}}};
  if (deleting) {
    state.pod["metadata"]["deletionTimestamp"] = "2026-12-07T00:00:00Z";
  }
  return state;
}

const json kRunning = {{"running", {{"startedAt", "2026-12-07T00:00:00Z"}}}};

std::unique_ptr<KubeWarmSandbox> Attached() {
  auto sandbox = std::make_unique<KubeWarmSandbox>("cw-0123456789ab");
  sandbox->attached.inbox = std::make_shared<StreamInbox>();
  return sandbox;
}

TEST(KubeWarmSandboxTest, AliveOnlyWhileRunningKeptAndAttached) {
  auto sandbox = Attached();
  EXPECT_FALSE(sandbox->Alive()) << "no state seen yet";
  sandbox->OnPodState(Pod("Running", kRunning));
  EXPECT_TRUE(sandbox->Alive());
  EXPECT_EQ(sandbox->pod_name(), "cw-0123456789ab-x1y2z");
  sandbox->OnPodState(Pod("Running", kRunning, /*deleting=*/true));
  EXPECT_FALSE(sandbox->Alive()) << "being deleted";
  sandbox->OnPodState(Pod("Running", kRunning));
  {
    absl::MutexLock lock(&sandbox->attached.inbox->mu);
    sandbox->attached.inbox->closed = absl::UnavailableError("dropped");
  }
  EXPECT_FALSE(sandbox->Alive()) << "its stream is gone";

  KubeWarmSandbox never_attached("cw-000000000001");
  never_attached.OnPodState(Pod("Running", kRunning));
  EXPECT_FALSE(never_attached.Alive());
}

TEST(KubeWarmSandboxTest, WaitRunningWakesOnTheWatchOrSaysWhyNot) {
  KubeWarmSandbox slow("cw-000000000002");
  EXPECT_TRUE(absl::IsDeadlineExceeded(
      slow.WaitRunning(absl::Now() + absl::Milliseconds(50))));

  KubeWarmSandbox starting("cw-000000000003");
  std::thread watch([&] {
    absl::SleepFor(absl::Milliseconds(50));
    starting.OnPodState(
        Pod("Pending", {{"waiting", {{"reason", "ContainerCreating"}}}}));
    absl::SleepFor(absl::Milliseconds(50));
    starting.OnPodState(Pod("Running", kRunning));
  });
  EXPECT_TRUE(starting.WaitRunning(absl::Now() + absl::Seconds(10)).ok());
  watch.join();

  KubeWarmSandbox broken("cw-000000000004");
  broken.OnPodState(
      Pod("Pending",
          {{"waiting", {{"reason", "ErrImagePull"}, {"message", "no such"}}}}));
  absl::Status status = broken.WaitRunning(absl::Now() + absl::Seconds(10));
  EXPECT_TRUE(absl::IsFailedPrecondition(status)) << status;
  EXPECT_THAT(std::string(status.message()),
              ::testing::HasSubstr("ErrImagePull"));
}

TEST(KubeWarmSandboxTest, WaitTerminatedGivesTheContainersEnd) {
  KubeWarmSandbox sandbox("cw-000000000005");
  sandbox.OnPodState(Pod("Running", kRunning));
  EXPECT_EQ(sandbox.WaitTerminated(absl::Now() + absl::Milliseconds(50)),
            std::nullopt);
  sandbox.OnPodState(
      Pod("Failed",
          {{"terminated", {{"reason", "OOMKilled"}, {"exitCode", 137}}}}));
  std::optional<json> terminated =
      sandbox.WaitTerminated(absl::Now() + absl::Seconds(1));
  ASSERT_TRUE(terminated.has_value());
  EXPECT_EQ((*terminated)["reason"], "OOMKilled");
}

}  // namespace
}  // namespace codeexec::kube
