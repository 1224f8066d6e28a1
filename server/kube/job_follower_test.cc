// JobFollower against a raw HTTP server standing in for the API server's pod
// log, with pod states delivered as the shared watch would; and its outcome
// rules (ClassifyJobRun) on plain facts.
// cpprestsdk's U() macro (via rest_client_transport.h) breaks gtest templates.
#define _TURN_OFF_PLATFORM_STRING
#include "server/kube/job_follower.h"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/kube/client/rest_client.h"
#include "server/kube/client/rest_client_test_server.h"
#include "server/kube/client/rest_client_test_util.h"

namespace codeexec::kube {
namespace {

using ::testing::HasSubstr;
using testing::TestConnection;
using testing::TestHttpServer;
using testing::TestRequest;

class RecordingSink : public OutputSink {
 public:
  void OnOutput(OutputStream stream, std::string_view data) override {
    absl::MutexLock lock(&mu_);
    if (stream == OutputStream::kStdout) stdout_.append(data);
  }
  std::string stdout_text() {
    absl::MutexLock lock(&mu_);
    return stdout_;
  }

 private:
  absl::Mutex mu_;
  std::string stdout_;
};

std::string Frame(absl::string_view kind, absl::string_view payload) {
  return absl::StrCat("@ce1 ", kind, " ", absl::Base64Escape(payload), "\n");
}

PodState RunningPod() {
  return {nlohmann::json::parse(R"({"metadata": {"name": "p1"},
      "status": {"phase": "Running",
                 "containerStatuses": [{"state": {"running": {}}}]}})"),
          false};
}

PodState PendingPod(const std::string& waiting_reason) {
  nlohmann::json pod = {{"metadata", {{"name", "p1"}}},
                        {"status",
                         {{"phase", "Pending"},
                          {"containerStatuses",
                           {{{"state",
                              {{"waiting",
                                {{"reason", waiting_reason},
                                 {"message", "no such image"}}}}}}}}}}};
  return {pod, false};
}

PodState UnschedulablePod() {
  return {nlohmann::json::parse(R"({"metadata": {"name": "p1"},
      "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled",
        "status": "False", "reason": "Unschedulable",
        "message": "0/3 nodes are available: 3 Insufficient cpu."}]}})"),
          false};
}

PodState TerminatedPod(const std::string& reason, int exit_code) {
  nlohmann::json pod = RunningPod().pod;
  pod["status"]["containerStatuses"][0]["state"] = {
      {"terminated", {{"reason", reason}, {"exitCode", exit_code}}}};
  return {pod, false};
}

class JobFollowerTest : public ::testing::Test {
 protected:
  // The log the server sends for every log request, then ends the body.
  void ServeLog(std::string body, int code = 200) {
    server_ = std::make_unique<TestHttpServer>(
        [this, body, code](const TestRequest& request, TestConnection& conn) {
          {
            absl::MutexLock lock(&mu_);
            targets_.push_back(request.target);
          }
          if (code != 200) {
            conn.Respond(code, R"({"kind": "Status", "message": "denied"})");
            return;
          }
          conn.StartChunked();
          if (!body.empty()) conn.WriteChunk(body);
          conn.EndChunked();
        });
    client_ = testing::MakeClient(server_->url());
    ASSERT_NE(client_, nullptr);
  }

  std::vector<std::string> targets() {
    absl::MutexLock lock(&mu_);
    return targets_;
  }

  KubernetesOptions options_ = [] {
    KubernetesOptions options;
    options.namespace_name = "ns";
    return options;
  }();
  ExecutionSpec spec_;
  RecordingSink sink_;
  Cancellation client_cancel_;
  std::unique_ptr<TestHttpServer> server_;
  std::unique_ptr<RestClient> client_;
  absl::Mutex mu_;
  std::vector<std::string> targets_;
};

