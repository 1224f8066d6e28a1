// End-to-end on a real Kubernetes: the real server binary with `backend:
// kubernetes` and a kubeconfig holding only its ServiceAccount's token, against
// the one-node cluster of scripts/e2e-cluster (official kube-apiserver,
// controller-manager, scheduler, kubelet; containerd; RuntimeClass gvisor ->
// runsc). Every test ends with no Job, Pod or ConfigMap of ours left.
#include <signal.h>
#include <sys/utsname.h>

#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/cluster_access.h"
#include "tests/server_process.h"

namespace codeexec::e2e {
namespace {

using ::codeexec::testing::Execute;
using ::codeexec::testing::ExecuteOutcome;
using ::codeexec::testing::MakeRequest;
using ::codeexec::testing::ServerProcess;
using ::codeexecutor::v1::ExecuteResponse;
using ::codeexecutor::v1::Finished;
using ::codeexecutor::v1::Output;
using ::testing::HasSubstr;

class E2eExecutionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cluster = Cluster::FromEnvFile();
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::move(*cluster);
    StartServer();
  }
  void StartServer() {
    std::vector<std::string> args = cluster_.ExecutorArgs();
    // Restarted executors find their predecessor's leftovers by replica.
    args.insert(args.end(), {"--set", "kubernetes.scheduleTimeout=60s"});
    auto server = ServerProcess::Start(args);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    stub_ = server_->NewStub();
  }
  void TearDown() override {
    absl::Status none_left = cluster_.WaitNoneLeft(absl::Seconds(30));
    EXPECT_TRUE(none_left.ok()) << none_left;
    server_.reset();
  }
  // Starts `request`, reads until its stdout contains `marker` (what was read
  // is in started_output_); returns the execution id from Started.
  std::string StartUntil(
      grpc::ClientContext& context,
      std::unique_ptr<grpc::ClientReader<ExecuteResponse>>& reader,
      const codeexecutor::v1::ExecuteRequest& request,
      const std::string& marker) {
    reader = stub_->Execute(&context, request);
    ExecuteResponse response;
    std::string id;
    std::string& out = started_output_;
    out.clear();
    while (reader->Read(&response)) {
      if (response.has_started()) id = response.started().execution_id();
      if (response.has_output()) out += response.output().data();
      if (out.find(marker) != std::string::npos) return id;
    }
    ADD_FAILURE() << "never printed " << marker << "; got " << out;
    return id;
  }

  Cluster cluster_;
  std::string started_output_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<codeexecutor::v1::CodeExecutor::Stub> stub_;
};

