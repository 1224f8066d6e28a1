// server.auth.mode token against a real API server: callers' tokens are
// minted by TokenRequest (`kubectl create token`) for ServiceAccounts of a
// namespace of agents, and checked by the executor with real TokenReviews,
// using only the rights the chart grants (its rendered ClusterRole and
// ClusterRoleBinding, applied here; without them the executor refuses to
// start). The executor runs outside the cluster on its token-only
// kubeconfig, on the kubernetes backend.
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/bearer_channel.h"
#include "tests/e2e/cluster_access.h"
#include "tests/integrity_checks.h"
#include "tests/server_process.h"
#include "tests/session_calls.h"

namespace codeexec::e2e {
namespace {

using ::codeexec::testing::BearerStub;
using ::codeexec::testing::Digest;
using ::codeexec::testing::Execute;
using ::codeexec::testing::ExecuteOutcome;
using ::codeexec::testing::MakeRequest;
using ::codeexec::testing::ServerProcess;
using ::codeexecutor::v1::Finished;
using ::testing::HasSubstr;

const std::string kSource = CODE_EXECUTOR_SOURCE_DIR;
constexpr char kAgents[] = "e2e-agents";

class E2eTokenAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cluster = Cluster::FromEnvFile();
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::move(*cluster);
    absl::StatusOr<std::string> helm = HelmPath(kSource);
    ASSERT_TRUE(helm.ok()) << helm.status();
    helm_ = *helm;
    ASSERT_EQ(cluster_.Kubectl({"create", "namespace", kAgents}).exit_code, 0);
    for (const char* account : {"adk-agent", "other-agent", "gone-agent"}) {
      CommandResult made = cluster_.Kubectl(
          {"create", "serviceaccount", account, "-n", kAgents});
      ASSERT_EQ(made.exit_code, 0) << made.err;
    }
  }
  void TearDown() override {
    server_.reset();
    cluster_.Kubectl({"delete", "-f", "-", "--ignore-not-found"},
                     cluster_rbac_);
    cluster_.Kubectl({"delete", "namespace", kAgents, "--wait=false"});
    EXPECT_TRUE(cluster_.WaitNoneLeft(absl::Seconds(60)).ok());
  }
  // The chart's cluster-scoped objects for token mode (helm template).
  std::string ChartClusterRbac() {
    CommandResult rendered = RunCommand(
        {helm_, "template", "code-executor", kSource + "/charts/code-executor",
         "--namespace", cluster_.ns(), "--show-only", "templates/rbac.yaml",
         "--set", "config.server.auth.mode=token", "--set",
         absl::StrCat("config.server.auth.allowedIdentities={",
                      "system:serviceaccount:", kAgents, ":adk-agent}")});
    EXPECT_EQ(rendered.exit_code, 0) << rendered.err;
    std::vector<std::string> cluster_scoped;
    for (absl::string_view doc : absl::StrSplit(rendered.out, "\n---")) {
      if (absl::StrContains(doc, "\nkind: ClusterRole")) {
        cluster_scoped.push_back(std::string(doc));
      }
    }
    EXPECT_EQ(cluster_scoped.size(), 2u) << rendered.out;
    return absl::StrJoin(cluster_scoped, "\n---\n");
  }
  std::vector<std::string> ServerArgs() {
    std::vector<std::string> args = cluster_.ExecutorArgs();
    for (std::string extra :
         {std::string("server.auth.mode=token"),
          absl::StrCat("server.auth.allowedIdentities=[\"system:"
                       "serviceaccount:",
                       kAgents, ":adk-agent\"]")}) {
      args.push_back("--set");
      args.push_back(extra);
    }
    return args;
  }
  // A TokenRequest token of `account` (`kubectl create token`).
  std::string MintToken(const std::string& account,
                        const std::string& audience) {
    std::vector<std::string> args = {"create", "token",      account, "-n",
                                     kAgents,  "--duration", "10m"};
    if (!audience.empty()) {
      args.push_back("--audience");
      args.push_back(audience);
    }
    CommandResult minted = cluster_.Kubectl(args);
    EXPECT_EQ(minted.exit_code, 0) << minted.err;
    return std::string(absl::StripAsciiWhitespace(minted.out));
  }

  Cluster cluster_;
  std::string helm_;
  std::string cluster_rbac_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(E2eTokenAuthTest, TheChartsBindingLetsRealTokenReviewsDecide) {
  // Without the ClusterRoleBinding the executor may not review tokens, and
  // says so at start rather than refusing every caller later.
  absl::StatusOr<std::unique_ptr<ServerProcess>> refused =
      ServerProcess::Start(ServerArgs());
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("create tokenreviews.authentication.k8s.io"));

  cluster_rbac_ = ChartClusterRbac();
  CommandResult applied = cluster_.Kubectl({"apply", "-f", "-"}, cluster_rbac_);
  ASSERT_EQ(applied.exit_code, 0) << applied.err;
  // RBAC reaches the authorizer's cache within a moment.
  absl::StatusOr<std::unique_ptr<ServerProcess>> server;
  for (int attempt = 0; attempt < 20; ++attempt) {
    server = ServerProcess::Start(ServerArgs());
    if (server.ok()) break;
    absl::SleepFor(absl::Milliseconds(500));
  }
  ASSERT_TRUE(server.ok()) << server.status();
  server_ = std::move(*server);

  // The allowed account: 64 KiB of every byte value, exact.
  auto agent =
      BearerStub(server_->target(), MintToken("adk-agent", "code-executor"));
  ExecuteOutcome run = Execute(
      *agent,
      MakeRequest(
          "import sys\nsys.stdout.buffer.write(bytes(range(256)) * 256)\n"));
  ASSERT_TRUE(run.status.ok()) << run.status.error_message();
  EXPECT_EQ(run.finished.outcome(), Finished::OK);
  std::string expected;
  for (int i = 0; i < 256 * 256; ++i) expected.push_back(static_cast<char>(i));
  EXPECT_EQ(Digest(run.stdout_text), Digest(expected));
  EXPECT_THAT(server_->Log(),
              HasSubstr(absl::StrCat("\"caller\":\"system:serviceaccount:",
                                     kAgents, ":adk-agent\"")));

  // Another account of the same namespace: known, not allowed.
  ExecuteOutcome other = Execute(
      *BearerStub(server_->target(), MintToken("other-agent", "code-executor")),
      MakeRequest("print(1)"));
  EXPECT_EQ(other.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(other.status.error_message(), HasSubstr("other-agent"));

  // The allowed account's token for the API server's audience (a pod's
  // default token): not for us.
  ExecuteOutcome default_audience =
      Execute(*BearerStub(server_->target(), MintToken("adk-agent", "")),
              MakeRequest("print(1)"));
  EXPECT_EQ(default_audience.status.error_code(),
            grpc::StatusCode::UNAUTHENTICATED);

  // A token whose ServiceAccount was deleted since it was minted.
  const std::string orphan = MintToken("gone-agent", "code-executor");
  ASSERT_EQ(
      cluster_
          .Kubectl({"delete", "serviceaccount", "gone-agent", "-n", kAgents})
          .exit_code,
      0);
  ExecuteOutcome gone =
      Execute(*BearerStub(server_->target(), orphan), MakeRequest("print(1)"));
  EXPECT_EQ(gone.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);

  // No token at all.
  EXPECT_EQ(Execute(*BearerStub(server_->target(), ""), MakeRequest("print(1)"))
                .status.error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

}  // namespace
}  // namespace codeexec::e2e
