// Whole-binary tests of who may run code and how much (server.auth.mode
// token, server.quotas): the real server (gvisor-local backend) checks each
// caller's bearer token with a TokenReview on the fake kube-apiserver
// (tests/fake_kube: tokens minted there as TokenRequest would, answered as
// kube-apiserver's ServiceAccount authenticator does; fault injection for an
// API outage). The same checks against a real API server:
// tests/e2e/e2e_token_auth_test.cc.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/bearer_channel.h"
#include "tests/fake_kube/fake_kube_apiserver.h"
#include "tests/integrity_checks.h"
#include "tests/server_process.h"
#include "tests/session_calls.h"

namespace codeexec::testing {
namespace {

using ::codeexecutor::v1::Finished;
using fake_kube::FakeKubeApiServer;
using fake_kube::FakeKubeOptions;
using fake_kube::KubeletMode;
using fake_kube::RequestMatch;
using ::testing::HasSubstr;

constexpr char kAudience[] = "code-executor";
// 64 KiB of every byte value (invalid UTF-8 included) on stdout.
constexpr char kEveryByte[] =
    "import sys\nsys.stdout.buffer.write(bytes(range(256)) * 256)\n";

std::string EveryByte() {
  std::string bytes;
  for (int i = 0; i < 256 * 256; ++i) bytes.push_back(static_cast<char>(i));
  return bytes;
}

class CallerPolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FakeKubeOptions options;
    options.kubelet.mode = KubeletMode::kInstant;
    options.required_bearer_token = "executor-token";
    auto fake = FakeKubeApiServer::Start(options);
    ASSERT_TRUE(fake.ok()) << fake.status();
    fake_ = std::move(*fake);
    kubeconfig_ = absl::StrCat("/tmp/codeexec-policy-kubeconfig-", getpid());
    std::ofstream(kubeconfig_) << "apiVersion: v1\nkind: Config\n"
                               << "clusters:\n- name: fake\n  cluster: "
                               << "{server: \"" << fake_->url() << "\"}\n"
                               << "users:\n- name: executor\n  user: "
                               << "{token: executor-token}\n"
                               << "contexts:\n- name: fake\n  context: "
                               << "{cluster: fake, user: executor}\n"
                               << "current-context: fake\n";
  }
  void TearDown() override {
    server_.reset();
    fake_->Stop();
    std::remove(kubeconfig_.c_str());
  }
  void StartServer(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {
        "--set",
        "server.auth.mode=token",
        "--set",
        "server.auth.allowedIdentities=[\"system:serviceaccount:agents:*\"]",
        "--set",
        absl::StrCat("kubernetes.kubeconfigPath=", kubeconfig_)};
    args.insert(args.end(), extra.begin(), extra.end());
    auto server = ServerProcess::Start(args);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }
  std::string Token(const std::string& ns, const std::string& name,
                    const std::string& audience = kAudience) {
    return fake_->MintServiceAccountToken(ns, name, {audience}, absl::Hours(1));
  }
  std::unique_ptr<codeexecutor::v1::CodeExecutor::Stub> Stub(
      const std::string& token) {
    return BearerStub(server_->target(), token);
  }
  double Metric(const std::string& sample) {
    absl::StatusOr<std::string> page = ScrapeMetrics(server_->metrics_port());
    if (!page.ok()) return -1;
    return MetricValue(*page, sample).value_or(0);
  }

