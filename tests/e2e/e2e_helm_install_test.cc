// The product as users install it: the image built from the Dockerfile
// (scripts/build-executor-image), `helm install`ed into the sandbox
// namespace with token auth on (tests/e2e/in_cluster/values.yaml), called by
// agent pods of another namespace through the Service's address (kube-proxy
// on the node) with the Python client and their projected tokens. The
// executor runs on in-cluster configuration only. Each test installs the
// release and uninstalls it, checking that nothing of it is left.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/cluster_access.h"
#include "tests/e2e/in_cluster_release.h"
#include "tests/integrity_checks.h"

namespace codeexec::e2e {
namespace {

using ::codeexec::testing::Sha256Hex;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

const std::string kSource = CODE_EXECUTOR_SOURCE_DIR;

// Every byte value, 1 MiB of them (invalid UTF-8 throughout), then exit 3.
constexpr char kBinaryProgram[] =
    "import sys\n"
    "sys.stdout.buffer.write(bytes(range(256)) * 4096)\n"
    "sys.stdout.flush()\n"
    "sys.exit(3)\n";
std::string BinaryOutput() {
  std::string bytes;
  for (int i = 0; i < 4096; ++i) {
    for (int b = 0; b < 256; ++b) bytes.push_back(static_cast<char>(b));
  }
  return bytes;
}

class E2eHelmInstallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cluster = Cluster::FromEnvFile();
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::move(*cluster);
    absl::StatusOr<std::string> helm = HelmPath(kSource);
    ASSERT_TRUE(helm.ok()) << helm.status();
    release_ = std::make_unique<InClusterRelease>(cluster_, kSource, *helm);
    ASSERT_TRUE(release_->PrepareAgents().ok());
    start_ = absl::Now();
    absl::StatusOr<absl::Duration> took = release_->Install();
    ASSERT_TRUE(took.ok()) << took.status();
    RecordProperty("install_to_ready_ms",
                   static_cast<int>(absl::ToInt64Milliseconds(*took)));
    std::cerr << "helm install --wait: Ready in " << *took << "\n";
  }
  void TearDown() override {
    if (release_ == nullptr) return;
    EXPECT_TRUE(release_->Uninstall().ok());
    // The executor pods go once their shutdown ends (the ReplicaSet's
    // garbage collection, after helm's own deletes).
    const absl::Time deadline = absl::Now() + absl::Seconds(90);
    absl::StatusOr<std::vector<std::string>> left = release_->Leftovers();
    while (absl::Now() < deadline && (!left.ok() || !left->empty())) {
      absl::SleepFor(absl::Milliseconds(500));
      left = release_->Leftovers();
    }
    ASSERT_TRUE(left.ok()) << left.status();
    EXPECT_THAT(*left, IsEmpty());
    EXPECT_TRUE(cluster_.WaitNoneLeft(absl::Seconds(90)).ok());
    release_->RemoveAgents();
  }
  // The Job (and so the executor pod: its owner) of the one run in flight.
  std::string OwnerOfTheRunningJob() {
    const absl::Time deadline = absl::Now() + absl::Seconds(90);
    while (absl::Now() < deadline) {
      absl::StatusOr<nlohmann::json> jobs =
          cluster_.GetJson({"jobs", "-n", cluster_.ns(), "-l", kOurs});
      if (jobs.ok() && !(*jobs)["items"].empty()) {
        const auto& owners = (*jobs)["items"][0]["metadata"].value(
            "ownerReferences", nlohmann::json::array());
        for (const auto& owner : owners) {
          if (owner.value("kind", "") == "Pod") return owner.value("name", "");
        }
        ADD_FAILURE() << "Job without a Pod owner: " << (*jobs)["items"][0];
        return "";
      }
      absl::SleepFor(absl::Milliseconds(300));
    }
    ADD_FAILURE() << "no Job appeared";
    return "";
  }

  Cluster cluster_;
  std::unique_ptr<InClusterRelease> release_;
  absl::Time start_;  // before the install
};