TEST_F(E2eExecutionTest, HelloRunsInAGvisorPodWithSeparatedStreams) {
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<ExecuteResponse>> reader;
  const std::string id = StartUntil(context, reader, MakeRequest(R"(
import platform, sys, time
print("hello", flush=True)
print("kernel", platform.release(), flush=True)
time.sleep(1)
print("oops", file=sys.stderr, flush=True)
sys.exit(3)
)"),
                                    "kernel");
  // While it runs: the Job and its pod ask for the gVisor RuntimeClass, and
  // the pod is on the cluster's node.
  auto pods =
      cluster_.GetJson({"-n", cluster_.ns(), "pods", "-l",
                        absl::StrCat("code-executor.dev/execution-id=", id)});
  ASSERT_TRUE(pods.ok()) << pods.status();
  ASSERT_EQ((*pods)["items"].size(), 1u) << pods->dump();
  const auto& pod = (*pods)["items"][0];
  EXPECT_EQ(pod["spec"]["runtimeClassName"], "gvisor");
  EXPECT_EQ(pod["spec"]["nodeName"], cluster_.Var("E2E_NODE_NAME"));

  ExecuteResponse response;
  // The rest of the stream (StartUntil consumed the first lines).
  std::string out, err;
  std::optional<Finished> finished;
  while (reader->Read(&response)) {
    if (response.has_output()) {
      (response.output().stream() == Output::STDOUT ? out : err) +=
          response.output().data();
    }
    if (response.has_finished()) finished = response.finished();
  }
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_TRUE(finished.has_value());
  EXPECT_EQ(started_output_ + out, "hello\nkernel 4.19.0-gvisor\n");
  EXPECT_EQ(err, "oops\n");
  EXPECT_EQ(finished->outcome(), Finished::NONZERO_EXIT) << finished->message();
  EXPECT_EQ(finished->exit_code(), 3);

  // The kernel the program saw is gVisor's (it reports 4.19.0-gvisor), not the
  // host's.
  ExecuteOutcome uname = Execute(
      *stub_, MakeRequest("import platform; print(platform.release())"));
  ASSERT_TRUE(uname.status.ok()) << uname.status.error_message();
  struct utsname host;
  ASSERT_EQ(::uname(&host), 0);
  EXPECT_EQ(uname.stdout_text, "4.19.0-gvisor\n");
  EXPECT_NE(uname.stdout_text, absl::StrCat(host.release, "\n"));

  // The output came through kube-apiserver's pod log endpoint, as the
  // executor's ServiceAccount (the audit log records who asked).
  const std::string audit = ReadWholeFile(cluster_.Var("E2E_AUDIT_LOG"));
  bool log_followed = false;
  for (absl::string_view line : absl::StrSplit(audit, '\n')) {
    if (line.find(id) == absl::string_view::npos) continue;
    auto entry = nlohmann::json::parse(line, nullptr, false);
    if (entry.is_discarded()) continue;
    log_followed |=
        entry["verb"] == "get" &&
        entry["objectRef"].value("subresource", "") == "log" &&
        entry["user"]["username"] == cluster_.Var("E2E_EXECUTOR_USER");
  }
  EXPECT_TRUE(log_followed)
      << "no get pods/log of " << id << " in the audit log";
}

TEST_F(E2eExecutionTest, LinesArriveEvery200MsWhileTheProgramRuns) {
  // Ten lines 200 ms apart, each carrying the time the program printed it.
  auto request = MakeRequest(R"(
import time
for i in range(10):
    print(i, repr(time.time()), flush=True)
    time.sleep(0.2)
)");
  ExecuteOutcome run = Execute(*stub_, request);
  ASSERT_TRUE(run.status.ok()) << run.status.error_message();
  ASSERT_EQ(run.finished.outcome(), Finished::OK) << run.finished.message();
  // When the client had the first line vs when the program printed the last.
  absl::Time first_received = absl::InfiniteFuture();
  for (size_t i = 0; i < run.events.size(); ++i) {
    if (run.events[i].has_output()) {
      first_received = run.received_at[i];
      break;
    }
  }
  std::vector<std::string> lines =
      absl::StrSplit(run.stdout_text, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 10u) << run.stdout_text;
  double last_printed = 0;
  std::vector<std::string> last = absl::StrSplit(lines.back(), ' ');
  ASSERT_TRUE(absl::SimpleAtod(last[1], &last_printed)) << lines.back();
  EXPECT_LT(first_received, absl::FromUnixMicros(last_printed * 1e6))
      << "the first line arrived only after the program printed its last "
         "(by "
      << absl::FormatDuration(first_received -
                              absl::FromUnixMicros(last_printed * 1e6))
      << ")";
}

TEST_F(E2eExecutionTest, TimeoutIsTimeoutAndThePodIsGone) {
  auto request = MakeRequest("import time; time.sleep(600)");
  request.mutable_limits()->set_timeout_seconds(5);
  const absl::Time start = absl::Now();
  ExecuteOutcome run = Execute(*stub_, request);
  ASSERT_TRUE(run.status.ok()) << run.status.error_message();
  EXPECT_EQ(run.finished.outcome(), Finished::TIMEOUT)
      << run.finished.message();
  EXPECT_LT(absl::Now() - start, absl::Seconds(30));
}

