// Whole-binary tests of containment: time, memory, processes, output,
// network and filesystem limits hold, and the service survives them.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server_process.h"
#include "tests/shared_server_test.h"

namespace codeexec::testing {
namespace {

using ::codeexecutor::v1::Finished;
using ::testing::AnyOf;
using ::testing::HasSubstr;

class SandboxLimitsTest : public SharedServerTest {
 protected:
  static void SetUpTestSuite() {
    StartSharedServer({"--set", "local.maxProcesses=32"});
  }
  // The service still runs programs after whatever the test did.
  void ExpectStillHealthy() {
    ExecuteOutcome run = Execute(*stub_, MakeRequest("print('alive')"));
    ASSERT_TRUE(run.status.ok());
    EXPECT_EQ(run.stdout_text, "alive\n");
  }
};

TEST_F(SandboxLimitsTest, TimeoutKillsTheSandbox) {
  auto request = MakeRequest(
      "import time\nprint('sleeping', flush=True)\n"
      "time.sleep(30)\nprint('woke up')");
  request.mutable_limits()->set_timeout_seconds(2);
  const absl::Time start = absl::Now();
  ExecuteOutcome run = Execute(*stub_, request);
  const absl::Duration elapsed = absl::Now() - start;
  ASSERT_TRUE(run.status.ok());
  EXPECT_EQ(run.finished.outcome(), Finished::TIMEOUT);
  EXPECT_THAT(run.finished.message(), HasSubstr("2s"));
  EXPECT_EQ(run.stdout_text, "sleeping\n");
  // Killed at ~2 s, not after the 30 s sleep (the issue's bar is ~4 s).
  EXPECT_LT(elapsed, absl::Seconds(8)) << elapsed;
  std::fprintf(stderr, "timeout run took %s\n",
               absl::FormatDuration(elapsed).c_str());
}

TEST_F(SandboxLimitsTest, CallDeadlineCapsTheRun) {
  auto request = MakeRequest("import time; time.sleep(30)");
  ExecuteOutcome run = Execute(*stub_, request, absl::Seconds(3));
  // The run is capped below the deadline, so Finished still arrives.
  ASSERT_TRUE(run.status.ok()) << run.status.error_message();
  EXPECT_EQ(run.finished.outcome(), Finished::TIMEOUT);
}

TEST_F(SandboxLimitsTest, MemoryLimitKillsWithOomKilled) {
  auto request = MakeRequest(
      "b = bytearray(1 << 30)\n"
      "for i in range(0, len(b), 4096): b[i] = 1\n"
      "print('allocated')");
  request.mutable_limits()->set_memory_limit("64Mi");
  ExecuteOutcome run = Execute(*stub_, request);
  ASSERT_TRUE(run.status.ok());
  EXPECT_EQ(run.finished.outcome(), Finished::OOM_KILLED)
      << run.finished.message() << " exit " << run.finished.exit_code();
  EXPECT_THAT(run.finished.message(), HasSubstr("64Mi"));
  EXPECT_EQ(run.stdout_text, "");
  ExpectStillHealthy();
}

TEST_F(SandboxLimitsTest, ProcessLimitStopsForks) {
  // With local.maxProcesses=32 the program's forks fail with EAGAIN.
  ExecuteOutcome run = Execute(*stub_, MakeRequest(R"(
import os, time
children = 0
try:
    for _ in range(500):
        pid = os.fork()
        if pid == 0:
            time.sleep(2)
            os._exit(0)
        children += 1
except OSError as e:
    print("fork failed:", e.errno)
print("children", children)
)"));
  ASSERT_TRUE(run.status.ok());
  EXPECT_EQ(run.finished.outcome(), Finished::OK) << run.finished.message();
  EXPECT_THAT(run.stdout_text, HasSubstr("fork failed: 11"));
  int children = -1;
  ASSERT_EQ(
      std::sscanf(
          run.stdout_text.substr(run.stdout_text.find("children")).c_str(),
          "children %d", &children),
      1);
  // RLIMIT_NPROC counts the program's user; the launcher is another.
  EXPECT_LE(children, 32);
}

TEST_F(SandboxLimitsTest, ForkBombIsContained) {
  auto request = MakeRequest(":(){ :|:& };:", "bash");
  request.mutable_limits()->set_timeout_seconds(5);
  ExecuteOutcome run = Execute(*stub_, request);
  ASSERT_TRUE(run.status.ok());
  EXPECT_THAT(run.finished.outcome(),
              AnyOf(Finished::TIMEOUT, Finished::NONZERO_EXIT, Finished::OK))
      << run.finished.message();
  EXPECT_TRUE(WaitNothingLeft(*server_, run.started.execution_id()).ok());
  ExpectStillHealthy();
}

TEST_F(SandboxLimitsTest, OutputCapTruncatesAndStops) {
  auto request = MakeRequest(
      "import sys\nchunk = 'x' * 1023 + '\\n'\n"
      "for _ in range(20 * 1024): sys.stdout.write(chunk)\n");
  request.mutable_limits()->set_max_output_bytes(1 << 20);
  ExecuteOutcome run = Execute(*stub_, request);
  ASSERT_TRUE(run.status.ok());
  EXPECT_EQ(run.finished.outcome(), Finished::OUTPUT_LIMIT);
  EXPECT_TRUE(run.finished.truncated());
  EXPECT_EQ(run.stdout_text.size() + run.stderr_text.size(), 1u << 20);
}

TEST_F(SandboxLimitsTest, NoNetworkEvenToLoopbackOfTheHost) {
  // A port the test listens on, on the host's loopback.
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)),
            0);
  ASSERT_EQ(listen(listener, 1), 0);
  socklen_t len = sizeof(addr);
  getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  const int port = ntohs(addr.sin_port);

  ExecuteOutcome run =
      Execute(*stub_, MakeRequest(absl::StrCat(R"(
import socket
try:
    socket.create_connection(("127.0.0.1", )",
                                               port, R"(), timeout=3)
    print("connected")
except OSError as e:
    print("failed:", type(e).__name__)
)")));
  close(listener);
  ASSERT_TRUE(run.status.ok());
  EXPECT_THAT(run.stdout_text, HasSubstr("failed:"));
  EXPECT_THAT(run.stdout_text, ::testing::Not(HasSubstr("connected")));
}

TEST_F(SandboxLimitsTest, RootFilesystemIsReadOnly) {
  ExecuteOutcome run = Execute(*stub_, MakeRequest(R"(
for path in ["/usr/pwned", "/etc/pwned"]:
    try:
        open(path, "w").write("x")
        print("wrote", path)
    except OSError as e:
        print("denied", path, e.errno)
)"));
  ASSERT_TRUE(run.status.ok());
  EXPECT_THAT(run.stdout_text, HasSubstr("denied /usr/pwned"));
  EXPECT_THAT(run.stdout_text, HasSubstr("denied /etc/pwned"));
  EXPECT_EQ(access("/usr/pwned", F_OK), -1);
}

TEST_F(SandboxLimitsTest, RunsAsUnprivilegedUser) {
  ExecuteOutcome run = Execute(
      *stub_, MakeRequest("import os; print(os.getuid(), os.getgid())"));
  ASSERT_TRUE(run.status.ok());
  EXPECT_EQ(run.stdout_text, "65534 65534\n");
}

}  // namespace
}  // namespace codeexec::testing