TEST_F(E2eHelmInstallTest, RunsOnInClusterConfigurationAlone) {
  absl::StatusOr<std::vector<std::string>> ready = release_->ReadyPods();
  ASSERT_TRUE(ready.ok()) << ready.status();
  ASSERT_THAT(*ready, SizeIs(2));  // the chart's replicaCount
  absl::StatusOr<nlohmann::json> deployment = cluster_.GetJson(
      {"deployment", release_->release(), "-n", cluster_.ns()});
  ASSERT_TRUE(deployment.ok()) << deployment.status();
  const auto& pod_spec = (*deployment)["spec"]["template"]["spec"];
  EXPECT_EQ(pod_spec.value("serviceAccountName", ""), release_->release());
  // No kubeconfig anywhere: the environment is the Downward API's owner
  // fields only, the volumes are the config, scratch space and the token
  // the kubelet projects.
  std::vector<std::string> env_names;
  for (const auto& var : pod_spec["containers"][0]["env"]) {
    env_names.push_back(var.value("name", ""));
  }
  EXPECT_THAT(env_names, ElementsAre("POD_NAME", "POD_UID"));
  EXPECT_THAT(pod_spec["containers"][0].dump(), Not(HasSubstr("kubeconfig")));
  // Each replica checked its RBAC at start, as the release's ServiceAccount
  // with the token bound to its own pod.
  const std::string user = absl::StrCat("system:serviceaccount:", cluster_.ns(),
                                        ":", release_->release());
  for (const std::string& pod : *ready) {
    int checks = 0;
    for (const auto& event :
         release_->AuditEvents("create", "selfsubjectaccessreviews", start_)) {
      if (event.value("/user/username"_json_pointer, std::string()) != user) {
        continue;
      }
      const auto& extra =
          event["user"].value("extra", nlohmann::json::object());
      if (extra.value("authentication.kubernetes.io/pod-name",
                      nlohmann::json::array()) == nlohmann::json{pod}) {
        ++checks;
      }
    }
    EXPECT_GT(checks, 0) << "no RBAC check from " << pod;
  }
}

TEST_F(E2eHelmInstallTest, AnAgentPodRunsCodeThroughTheService) {
  ASSERT_TRUE(release_
                  ->StartAgent({.pod_name = "agent-binary",
                                .account = "adk-agent",
                                .audience = "code-executor",
                                .code = kBinaryProgram})
                  .ok());
  absl::StatusOr<nlohmann::json> report =
      release_->AwaitAgent("agent-binary", absl::Seconds(120));
  ASSERT_TRUE(report.ok()) << report.status();
  const std::string want = BinaryOutput();
  EXPECT_EQ(report->value("exit_code", -1), 3) << *report;
  EXPECT_EQ(report->value("stdout_len", -1), static_cast<int>(want.size()));
  EXPECT_EQ(report->value("stdout_sha256", ""), Sha256Hex(want));
  EXPECT_TRUE(cluster_.WaitNoneLeft(absl::Seconds(60)).ok());
}

TEST_F(E2eHelmInstallTest, OnlyTheAllowedIdentityIsServed) {
  // values.yaml allows adk-agent only. other-agent's token is genuine (the
  // API server's TokenReview says so) but not allowed; a pod's ordinary
  // token is for the API server's audience, not code-executor's.
  for (const AgentCall& call : {AgentCall{.pod_name = "agent-other",
                               .account = "other-agent",
                               .audience = "code-executor",
                               .code = "print('must not run')"},
                                AgentCall{.pod_name = "agent-plain-token",
                                .account = "adk-agent",
                                .audience = "",
                                .code = "print('must not run')"}}) {
    ASSERT_TRUE(release_->StartAgent(call).ok());
  }
  absl::StatusOr<nlohmann::json> other =
      release_->AwaitAgent("agent-other", absl::Seconds(120));
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(other->value("error", ""), "PermissionDeniedError") << *other;
  EXPECT_THAT(other->value("message", ""),
              HasSubstr(absl::StrCat("system:serviceaccount:",
                                     release_->agent_ns(), ":other-agent")));
  absl::StatusOr<nlohmann::json> plain =
      release_->AwaitAgent("agent-plain-token", absl::Seconds(120));
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->value("error", ""), "UnauthenticatedError") << *plain;
  // Nothing ran for either.
  EXPECT_THAT(release_->AuditEvents("create", "jobs", start_), IsEmpty());
}