TEST_F(JobFollowerTest, StreamsTheLogOfTheStartedPodUntilTheExitRecord) {
  ServeLog(Frame("o", "hello\n") + "@ce1 x 3\n");
  JobFollower follower(*client_, options_, spec_, sink_, client_cancel_);
  follower.OnPodState(RunningPod());
  ExecutionResult result;
  EXPECT_TRUE(follower.Follow(absl::Now(), result).ok());
  EXPECT_EQ(result.outcome, Outcome::kNonzeroExit);
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_EQ(result.message, "exited with code 3");
  EXPECT_EQ(sink_.stdout_text(), "hello\n");
  EXPECT_THAT(
      targets(),
      ::testing::ElementsAre(
          "/api/v1/namespaces/ns/pods/p1/log?follow=true&container=sandbox"));
}

TEST_F(JobFollowerTest, AHopelessWaitingReasonIsASandboxError) {
  ServeLog("");
  JobFollower follower(*client_, options_, spec_, sink_, client_cancel_);
  follower.OnPodState(PendingPod("ImagePullBackOff"));
  ExecutionResult result;
  EXPECT_TRUE(follower.Follow(absl::Now(), result).ok());
  EXPECT_EQ(result.outcome, Outcome::kSandboxError);
  EXPECT_EQ(result.message,
            "the sandbox pod cannot start: ImagePullBackOff: no such image");
  EXPECT_TRUE(targets().empty());  // no log was read
}

TEST_F(JobFollowerTest, WaitingForCapacityTimesOutNamingTheReason) {
  ServeLog("");
  spec_.timeout = absl::Milliseconds(300);
  JobFollower follower(*client_, options_, spec_, sink_, client_cancel_);
  follower.OnPodState(UnschedulablePod());
  ExecutionResult result;
  const absl::Time start = absl::Now();
  EXPECT_TRUE(follower.Follow(start, result).ok());
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_EQ(result.outcome, Outcome::kTimeout);
  EXPECT_THAT(result.message,
              HasSubstr("(the sandbox pod never started: Unschedulable: 0/3 "
                        "nodes are available: 3 Insufficient cpu.)"));
}

TEST_F(JobFollowerTest, NoPodWithinScheduleTimeoutNamesTheRuntimeClass) {
  ServeLog("");
  options_.schedule_timeout = absl::Milliseconds(100);
  JobFollower follower(*client_, options_, spec_, sink_, client_cancel_);
  ExecutionResult result;
  EXPECT_TRUE(follower.Follow(absl::Now(), result).ok());
  EXPECT_EQ(result.outcome, Outcome::kSandboxError);
  EXPECT_THAT(result.message, HasSubstr("no pod was created"));
  EXPECT_THAT(result.message, HasSubstr("RuntimeClass \"gvisor\""));
}

TEST_F(JobFollowerTest, TheClientsCancellationStopsTheRunWithItsReason) {
  ServeLog("");
  JobFollower follower(*client_, options_, spec_, sink_, client_cancel_);
  std::thread canceller([this] {
    absl::SleepFor(absl::Milliseconds(100));
    client_cancel_.Cancel("client cancelled the call");
  });
  ExecutionResult result;
  EXPECT_TRUE(follower.Follow(absl::Now(), result).ok());
  canceller.join();
  EXPECT_EQ(result.outcome, Outcome::kCancelled);
  EXPECT_EQ(result.message, "client cancelled the call");
  EXPECT_TRUE(follower.run_cancellation().IsCancelled());
}

TEST_F(JobFollowerTest, OutputOverTheLimitStopsTheRun) {
  ServeLog(Frame("o", "0123456789") + "@ce1 x 0\n");
  spec_.max_output_bytes = 4;
  JobFollower follower(*client_, options_, spec_, sink_, client_cancel_);
  follower.OnPodState(RunningPod());
  ExecutionResult result;
  EXPECT_TRUE(follower.Follow(absl::Now(), result).ok());
  EXPECT_EQ(result.outcome, Outcome::kOutputLimit);
  EXPECT_TRUE(result.truncated);
  EXPECT_EQ(sink_.stdout_text(), "0123");
}

