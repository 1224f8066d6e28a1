// Whole-binary tests of what a program sees and what the client gets back:
// output streams, exit codes, stdin, env, files, languages.
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server_process.h"
#include "tests/shared_server_test.h"

namespace codeexec::testing {
namespace {

using ::codeexecutor::v1::Finished;
using ::codeexecutor::v1::Output;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class ExecuteBasicsTest : public SharedServerTest {};

TEST_F(ExecuteBasicsTest, HelloWorld) {
  ExecuteOutcome run = Execute(*stub_, MakeRequest("print('hello world')"));
  ASSERT_TRUE(run.status.ok()) << run.status.error_message();
  ASSERT_TRUE(run.has_started);
  EXPECT_THAT(run.started.execution_id(), StartsWith("ce-"));
  EXPECT_EQ(run.started.execution_id().size(), 15u);
  EXPECT_EQ(run.started.backend(), "gvisor-local");
  ASSERT_TRUE(run.has_finished);
  EXPECT_EQ(run.finished.outcome(), Finished::OK);
  EXPECT_EQ(run.finished.exit_code(), 0);
  EXPECT_EQ(run.stdout_text, "hello world\n");
  EXPECT_EQ(run.stderr_text, "");
  // Started first, Finished last.
  EXPECT_TRUE(run.events.front().has_started());
  EXPECT_TRUE(run.events.back().has_finished());
}

TEST_F(ExecuteBasicsTest, RunsInsideGvisor) {
  // gVisor's sentry reports its own kernel version and its own dmesg.
  ExecuteOutcome run = Execute(
      *stub_, MakeRequest("import platform; print(platform.release())"));
  ASSERT_TRUE(run.status.ok());
  EXPECT_EQ(run.stdout_text, "4.19.0-gvisor\n");
}

TEST_F(ExecuteBasicsTest, StderrAndExitCodeArriveSeparatedAndInOrder) {
  ExecuteOutcome run = Execute(*stub_, MakeRequest(R"(
import sys, time
sys.stdout.write("out 1\n"); sys.stdout.flush(); time.sleep(0.1)
sys.stderr.write("err 1\n"); sys.stderr.flush(); time.sleep(0.1)
sys.stdout.write("out 2\n"); sys.stdout.flush()
sys.exit(3)
)"));
  ASSERT_TRUE(run.status.ok());
  std::vector<std::string> sequence;
  for (const auto& event : run.events) {
    if (event.has_output()) {
      sequence.push_back(
          (event.output().stream() == Output::STDOUT ? "stdout:" : "stderr:") +
          event.output().data());
    }
  }
  EXPECT_THAT(sequence, ElementsAre("stdout:out 1\n", "stderr:err 1\n",
                                    "stdout:out 2\n"));
  EXPECT_EQ(run.finished.outcome(), Finished::NONZERO_EXIT);
  EXPECT_EQ(run.finished.exit_code(), 3);
}

TEST_F(ExecuteBasicsTest, FirstChunkArrivesBeforeTheSecondIsPrinted) {
  // The program stamps the wall-clock time at which it prints the second
  // line; the client must have received the first line before that.
  ExecuteOutcome run = Execute(*stub_, MakeRequest(FirstThenSecondProgram(1)));
  ASSERT_TRUE(run.status.ok());
  ASSERT_EQ(run.finished.outcome(), Finished::OK) << run.finished.message();
  absl::Status streamed = CheckFirstLineStreamed(run);
  EXPECT_TRUE(streamed.ok()) << streamed;
}

TEST_F(ExecuteBasicsTest, StdinIsFedThenClosed) {
  auto request = MakeRequest(
      "import sys; data = sys.stdin.read(); "
      "print(len(data)); print(data.upper(), end='')");
  request.set_stdin("echo me\nplease\n");
  ExecuteOutcome run = Execute(*stub_, request);
  ASSERT_TRUE(run.status.ok());
  EXPECT_EQ(run.stdout_text, "15\nECHO ME\nPLEASE\n");
}

TEST_F(ExecuteBasicsTest, LargeStdinDoesNotDeadlockAgainstOutput) {
  // 512 KiB in while the program echoes it: pipes must be pumped together.
  auto request =
      MakeRequest("import sys\nfor line in sys.stdin: sys.stdout.write(line)");
  std::string input;
  while (input.size() < 512 * 1024) input += "0123456789abcdef\n";
  request.set_stdin(input);
  ExecuteOutcome run = Execute(*stub_, request);
  ASSERT_TRUE(run.status.ok());
  EXPECT_EQ(run.finished.outcome(), Finished::OK) << run.finished.message();
  EXPECT_EQ(run.stdout_text, input);
}

TEST_F(ExecuteBasicsTest, EnvIsVisible) {
  auto request = MakeRequest(
      "import os; print(os.environ['GREETING'], os.environ['COUNT'])");
  (*request.mutable_env())["GREETING"] = "hi there";
  (*request.mutable_env())["COUNT"] = "3";
  ExecuteOutcome run = Execute(*stub_, request);
  ASSERT_TRUE(run.status.ok());
  EXPECT_EQ(run.stdout_text, "hi there 3\n");
}

TEST_F(ExecuteBasicsTest, InputFileIsReadAndOutputFileReturned) {
  auto request = MakeRequest(R"(
import os
rows = open("data/input.csv").read().splitlines()
os.makedirs("out", exist_ok=True)
with open("out/result.txt", "w") as f:
    f.write("rows=%d\n" % len(rows))
print(rows[0])
)");
  auto* file = request.add_files();
  file->set_path("data/input.csv");
  file->set_content("a,b\n1,2\n3,4\n");
  ExecuteOutcome run = Execute(*stub_, request);
  ASSERT_TRUE(run.status.ok());
  EXPECT_EQ(run.finished.outcome(), Finished::OK) << run.stderr_text;
  EXPECT_EQ(run.stdout_text, "a,b\n");
  // The unchanged input and the program file are not returned.
  ASSERT_EQ(run.finished.output_files_size(), 1);
  EXPECT_EQ(run.finished.output_files(0).path(), "out/result.txt");
  EXPECT_EQ(run.finished.output_files(0).content(), "rows=3\n");
  EXPECT_FALSE(run.finished.output_files_truncated());
}

TEST_F(ExecuteBasicsTest, BashProfile) {
  auto request = MakeRequest(
      "echo \"bash $BASH_VERSINFO\"; echo oops >&2; "
      "exit 7",
      "bash");
  ExecuteOutcome run = Execute(*stub_, request);
  ASSERT_TRUE(run.status.ok());
  EXPECT_THAT(run.stdout_text, StartsWith("bash 5"));
  EXPECT_EQ(run.stderr_text, "oops\n");
  EXPECT_EQ(run.finished.exit_code(), 7);
}

TEST_F(ExecuteBasicsTest, FinishedCarriesPhaseTimings) {
  ExecuteOutcome run = Execute(*stub_, MakeRequest("pass"));
  ASSERT_TRUE(run.status.ok());
  const auto& t = run.finished.timings();
  EXPECT_TRUE(t.has_run());
  EXPECT_GT(t.run().seconds() * 1000000000LL + t.run().nanos(), 0);
  EXPECT_GT(t.total().seconds() * 1000000000LL + t.total().nanos(),
            t.run().seconds() * 1000000000LL + t.run().nanos());
  EXPECT_TRUE(run.started.has_queue_wait());
}

TEST_F(ExecuteBasicsTest, LogLineCarriesHashNotCode) {
  auto request = MakeRequest("print('top secret 12345')");
  request.set_client_request_id("log-check-1");
  ExecuteOutcome run = Execute(*stub_, request);
  ASSERT_TRUE(run.status.ok());
  const std::string log = server_->Log();
  EXPECT_THAT(log, HasSubstr("\"client_request_id\":\"log-check-1\""));
  EXPECT_THAT(log, HasSubstr("\"code_sha256\":\""));
  EXPECT_THAT(log, ::testing::Not(HasSubstr("top secret")));
}

}  // namespace
}  // namespace codeexec::testing
