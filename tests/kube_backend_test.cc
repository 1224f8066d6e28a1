// Whole-binary tests of the kubernetes backend (see kube_test_fixture.h).
// Every test ends by asserting that the fake holds no Job, Pod or ConfigMap
// of ours.
#include <signal.h>

#include <fstream>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/kube_test_fixture.h"

namespace codeexec::testing {
namespace {

using ::codeexecutor::v1::Finished;
using ::codeexecutor::v1::Output;
using fake_kube::RequestMatch;
using ::testing::HasSubstr;

TEST_F(KubeBackendTest, StreamsSeparatedOutputAndExitCode) {
  ExecuteOutcome run = Execute(*stub_, MakeRequest(R"(
import sys, time
print("out 1", flush=True); time.sleep(0.2)
print("err 1", file=sys.stderr, flush=True); time.sleep(0.2)
print("out 2", flush=True)
sys.exit(3)
)"));
  ASSERT_TRUE(run.status.ok()) << run.status.error_message();
  EXPECT_EQ(run.started.backend(), "kubernetes");
  // Output chunks are a byte stream (print() may write "err 1" and "\n"
  // separately, and under load they arrive apart): join adjacent chunks of
  // the same stream, then the order of the streams is what is checked.
  std::vector<std::string> sequence;
  for (const auto& event : run.events) {
    if (!event.has_output()) continue;
    const std::string tag =
        event.output().stream() == Output::STDOUT ? "o:" : "e:";
    if (!sequence.empty() && sequence.back().starts_with(tag)) {
      sequence.back() += event.output().data();
    } else {
      sequence.push_back(tag + event.output().data());
    }
  }
  EXPECT_THAT(sequence,
              ::testing::ElementsAre("o:out 1\n", "e:err 1\n", "o:out 2\n"));
  EXPECT_EQ(run.finished.outcome(), Finished::NONZERO_EXIT)
      << run.finished.message();
  EXPECT_EQ(run.finished.exit_code(), 3);
  // The Job was built as docs/architecture.md says.
  auto job = fake_->LastCreated("jobs");
  ASSERT_TRUE(job.has_value());
  EXPECT_EQ((*job)["spec"]["template"]["spec"]["runtimeClassName"], "gvisor");
  EXPECT_EQ((*job)["spec"]["backoffLimit"], 0);
  // One shared watch, no per-execution watch.
  EXPECT_EQ(fake_->RequestCount("watch", "pods"), 1);
}

TEST_F(KubeBackendTest, FirstLineArrivesWhileTheProgramRuns) {
  ExecuteOutcome run =
      Execute(*stub_, MakeRequest(FirstThenSecondProgram(1.5)));
  ASSERT_TRUE(run.status.ok());
  ASSERT_EQ(run.finished.outcome(), Finished::OK) << run.finished.message();
  absl::Status streamed = CheckFirstLineStreamed(run);
  EXPECT_TRUE(streamed.ok()) << streamed;
}

TEST_F(KubeBackendTest, TimeoutEndsTheRunAndDeletesTheJob) {
  auto request = MakeRequest("import time; time.sleep(60)");
  request.mutable_limits()->set_timeout_seconds(3);
  const absl::Time start = absl::Now();
  ExecuteOutcome run = Execute(*stub_, request);
  ASSERT_TRUE(run.status.ok());
  EXPECT_EQ(run.finished.outcome(), Finished::TIMEOUT)
      << run.finished.message();
  EXPECT_LT(absl::Now() - start, absl::Seconds(20));
}

TEST_F(KubeBackendTest, OomReportedByTheKubeletIsOomKilled) {
  auto request = MakeRequest(
      "b = bytearray(1 << 30)\nfor i in range(0, len(b), 4096): b[i] = 1\n");
  request.mutable_limits()->set_memory_limit("64Mi");
  ExecuteOutcome run = Execute(*stub_, request);
  ASSERT_TRUE(run.status.ok());
  EXPECT_EQ(run.finished.outcome(), Finished::OOM_KILLED)
      << run.finished.message();
}

TEST_F(KubeBackendTest, ClientCancelDeletesJobAndConfigMap) {
  grpc::ClientContext context;
  auto reader = stub_->Execute(
      &context, MakeRequest("import time\nprint('ready', flush=True)\n"
                            "time.sleep(60)"));
  codeexecutor::v1::ExecuteResponse response;
  bool ready = false;
  while (!ready && reader->Read(&response)) {
    ready = response.has_output() &&
            response.output().data().find("ready") != std::string::npos;
  }
  ASSERT_TRUE(ready);
  EXPECT_FALSE(fake_->ObjectNames("jobs", kNamespace, kOurs).empty());
  context.TryCancel();
  while (reader->Read(&response)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!fake_->HoldsNoObjects(kNamespace, kOurs) && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_TRUE(fake_->HoldsNoObjects(kNamespace, kOurs));
  EXPECT_EQ(fake_->RunningContainers(), 0);
}

TEST_F(KubeBackendTest, SlowClientPausesTheLogAndGetsEveryByte) {
  // 8 MiB in 8 KiB writes, 4x server.maxUnsentOutputBytes (2 MiB).
  grpc::ClientContext context;
  auto reader = stub_->Execute(
      &context, MakeRequest("import os\nfor i in range(1024):\n"
                            "    os.write(1, b'%07d\\n' % i * 1024)\n"));
  codeexecutor::v1::ExecuteResponse response;
  ASSERT_TRUE(reader->Read(&response));
  ASSERT_TRUE(response.has_started());
  // The follower stops taking log lines while this client reads nothing.
  double paused = 0;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (paused != 1 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(100));
    auto page = ScrapeMetrics(server_->metrics_port());
    if (page.ok()) {
      paused = MetricValue(*page, "codeexec_output_paused_runs").value_or(0);
    }
  }
  EXPECT_EQ(paused, 1);
  std::string out;
  std::optional<Finished> finished;
  while (reader->Read(&response)) {
    if (response.has_output()) out += response.output().data();
    if (response.has_finished()) finished = response.finished();
  }
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_TRUE(finished.has_value());
  EXPECT_EQ(finished->outcome(), Finished::OK) << finished->message();
  std::string expected;
  for (int i = 0; i < 1024; ++i) {
    for (int j = 0; j < 1024; ++j)
      absl::StrAppend(&expected, absl::Dec(i, absl::kZeroPad7), "\n");
  }
  EXPECT_EQ(out.size(), expected.size());
  EXPECT_TRUE(out == expected);
}

TEST_F(KubeBackendTest, CreateRetriedAfterTwo500s) {
  fake_->FailNext(
      RequestMatch{.verb = "create", .resource = "jobs", .name = "", .ns = ""},
      2, 500);
  ExecuteOutcome run = Execute(*stub_, MakeRequest("print('ok')"));
  ASSERT_TRUE(run.status.ok()) << run.status.error_message();
  EXPECT_EQ(run.stdout_text, "ok\n");
  EXPECT_EQ(fake_->RequestCount("create", "jobs"), 3);
}

TEST_F(KubeBackendTest, TooManyRequestsHonoursRetryAfter) {
  fake_->ThrottleNext(
      RequestMatch{
          .verb = "create", .resource = "configmaps", .name = "", .ns = ""},
      1, 1);
  const absl::Time start = absl::Now();
  ExecuteOutcome run = Execute(*stub_, MakeRequest("print('ok')"));
  ASSERT_TRUE(run.status.ok()) << run.status.error_message();
  EXPECT_EQ(run.stdout_text, "ok\n");
  EXPECT_GE(absl::Now() - start, absl::Seconds(1));
  EXPECT_EQ(fake_->RequestCount("create", "configmaps"), 2);
}

TEST_F(KubeBackendTest, ForbiddenIsPermissionDeniedNamingVerbAndResource) {
  fake_->Forbid("create", "jobs");
  ExecuteOutcome run = Execute(*stub_, MakeRequest("print('never')"));
  EXPECT_EQ(run.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(run.status.error_message(), HasSubstr("create"));
  EXPECT_THAT(run.status.error_message(), HasSubstr("jobs"));
  // The metrics count it as a sandbox error, with the phases it went through.
  auto page = ScrapeMetrics(server_->metrics_port());
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(MetricValue(*page,
                        "codeexec_executions_total{backend=\"kubernetes\","
                        "outcome=\"sandbox_error\"}")
                .value_or(0),
            1);
  for (const char* phase : {"queue", "create", "cleanup"}) {
    EXPECT_EQ(
        MetricValue(*page, absl::StrCat("codeexec_execution_duration_"
                                        "seconds_count{backend=\"kubernetes"
                                        "\",phase=\"",
                                        phase, "\"}"))
            .value_or(0),
        1)
        << phase << "\n"
        << *page;
  }
}

TEST_F(KubeBackendTest, ForbiddenDeleteIsLoggedAndTheJanitorCleansUpLater) {
  server_.reset();
  StartServer({"--set", "kubernetes.janitorInterval=1s"});
  fake_->Forbid("delete", "jobs");
  ExecuteOutcome run = Execute(*stub_, MakeRequest("print('ok')"));
  ASSERT_TRUE(run.status.ok()) << run.status.error_message();
  EXPECT_EQ(run.stdout_text, "ok\n");
  // One JSON warning line names what could not be deleted and why.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  nlohmann::json warning;
  while (warning.is_null() && absl::Now() < deadline) {
    for (absl::string_view line : absl::StrSplit(server_->Log(), '\n')) {
      nlohmann::json entry = nlohmann::json::parse(line, nullptr, false);
      if (entry.is_object() && entry.value("event", "") == "cleanup_failed") {
        warning = entry;
      }
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_TRUE(warning.is_object()) << server_->Log();
  EXPECT_EQ(warning["level"], "warning");
  EXPECT_EQ(warning["component"], "kubernetes");
  EXPECT_EQ(warning["resource"], "jobs");
  EXPECT_EQ(warning["name"], run.started.execution_id());
  EXPECT_THAT(warning.value("message", ""), HasSubstr("forbidden"));
  EXPECT_FALSE(fake_->ObjectNames("jobs", kNamespace, kOurs).empty());
  // Permission back: the janitor deletes the Job it left.
  fake_->ClearFaults();
  const absl::Time cleaned_by = absl::Now() + absl::Seconds(15);
  while (!fake_->HoldsNoObjects(kNamespace, kOurs) &&
         absl::Now() < cleaned_by) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_TRUE(fake_->HoldsNoObjects(kNamespace, kOurs));
}

TEST_F(KubeBackendTest, DroppedWatchAndExpiredVersionStillComplete) {
  grpc::ClientContext context;
  auto reader = stub_->Execute(
      &context, MakeRequest("import time\nprint('ready', flush=True)\n"
                            "time.sleep(1)\nprint('done')"));
  codeexecutor::v1::ExecuteResponse response;
  std::string out;
  bool dropped = false;
  std::optional<Finished> finished;
  while (reader->Read(&response)) {
    if (response.has_output()) out += response.output().data();
    if (!dropped && out.find("ready") != std::string::npos) {
      fake_->ExpireNextWatches(1);
      fake_->DropWatches();
      dropped = true;
    }
    if (response.has_finished()) finished = response.finished();
  }
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_TRUE(finished.has_value());
  EXPECT_EQ(finished->outcome(), Finished::OK) << finished->message();
  EXPECT_EQ(out, "ready\ndone\n");
  // The watch was re-established (and relisted after 410).
  EXPECT_GE(fake_->WatchConnectionsOpened(), 2);
  EXPECT_GE(fake_->RequestCount("list", "pods"), 2);
  ExecuteOutcome again = Execute(*stub_, MakeRequest("print('again')"));
  EXPECT_EQ(again.stdout_text, "again\n");
}

TEST_F(KubeBackendTest, PodStuckPendingIsSandboxErrorWithReason) {
  fake_->StickPodsPending({.reason = "ImagePullBackOff",
                           .message = "Back-off pulling image",
                           .unschedulable = false,
                           .label_selector = ""});
  ExecuteOutcome run = Execute(*stub_, MakeRequest("print(1)"));
  ASSERT_TRUE(run.status.ok());
  EXPECT_EQ(run.finished.outcome(), Finished::SANDBOX_ERROR);
  EXPECT_THAT(run.finished.message(), HasSubstr("ImagePullBackOff"));
}

TEST_F(KubeBackendTest, PodWaitingForCapacityWaitsUntilTheRunsTimeout) {
  // Unschedulable for lack of CPU is backpressure: not given up after
  // scheduleTimeout (5 s here) but after the run's own timeout, naming it.
  fake_->StickPodsPending(
      {.reason = "Unschedulable",
       .message = "0/1 nodes are available: 1 Insufficient cpu.",
       .unschedulable = true,
       .label_selector = ""});
  auto request = MakeRequest("print(1)");
  request.mutable_limits()->set_timeout_seconds(8);
  const absl::Time start = absl::Now();
  ExecuteOutcome run = Execute(*stub_, request);
  ASSERT_TRUE(run.status.ok()) << run.status.error_message();
  EXPECT_EQ(run.finished.outcome(), Finished::TIMEOUT)
      << run.finished.message();
  EXPECT_THAT(run.finished.message(), HasSubstr("Insufficient cpu"));
  EXPECT_GE(absl::Now() - start, absl::Seconds(7));
}

TEST_F(KubeBackendTest, OversizedConfigMapIsInvalidArgument) {
  auto request = MakeRequest("print(1)");
  auto* file = request.add_files();
  file->set_path("big.bin");
  file->set_content(std::string(2 << 20, 'x'));
  ExecuteOutcome run = Execute(*stub_, request);
  EXPECT_EQ(run.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(run.status.error_message(), HasSubstr("files"));
}

// Within the launcher's size of the limit: the check before queueing counts
// the same ConfigMap the run would create, launcher included.
TEST_F(KubeBackendTest, InputsThatFitOnlyWithoutTheLauncherAreInvalidArgument) {
  auto request = MakeRequest("print(1)");
  auto* file = request.add_files();
  file->set_path("big.bin");
  file->set_content(std::string((1 << 20) - 4096, 'x'));
  ExecuteOutcome run = Execute(*stub_, request);
  EXPECT_EQ(run.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << run.status.error_message() << " / " << run.finished.message();
  EXPECT_THAT(run.status.error_message(), HasSubstr("1 MiB ConfigMap limit"));
}

TEST_F(KubeBackendTest, JanitorDeletesWhatAKilledServerLeft) {
  grpc::ClientContext context;
  auto reader = stub_->Execute(
      &context, MakeRequest("import time\nprint('ready', flush=True)\n"
                            "time.sleep(60)"));
  codeexecutor::v1::ExecuteResponse response;
  while (reader->Read(&response)) {
    if (response.has_output()) break;
  }
  ASSERT_FALSE(fake_->ObjectNames("jobs", kNamespace, kOurs).empty());
  ASSERT_TRUE(server_->SignalAndWait(SIGKILL, absl::Seconds(10)).ok());
  context.TryCancel();
  // Leftovers stay while no executor runs...
  absl::SleepFor(absl::Milliseconds(500));
  EXPECT_FALSE(fake_->HoldsNoObjects(kNamespace, kOurs));
  // ...and the restarted executor's janitor deletes them at start-up.
  StartServer();
  const absl::Time deadline = absl::Now() + absl::Seconds(15);
  while (!fake_->HoldsNoObjects(kNamespace, kOurs) && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_TRUE(fake_->HoldsNoObjects(kNamespace, kOurs));
  auto page = ScrapeMetrics(server_->metrics_port());
  ASSERT_TRUE(page.ok());
  EXPECT_GE(MetricValue(*page, "codeexec_janitor_deleted_total{kind=\"jobs\"}")
                .value_or(0),
            1);
}

TEST_F(KubeBackendTest, SixtyFourConcurrentRunsAreAllCorrect) {
  server_.reset();
  // 64 gVisor pods starting at once on 2 cores take longer than the other
  // tests' 5 s schedule timeout.
  StartServer({"--workers=64", "--set", "kubernetes.scheduleTimeout=120s"});
  const int64_t watches_before = fake_->WatchConnectionsOpened();
  constexpr int kRuns = 64;
  std::vector<ExecuteOutcome> runs(kRuns);
  std::vector<std::thread> threads;
  for (int i = 0; i < kRuns; ++i) {
    threads.emplace_back([&, i] {
      auto stub = server_->NewStub();
      runs[i] = Execute(
          *stub, MakeRequest(absl::StrCat("import sys\nprint(", i,
                                          " * 3)\nsys.exit(", i % 2, ")")));
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kRuns; ++i) {
    ASSERT_TRUE(runs[i].status.ok())
        << i << " " << runs[i].status.error_message();
    EXPECT_EQ(runs[i].stdout_text, absl::StrCat(i * 3, "\n"))
        << i << " " << runs[i].finished.message();
    EXPECT_EQ(runs[i].finished.exit_code(), i % 2) << i;
  }
  // 64 runs, no watch connection of their own: the replica's one watch.
  EXPECT_EQ(fake_->WatchConnectionsOpened() - watches_before, 0);
}

}  // namespace
}  // namespace codeexec::testing