TEST_F(E2eHelmInstallTest, ADeletedExecutorPodsRunsAreGarbageCollected) {
  ASSERT_TRUE(release_
                  ->StartAgent({.pod_name = "agent-long",
                                .account = "adk-agent",
                                .audience = "code-executor",
                                .code = "import time\n"
                                        "print('started', flush=True)\n"
                                        "time.sleep(300)\n"})
                  .ok());
  const std::string owner = OwnerOfTheRunningJob();
  ASSERT_FALSE(owner.empty());
  auto objects = cluster_.OurObjects();
  ASSERT_TRUE(objects.ok()) << objects.status();
  ASSERT_THAT((*objects)["configmaps"], SizeIs(1));
  ASSERT_THAT((*objects)["jobs"], SizeIs(1));
  const std::vector<std::string> names = {(*objects)["jobs"][0],
                                          (*objects)["configmaps"][0]};
  // Gone at once, without its shutdown: only the owner references can
  // clean up after it.
  CommandResult deleted =
      cluster_.Kubectl({"delete", "pod", owner, "-n", cluster_.ns(),
                        "--grace-period=0", "--force"});
  ASSERT_EQ(deleted.exit_code, 0) << deleted.err;
  EXPECT_TRUE(cluster_.WaitNoneLeft(absl::Seconds(120)).ok());
  // The garbage collector removed them, not an executor (whose deletes the
  // audit log records; the collector's it does not).
  for (const char* resource : {"jobs", "configmaps"}) {
    for (const auto& event :
         release_->AuditEvents("delete", resource, start_)) {
      const std::string name =
          event.value("/objectRef/name"_json_pointer, std::string());
      EXPECT_THAT(names, Not(::testing::Contains(name)))
          << "an executor deleted " << resource << " " << name;
    }
  }
  // The agent learns its run is lost; it does not hang. Either the
  // connection drops first (an error), or the dying executor still sees
  // the sandbox end: the program killed by the SIGTERM of the Job's
  // deletion, 128 + 15.
  absl::StatusOr<nlohmann::json> report =
      release_->AwaitAgent("agent-long", absl::Seconds(120));
  ASSERT_TRUE(report.ok()) << report.status();
  if (!report->contains("error")) {
    EXPECT_EQ(report->value("exit_code", -1), 143) << *report;
    EXPECT_EQ(report->value("stdout_sha256", ""), Sha256Hex("started\n"));
  }
  // The Deployment replaces the pod.
  const absl::Time deadline = absl::Now() + absl::Seconds(120);
  absl::StatusOr<std::vector<std::string>> ready = release_->ReadyPods();
  while (absl::Now() < deadline && (!ready.ok() || ready->size() != 2)) {
    absl::SleepFor(absl::Seconds(1));
    ready = release_->ReadyPods();
  }
  ASSERT_TRUE(ready.ok()) << ready.status();
  EXPECT_THAT(*ready, SizeIs(2));
  EXPECT_THAT(*ready, Not(::testing::Contains(owner)));
}

TEST_F(E2eHelmInstallTest, AnUpgradeRollsWhileARunInFlightFinishes) {
  absl::StatusOr<std::vector<std::string>> before = release_->ReadyPods();
  ASSERT_TRUE(before.ok()) << before.status();
  // Long enough to be in flight when its pod is told to stop, short enough
  // for the chart's shutdownGrace (30 s).
  ASSERT_TRUE(release_
                  ->StartAgent({.pod_name = "agent-rollout",
                                .account = "adk-agent",
                                .audience = "code-executor",
                                .code = "import time\n"
                                        "print('before', flush=True)\n"
                                        "time.sleep(15)\n"
                                        "print('after')\n"})
                  .ok());
  const std::string owner = OwnerOfTheRunningJob();
  ASSERT_FALSE(owner.empty());
  // A changed value changes the config's checksum annotation: a rollout.
  const absl::Time upgrade_start = absl::Now();
  ASSERT_TRUE(release_->Upgrade({"config.dispatcher.workers=3"}).ok());
  std::cerr << "helm upgrade --wait (rollout of both replicas): "
            << absl::Now() - upgrade_start << "\n";
  absl::StatusOr<nlohmann::json> report =
      release_->AwaitAgent("agent-rollout", absl::Seconds(120));
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->value("exit_code", -1), 0) << *report;
  EXPECT_EQ(report->value("stdout_sha256", ""), Sha256Hex("before\nafter\n"))
      << *report;
  absl::StatusOr<std::vector<std::string>> after = release_->ReadyPods();
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_THAT(*after, SizeIs(2));
  for (const std::string& pod : *after) {
    EXPECT_THAT(*before, Not(::testing::Contains(pod)));
  }
  EXPECT_TRUE(cluster_.WaitNoneLeft(absl::Seconds(60)).ok());
}

}  // namespace
}  // namespace codeexec::e2e