TEST_F(JobFollowerTest, WithoutAnExitRecordThePodsTerminationDecides) {
  ServeLog(Frame("o", "partial"));
  spec_.resources.memory_limit_bytes = int64_t{64} << 20;
  JobFollower follower(*client_, options_, spec_, sink_, client_cancel_);
  follower.OnPodState(RunningPod());
  std::thread kubelet([&follower] {
    absl::SleepFor(absl::Milliseconds(200));
    follower.OnPodState(TerminatedPod("OOMKilled", 137));
  });
  ExecutionResult result;
  EXPECT_TRUE(follower.Follow(absl::Now(), result).ok());
  kubelet.join();
  EXPECT_EQ(result.outcome, Outcome::kOomKilled);
  EXPECT_EQ(result.exit_code, 137);
  EXPECT_EQ(result.message,
            "memory limit 64Mi exceeded; the sandbox was killed");
}

TEST_F(JobFollowerTest, ARefusedLogIsTheServicesErrorNotTheProgramsOutcome) {
  ServeLog("", 403);
  JobFollower follower(*client_, options_, spec_, sink_, client_cancel_);
  follower.OnPodState(RunningPod());
  ExecutionResult result;
  const absl::Status refused = follower.Follow(absl::Now(), result);
  EXPECT_TRUE(absl::IsPermissionDenied(refused)) << refused;
  EXPECT_THAT(refused.message(), HasSubstr("reading the pod log: "));
  EXPECT_EQ(result.outcome, Outcome::kSandboxError);
}

JobRunFacts Facts() {
  JobRunFacts facts;
  facts.timeout = absl::Seconds(30);
  facts.max_output_bytes = 100;
  facts.memory_limit_bytes = int64_t{512} << 20;
  return facts;
}

TEST(ClassifyJobRunTest, OurStopReasonComesFirst) {
  JobRunFacts facts = Facts();
  facts.exit_record = 0;
  facts.sandbox_error = "ignored";
  facts.stop_reason = StopReason::kOutputLimit;
  facts.output_truncated = true;
  RunVerdict verdict = ClassifyJobRun(facts);
  EXPECT_EQ(verdict.outcome, Outcome::kOutputLimit);
  EXPECT_EQ(verdict.message,
            "output exceeded 100 bytes; the sandbox was stopped");
  EXPECT_TRUE(verdict.truncated);

  facts.stop_reason = StopReason::kTimeout;
  EXPECT_EQ(ClassifyJobRun(facts).outcome, Outcome::kTimeout);
  EXPECT_EQ(ClassifyJobRun(facts).message, "timed out after 30s");

  facts.stop_reason = StopReason::kCancelled;
  facts.cancel_reason = "server shutting down";
  EXPECT_EQ(ClassifyJobRun(facts).outcome, Outcome::kCancelled);
  EXPECT_EQ(ClassifyJobRun(facts).message, "server shutting down");
}

TEST(ClassifyJobRunTest, SandboxErrorBeforeExitRecord) {
  JobRunFacts facts = Facts();
  facts.sandbox_error = "the sandbox pod was deleted before it ran";
  facts.exit_record = 0;
  EXPECT_EQ(ClassifyJobRun(facts).outcome, Outcome::kSandboxError);
  facts.sandbox_error.clear();
  EXPECT_EQ(ClassifyJobRun(facts).outcome, Outcome::kOk);
  EXPECT_EQ(ClassifyJobRun(facts).exit_code, 0);
}

TEST(ClassifyJobRunTest, TerminationWithoutExitRecord) {
  JobRunFacts facts = Facts();
  facts.terminated = nlohmann::json{{"reason", "DeadlineExceeded"}};
  EXPECT_EQ(ClassifyJobRun(facts).outcome, Outcome::kTimeout);
  facts.terminated = nlohmann::json{{"reason", "Error"}, {"exitCode", 2}};
  facts.diagnostics = "exec format error";
  const RunVerdict verdict = ClassifyJobRun(facts);
  EXPECT_EQ(verdict.outcome, Outcome::kSandboxError);
  EXPECT_EQ(verdict.exit_code, 2);
  EXPECT_EQ(verdict.message,
            "the sandbox ended without the launcher's exit record (Error): "
            "exec format error");
  facts.terminated.reset();
  facts.diagnostics.clear();
  EXPECT_EQ(ClassifyJobRun(facts).message,
            "the sandbox ended without the launcher's exit record");
  EXPECT_EQ(ClassifyJobRun(facts).exit_code, -1);
}

}  // namespace
}  // namespace codeexec::kube