  std::unique_ptr<FakeKubeApiServer> fake_;
  std::string kubeconfig_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(CallerPolicyTest, ATokenNamesTheCallerAndOnlyAllowedOnesRun) {
  StartServer();
  const std::string agent = Token("agents", "adk-agent");
  auto stub = Stub(agent);
  for (int i = 0; i < 3; ++i) {
    ExecuteOutcome run = Execute(*stub, MakeRequest(kEveryByte));
    ASSERT_TRUE(run.status.ok()) << run.status.error_message();
    EXPECT_EQ(run.finished.outcome(), Finished::OK);
    EXPECT_EQ(Digest(run.stdout_text), Digest(EveryByte()));
  }
  // One review for the three calls: the verdict is cached.
  EXPECT_EQ(fake_->RequestCount("create", "tokenreviews"), 1);
  EXPECT_THAT(
      server_->Log(),
      HasSubstr("\"caller\":\"system:serviceaccount:agents:adk-agent\""));
  EXPECT_THAT(server_->Log(), ::testing::Not(HasSubstr(agent)));

  struct Refused {
    std::string token;
    grpc::StatusCode code;
    std::string says;
  };
  const std::vector<Refused> refused = {
      {"", grpc::StatusCode::UNAUTHENTICATED, "bearer token is required"},
      {"not-a-jwt", grpc::StatusCode::UNAUTHENTICATED, "it is not a JWT"},
      // A pod's default token: the API server's audience, not ours.
      {Token("agents", "adk-agent", "https://kubernetes.default.svc"),
       grpc::StatusCode::UNAUTHENTICATED, "invalid for the target audiences"},
      {Token("intruders", "x"), grpc::StatusCode::PERMISSION_DENIED,
       "caller \"system:serviceaccount:intruders:x\" is not allowed"},
      // A namespace whose name merely starts like an allowed one.
      {Token("agents-evil", "x"), grpc::StatusCode::PERMISSION_DENIED,
       "not allowed"},
  };
  for (const Refused& r : refused) {
    ExecuteOutcome run = Execute(*Stub(r.token), MakeRequest("print(1)"));
    EXPECT_EQ(run.status.error_code(), r.code) << r.token;
    EXPECT_THAT(run.status.error_message(), HasSubstr(r.says));
    EXPECT_TRUE(run.events.empty());
    // Sessions are refused the same way.
    absl::StatusOr<codeexecutor::v1::Session> session =
        CreateSession(*Stub(r.token));
    EXPECT_EQ(static_cast<int>(session.status().code()),
              static_cast<int>(r.code));
  }
  EXPECT_EQ(Metric("codeexec_rejected_total{reason=\"unauthenticated\"}"), 6);
  EXPECT_EQ(Metric("codeexec_rejected_total{reason=\"permission_denied\"}"), 4);
  // Nothing refused was queued: only the three runs were counted.
  EXPECT_EQ(Metric("codeexec_executions_total{backend=\"gvisor-local\","
                   "outcome=\"ok\"}"),
            3);
}

TEST_F(CallerPolicyTest, AnApiServerOutageIsUnavailableAndNotRemembered) {
  StartServer();
  const std::string agent = Token("agents", "adk-agent");
  // More 503s than the client's attempts: no verdict.
  fake_->FailNext(
      RequestMatch{
          .verb = "create", .resource = "tokenreviews", .name = "", .ns = ""},
      20, 503);
  ExecuteOutcome refused = Execute(*Stub(agent), MakeRequest("print(1)"));
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(refused.status.error_message(), HasSubstr("TokenReview"));
  EXPECT_EQ(Metric("codeexec_rejected_total{reason=\"auth_unavailable\"}"), 1);
  fake_->ClearFaults();
  ExecuteOutcome run = Execute(*Stub(agent), MakeRequest("print('back')"));
  ASSERT_TRUE(run.status.ok()) << run.status.error_message();
  EXPECT_EQ(run.stdout_text, "back\n");
}

TEST_F(CallerPolicyTest, QuotasBoundEachCallerAlone) {
  StartServer({"--set", "server.quotas.concurrentExecutions=1", "--set",
               "server.quotas.executionsPerMinute=4", "--set",
               "server.quotas.openSessions=1"});
  // Concurrent: a's second run while its first sleeps is refused; b runs.
  auto a = Stub(Token("agents", "a"));
  ExecuteOutcome slow;
  std::thread first([&] {
    slow = Execute(*a, MakeRequest("import time; time.sleep(3); print('a')"));
  });
  ASSERT_GE(WaitForMetric(server_->metrics_port(), "codeexec_inflight", 1), 1);
  ExecuteOutcome second = Execute(*a, MakeRequest("print(2)"));
  EXPECT_EQ(second.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(second.status.error_message(),
              HasSubstr("server.quotas.concurrentExecutions 1"));
  EXPECT_THAT(second.status.error_message(),
              HasSubstr("system:serviceaccount:agents:a"));
  ExecuteOutcome other =
      Execute(*Stub(Token("agents", "b")), MakeRequest("print('b')"));
  EXPECT_EQ(other.stdout_text, "b\n");
  first.join();
  EXPECT_EQ(slow.stdout_text, "a\n");
  EXPECT_EQ(Execute(*a, MakeRequest("print(3)")).stdout_text, "3\n");

  // Per minute: c's fifth start within the minute is refused.
  auto c = Stub(Token("agents", "c"));
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(Execute(*c, MakeRequest("print(4)")).stdout_text, "4\n");
  }
  ExecuteOutcome fifth = Execute(*c, MakeRequest("print(5)"));
  EXPECT_EQ(fifth.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(fifth.status.error_message(),
              HasSubstr("server.quotas.executionsPerMinute 4"));

  // Open sessions: d's second is refused until its first is closed.
  auto d = Stub(Token("agents", "d"));
  absl::StatusOr<codeexecutor::v1::Session> session = CreateSession(*d);
  ASSERT_TRUE(session.ok()) << session.status();
  absl::StatusOr<codeexecutor::v1::Session> more = CreateSession(*d);
  EXPECT_TRUE(absl::IsResourceExhausted(more.status())) << more.status();
  EXPECT_THAT(std::string(more.status().message()),
              HasSubstr("server.quotas.openSessions 1"));
  EXPECT_EQ(RunCell(*d, session->session_id(), "print('cell')").stdout_text,
            "cell\n");
  ASSERT_TRUE(CloseSession(*d, session->session_id()).ok());
  absl::StatusOr<codeexecutor::v1::Session> again = CreateSession(*d);
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_TRUE(CloseSession(*d, again->session_id()).ok());
  EXPECT_EQ(Metric("codeexec_rejected_total{reason=\"quota\"}"), 3);
}

}  // namespace
}  // namespace codeexec::testing
