// Whole-binary tests of the service around the sandbox: cancellation, the
// queue, validation, concurrency, metrics and shutdown.
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server_process.h"

namespace codeexec::testing {
namespace {

using ::codeexecutor::v1::CodeExecutor;
using ::codeexecutor::v1::ExecuteRequest;
using ::codeexecutor::v1::ExecuteResponse;
using ::codeexecutor::v1::Finished;
using ::testing::HasSubstr;
using ::testing::StartsWith;

std::unique_ptr<ServerProcess> StartServer(std::vector<std::string> args = {}) {
  auto started = ServerProcess::Start(std::move(args));
  EXPECT_TRUE(started.ok()) << started.status();
  return started.ok() ? std::move(*started) : nullptr;
}

// A call that is read until the program printed "ready".
struct OpenCall {
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<ExecuteResponse>> reader;
  std::string execution_id;

  bool ReadUntilReady() {
    ExecuteResponse response;
    while (reader->Read(&response)) {
      if (response.has_started())
        execution_id = response.started().execution_id();
      if (response.has_output() &&
          response.output().data().find("ready") != std::string::npos) {
        return true;
      }
    }
    return false;
  }
  // Reads the rest; returns Finished (if any) and the final status.
  std::pair<std::optional<Finished>, grpc::Status> ReadToEnd() {
    std::optional<Finished> finished;
    ExecuteResponse response;
    while (reader->Read(&response)) {
      if (response.has_finished()) finished = response.finished();
    }
    return {finished, reader->Finish()};
  }
};

constexpr char kReadyThenSleep[] =
    "import time\nprint('ready', flush=True)\ntime.sleep(60)";

TEST(ServiceBehaviourTest, ClientCancelKillsTheSandboxAndLeavesNothing) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto stub = server->NewStub();
  OpenCall call;
  call.reader = stub->Execute(&call.context, MakeRequest(kReadyThenSleep));
  ASSERT_TRUE(call.ReadUntilReady());
  ASSERT_FALSE(call.execution_id.empty());
  EXPECT_FALSE(ProcessesMatching(call.execution_id).empty())
      << "the sandbox should be running now";
  call.context.TryCancel();
  EXPECT_EQ(call.ReadToEnd().second.error_code(), grpc::StatusCode::CANCELLED);
  absl::Status left = WaitNothingLeft(*server, call.execution_id);
  EXPECT_TRUE(left.ok()) << left;
  EXPECT_TRUE(ListDir(server->state_dir() + "/bundles").empty());
  // The cancelled run is counted, and nothing is in flight any more.
  absl::StatusOr<double> cancelled;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  do {
    auto page = ScrapeMetrics(server->metrics_port());
    ASSERT_TRUE(page.ok());
    cancelled = MetricValue(*page,
                            "codeexec_executions_total{backend=\"gvisor-"
                            "local\",outcome=\"cancelled\"}");
    if (cancelled.ok() &&
        MetricValue(*page, "codeexec_inflight").value_or(1) == 0)
      break;
    absl::SleepFor(absl::Milliseconds(50));
  } while (absl::Now() < deadline);
  EXPECT_EQ(cancelled.value_or(0), 1);
}

TEST(ServiceBehaviourTest, FullQueueAnswersResourceExhaustedAtOnce) {
  auto server = StartServer({"--workers=1", "--queue_size=1"});
  ASSERT_NE(server, nullptr);
  auto stub = server->NewStub();
  OpenCall running;
  running.reader =
      stub->Execute(&running.context, MakeRequest(kReadyThenSleep));
  ASSERT_TRUE(running.ReadUntilReady());
  OpenCall queued;
  queued.reader = stub->Execute(&queued.context, MakeRequest(kReadyThenSleep));
  // Wait until the second call is really queued.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    auto page = ScrapeMetrics(server->metrics_port());
    if (page.ok() &&
        MetricValue(*page, "codeexec_queue_depth").value_or(0) == 1)
      break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  const absl::Time start = absl::Now();
  ExecuteOutcome third = Execute(*stub, MakeRequest("print(3)"));
  EXPECT_EQ(third.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(third.status.error_message(), HasSubstr("queue is full"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  running.context.TryCancel();
  queued.context.TryCancel();
  running.ReadToEnd();
  queued.ReadToEnd();
  auto page = ScrapeMetrics(server->metrics_port());
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(MetricValue(*page, "codeexec_rejected_total{reason=\"queue_full\"}")
                .value_or(0),
            1);
}

TEST(ServiceBehaviourTest, InvalidInputNamesTheField) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto stub = server->NewStub();
  struct Case {
    std::function<void(ExecuteRequest&)> mutate;
    std::string field;
  };
  const std::vector<Case> cases = {
      {[](auto& r) { r.clear_code(); }, "code:"},
      {[](auto& r) { r.set_code(std::string(600 * 1024, '#')); }, "code:"},
      {[](auto& r) { r.set_language("cobol"); }, "language:"},
      {[](auto& r) { r.mutable_limits()->set_memory_limit("abc"); },
       "limits.memory_limit:"},
      {[](auto& r) { r.mutable_limits()->set_memory_limit("-1"); },
       "limits.memory_limit:"},
      {[](auto& r) { r.mutable_limits()->set_memory_limit("1.5.3Gi"); },
       "limits.memory_limit:"},
      {[](auto& r) { r.mutable_limits()->set_cpu_limit("abc"); },
       "limits.cpu_limit:"},
      {[](auto& r) { r.mutable_limits()->set_memory_limit("100Gi"); },
       "limits.memory_limit:"},
      {[](auto& r) { r.mutable_limits()->set_timeout_seconds(100000); },
       "limits.timeout_seconds:"},
      {[](auto& r) { (*r.mutable_env())["1BAD"] = "x"; }, "env[\"1BAD\"]:"},
      {[](auto& r) { r.add_files()->set_path("/etc/passwd"); },
       "files[0].path:"},
      {[](auto& r) { r.add_files()->set_path("../../escape"); },
       "files[0].path:"},
      {[](auto& r) {
         for (int i = 0; i < 100; ++i)
           r.add_files()->set_path(std::to_string(i));
       },
       "files:"},
      {[](auto& r) {
         auto* f = r.add_files();
         f->set_path("big.bin");
         f->set_content(std::string(9 << 20, 'x'));
       },
       "files:"},
  };
  for (const Case& c : cases) {
    ExecuteRequest request = MakeRequest("print(1)");
    c.mutate(request);
    ExecuteOutcome run = Execute(*stub, request);
    EXPECT_EQ(run.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << c.field << " " << run.status.error_message();
    EXPECT_THAT(run.status.error_message(), StartsWith(c.field));
    EXPECT_FALSE(run.has_started);
  }
  auto page = ScrapeMetrics(server->metrics_port());
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(
      MetricValue(*page, "codeexec_rejected_total{reason=\"invalid_argument\"}")
          .value_or(0),
      cases.size());
}

TEST(ServiceBehaviourTest, SixteenConcurrentRunsAreAllCorrect) {
  auto server = StartServer({"--workers=8"});
  ASSERT_NE(server, nullptr);
  constexpr int kRuns = 16;
  std::vector<ExecuteOutcome> runs(kRuns);
  std::vector<std::thread> threads;
  for (int i = 0; i < kRuns; ++i) {
    threads.emplace_back([&, i] {
      auto stub = server->NewStub();
      auto request = MakeRequest(absl::StrCat(
          "import sys\nprint(", i, " * 1000 + 7)\nsys.stderr.write('e", i,
          "')\nsys.exit(", i % 3, ")"));
      runs[i] = Execute(*stub, request);
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kRuns; ++i) {
    ASSERT_TRUE(runs[i].status.ok()) << i << runs[i].status.error_message();
    EXPECT_EQ(runs[i].stdout_text, absl::StrCat(i * 1000 + 7, "\n"));
    EXPECT_EQ(runs[i].stderr_text, absl::StrCat("e", i));
    EXPECT_EQ(runs[i].finished.exit_code(), i % 3);
  }
}

TEST(ServiceBehaviourTest, MetricsPageCountsWhatHappened) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto stub = server->NewStub();
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(Execute(*stub, MakeRequest("print('12345')")).status.ok());
  }
  ASSERT_TRUE(
      Execute(*stub,
              MakeRequest("import sys; sys.stderr.write('e'); sys.exit(1)"))
          .status.ok());
  EXPECT_FALSE(Execute(*stub, MakeRequest("")).status.ok());
  auto page = ScrapeMetrics(server->metrics_port());
  ASSERT_TRUE(page.ok());
  auto value = [&](const std::string& sample) {
    auto v = MetricValue(*page, sample);
    EXPECT_TRUE(v.ok()) << sample << "\n" << *page;
    return v.value_or(-1);
  };
  EXPECT_EQ(value("codeexec_executions_total{backend=\"gvisor-local\","
                  "outcome=\"ok\"}"),
            2);
  EXPECT_EQ(value("codeexec_executions_total{backend=\"gvisor-local\","
                  "outcome=\"nonzero_exit\"}"),
            1);
  EXPECT_EQ(value("codeexec_rejected_total{reason=\"invalid_argument\"}"), 1);
  EXPECT_EQ(value("codeexec_output_bytes_total{stream=\"stdout\"}"), 12);
  EXPECT_EQ(value("codeexec_output_bytes_total{stream=\"stderr\"}"), 1);
  EXPECT_EQ(value("codeexec_inflight"), 0);
  EXPECT_EQ(value("codeexec_queue_depth"), 0);
  EXPECT_EQ(value("codeexec_execution_duration_seconds_count{backend=\"gvisor-"
                  "local\",phase=\"run\"}"),
            3);
}

TEST(ServiceBehaviourTest, SigtermLetsARunningExecutionFinish) {
  auto server = StartServer({"--set", "server.shutdownGrace=20s"});
  ASSERT_NE(server, nullptr);
  auto stub = server->NewStub();
  OpenCall call;
  call.reader = stub->Execute(
      &call.context,
      MakeRequest("import time\nprint('ready', flush=True)\ntime.sleep(2)\n"
                  "print('done')"));
  ASSERT_TRUE(call.ReadUntilReady());
  kill(server->pid(), SIGTERM);
  // New work is refused while draining.
  absl::SleepFor(absl::Milliseconds(200));
  ExecuteOutcome refused = Execute(*server->NewStub(), MakeRequest("print(1)"));
  EXPECT_FALSE(refused.status.ok());
  auto [finished, status] = call.ReadToEnd();
  EXPECT_TRUE(status.ok()) << status.error_message();
  ASSERT_TRUE(finished.has_value());
  EXPECT_EQ(finished->outcome(), Finished::OK);
  auto exit_status = server->SignalAndWait(0, absl::Seconds(30));
  ASSERT_TRUE(exit_status.ok()) << exit_status.status();
  EXPECT_TRUE(WIFEXITED(*exit_status) && WEXITSTATUS(*exit_status) == 0);
}

TEST(ServiceBehaviourTest, SigtermCancelsWhatOutlivesTheGrace) {
  auto server = StartServer({"--set", "server.shutdownGrace=1s"});
  ASSERT_NE(server, nullptr);
  auto stub = server->NewStub();
  OpenCall call;
  call.reader = stub->Execute(&call.context, MakeRequest(kReadyThenSleep));
  ASSERT_TRUE(call.ReadUntilReady());
  const absl::Time start = absl::Now();
  kill(server->pid(), SIGTERM);
  auto [finished, status] = call.ReadToEnd();
  ASSERT_TRUE(finished.has_value()) << status.error_message();
  EXPECT_EQ(finished->outcome(), Finished::CANCELLED);
  EXPECT_THAT(finished->message(), HasSubstr("shutting down"));
  auto exit_status = server->SignalAndWait(0, absl::Seconds(30));
  ASSERT_TRUE(exit_status.ok());
  EXPECT_TRUE(WIFEXITED(*exit_status) && WEXITSTATUS(*exit_status) == 0);
  EXPECT_LT(absl::Now() - start, absl::Seconds(20));
  EXPECT_TRUE(WaitNothingLeft(*server, call.execution_id).ok());
}

}  // namespace
}  // namespace codeexec::testing