TEST_F(E2eExecutionTest, MemoryBombIsOomKilled) {
  auto request = MakeRequest(
      "b = bytearray(1 << 30)\nfor i in range(0, len(b), 4096): b[i] = 1\n");
  request.mutable_limits()->set_memory_limit("64Mi");
  request.mutable_limits()->set_memory_requested("64Mi");
  ExecuteOutcome run = Execute(*stub_, request);
  ASSERT_TRUE(run.status.ok()) << run.status.error_message();
  EXPECT_EQ(run.finished.outcome(), Finished::OOM_KILLED)
      << run.finished.message();
}

TEST_F(E2eExecutionTest, ClientCancelRemovesJobPodAndConfigMapInSeconds) {
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<ExecuteResponse>> reader;
  const std::string id = StartUntil(
      context, reader,
      MakeRequest("import time\nprint('ready', flush=True)\ntime.sleep(600)"),
      "ready");
  const std::string selector =
      absl::StrCat("code-executor.dev/execution-id=", id);
  auto during = cluster_.OurObjects(selector);
  ASSERT_TRUE(during.ok()) << during.status();
  EXPECT_EQ((*during)["jobs"].size(), 1u);
  EXPECT_EQ((*during)["pods"].size(), 1u);
  EXPECT_EQ((*during)["configmaps"].size(), 1u);
  const absl::Time cancelled = absl::Now();
  context.TryCancel();
  ExecuteResponse response;
  while (reader->Read(&response)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  absl::Status gone = cluster_.WaitNoneLeft(absl::Seconds(15), selector);
  EXPECT_TRUE(gone.ok()) << gone;
  std::printf("cancel -> Job, Pod and ConfigMap gone in %s\n",
              absl::FormatDuration(absl::Now() - cancelled).c_str());
}

TEST_F(E2eExecutionTest, KilledExecutorJobDeadlineThenJanitor) {
  // kill -9 the executor mid-run: its own timer dies with it, so the Job's
  // activeDeadlineSeconds (timeout + grace) is what stops the pod; the
  // restarted executor's janitor then deletes the Job and ConfigMap.
  auto request =
      MakeRequest("import time\nprint('ready', flush=True)\ntime.sleep(600)");
  request.mutable_limits()->set_timeout_seconds(3);
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<ExecuteResponse>> reader;
  const std::string id = StartUntil(context, reader, request, "ready");
  ASSERT_TRUE(server_->SignalAndWait(SIGKILL, absl::Seconds(10)).ok());
  context.TryCancel();

  absl::StatusOr<nlohmann::json> job;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  bool deadline_exceeded = false;
  while (!deadline_exceeded && absl::Now() < deadline) {
    job = cluster_.GetJson({"-n", cluster_.ns(), "job", id});
    ASSERT_TRUE(job.ok()) << job.status();
    for (const auto& condition : job->value("/status/conditions"_json_pointer,
                                            nlohmann::json::array())) {
      deadline_exceeded |= condition.value("reason", "") == "DeadlineExceeded";
    }
    if (!deadline_exceeded) absl::SleepFor(absl::Milliseconds(500));
  }
  ASSERT_TRUE(deadline_exceeded) << job->dump();
  EXPECT_EQ((*job)["spec"]["activeDeadlineSeconds"], 3 + 3);
  // The Job controller deleted the pod; Job and ConfigMap stay...
  const std::string selector =
      absl::StrCat("code-executor.dev/execution-id=", id);
  auto left = cluster_.OurObjects(selector);
  ASSERT_TRUE(left.ok());
  EXPECT_EQ((*left)["jobs"].size(), 1u);
  EXPECT_EQ((*left)["configmaps"].size(), 1u);
  // ...until the restarted executor's janitor deletes them.
  StartServer();
  absl::Status gone = cluster_.WaitNoneLeft(absl::Seconds(30), selector);
  EXPECT_TRUE(gone.ok()) << gone;
  ExecuteOutcome again = Execute(*stub_, MakeRequest("print('again')"));
  EXPECT_EQ(again.stdout_text, "again\n");
}

}  // namespace
}  // namespace codeexec::e2e
