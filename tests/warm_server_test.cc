// Whole-binary tests of the gvisor-local warm pool (local.warmPool.size=2):
// through the real server and a real gRPC client, runs served from warm
// sandboxes keep every byte exact and the launcher's guarantees, concurrent
// runs beyond the pool's size still all succeed, the pool's metrics are
// scraped over HTTP, and a server that stops leaves no sandbox behind.
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integrity_checks.h"
#include "tests/server_process.h"
#include "tests/shared_server_test.h"

namespace codeexec::testing {
namespace {

using ::codeexecutor::v1::ExecuteRequest;
using ::codeexecutor::v1::Finished;

constexpr int kPoolSize = 2;
constexpr char kIdleSample[] =
    "codeexec_warm_pool_idle{backend=\"gvisor-local\"}";
constexpr char kClaimsSample[] =
    "codeexec_warm_pool_claims_total{backend=\"gvisor-local\"}";

double Sample(const ServerProcess& server, const std::string& sample) {
  absl::StatusOr<std::string> page = ScrapeMetrics(server.metrics_port());
  if (!page.ok()) return -1;
  return MetricValue(*page, sample).value_or(0);
}

// Waits until the pool reports `idle` ready sandboxes.
bool WaitForIdle(const ServerProcess& server, int idle) {
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (absl::Now() < deadline) {
    if (Sample(server, kIdleSample) >= idle) return true;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return false;
}

class WarmPoolServerTest : public SharedServerTest {
 protected:
  static void SetUpTestSuite() {
    StartSharedServer({"--set", absl::StrCat("local.warmPool.size=", kPoolSize),
                       "--set", "local.warmPool.maxStarting=2"});
  }
  void SetUp() override {
    SharedServerTest::SetUp();
    ASSERT_TRUE(WaitForIdle(*server_, kPoolSize)) << server_->Log();
    claims_before_ = Sample(*server_, kClaimsSample);
  }
  // Whether the server's pool served the runs of this test so far.
  double ClaimsSinceSetUp() {
    return Sample(*server_, kClaimsSample) - claims_before_;
  }

  double claims_before_ = 0;
};

TEST_F(WarmPoolServerTest, SingleWritesArriveWholeFromAWarmSandbox) {
  CheckSingleWritesArriveWhole(*stub_, WriteMethod::kOsWrite);
  EXPECT_EQ(ClaimsSinceSetUp(), 1);
}

TEST_F(WarmPoolServerTest, InterleavingIsKeptInAWarmSandbox) {
  CheckInterleavingKept(*stub_);
  EXPECT_EQ(ClaimsSinceSetUp(), 1);
}

TEST_F(WarmPoolServerTest, LauncherSurvivesSignalsInAWarmSandbox) {
  CheckLauncherSurvivesCatchableSignals(*stub_);
  EXPECT_EQ(ClaimsSinceSetUp(), 1);
}

TEST_F(WarmPoolServerTest, RunscLookalikeIsTheProgramsOwnInAWarmSandbox) {
  CheckRunscLookalikeIsTheProgramsOwn(*stub_);
  EXPECT_EQ(ClaimsSinceSetUp(), 1);
}

// The default language's interpreter is started ahead in each warm
// sandbox (PRESTART); a run that sets env of its own gets a fresh one in
// the same sandbox. Both see the same, in gVisor, byte for byte.
TEST_F(WarmPoolServerTest, APrestartedInterpreterRunsLikeAFreshOne) {
  const std::string probe =
      "import sys\n"
      "sys.stdout.write(open('/proc/self/cmdline').read().split('\\0')[1])\n";
  ExecuteOutcome run = Execute(*stub_, MakeRequest(probe));
  EXPECT_EQ(run.stdout_text, "-c") << run.stderr_text;
  ExecuteRequest fresh = MakeRequest(probe);
  (*fresh.mutable_env())["FRESH_INTERPRETER"] = "1";
  ASSERT_TRUE(WaitForIdle(*server_, kPoolSize));
  run = Execute(*stub_, fresh);
  EXPECT_EQ(run.stdout_text, "main.py") << run.stderr_text;

  const std::vector<std::string> programs = {
      "import sys, os\n"
      "print(sys.argv, sys.orig_argv, sys.path, __file__, __name__,\n"
      "      sorted(vars(sys.modules['__main__'])), sys.flags,\n"
      "      sorted(sys.modules), sorted(os.listdir('/proc/self/fd')),\n"
      "      os.getcwd(), os.getuid(), sys.stdin.read())\n",
      "def f():\n    raise ValueError('boom')\nprint('before')\nf()\n",
      "x = (\n",
      "import sys\nsys.exit('bye')\n",
      "import os, signal\nos.kill(os.getpid(), signal.SIGINT)\n",
  };
  for (const std::string& program : programs) {
    SCOPED_TRACE(program);
    ExecuteRequest warm = MakeRequest(program);
    warm.set_stdin("stdin bytes\xff\n");
    ExecuteRequest cold = warm;
    (*cold.mutable_env())["FRESH_INTERPRETER"] = "1";
    // Each from a ready warm sandbox (with its interpreter started).
    ASSERT_TRUE(WaitForIdle(*server_, kPoolSize));
    const ExecuteOutcome started = Execute(*stub_, warm);
    ASSERT_TRUE(WaitForIdle(*server_, kPoolSize));
    const ExecuteOutcome fresh_run = Execute(*stub_, cold);
    ASSERT_TRUE(started.status.ok() && fresh_run.status.ok());
    EXPECT_EQ(started.stdout_text, fresh_run.stdout_text);
    EXPECT_EQ(started.stderr_text, fresh_run.stderr_text);
    EXPECT_EQ(started.finished.exit_code(), fresh_run.finished.exit_code());
    EXPECT_EQ(started.finished.outcome(), fresh_run.finished.outcome());
  }
  EXPECT_EQ(ClaimsSinceSetUp(), 2 + 2 * programs.size());
}

TEST_F(WarmPoolServerTest, MoreRunsThanThePoolAllSucceed) {
  // Six at once against two warm sandboxes: some run warm, the rest cold,
  // every one exact.
  constexpr int kRuns = 6;
  std::vector<ExecuteOutcome> runs(kRuns);
  std::vector<std::thread> threads;
  for (int i = 0; i < kRuns; ++i) {
    threads.emplace_back([&, i] {
      auto stub = server_->NewStub();
      runs[i] =
          Execute(*stub, MakeRequest(absl::StrCat("import sys\n"
                                                  "sys.stdout.write('run ",
                                                  i, " ' + 'x' * 100000)\n")));
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int i = 0; i < kRuns; ++i) {
    SCOPED_TRACE(i);
    ASSERT_TRUE(runs[i].status.ok()) << runs[i].status.error_message();
    EXPECT_EQ(runs[i].finished.outcome(), Finished::OK)
        << runs[i].finished.message();
    EXPECT_EQ(Digest(runs[i].stdout_text),
              Digest(absl::StrCat("run ", i, " ", std::string(100000, 'x'))));
  }
  EXPECT_GE(ClaimsSinceSetUp(), 1);
  EXPECT_LE(ClaimsSinceSetUp(), kRuns);
  // The pool refills.
  EXPECT_TRUE(WaitForIdle(*server_, kPoolSize));
}

TEST(WarmPoolShutdownTest, StoppedServerLeavesNoWarmSandbox) {
  auto started = ServerProcess::Start(
      {"--set", absl::StrCat("local.warmPool.size=", kPoolSize)});
  ASSERT_TRUE(started.ok()) << started.status();
  std::unique_ptr<ServerProcess> server = *std::move(started);
  ASSERT_TRUE(WaitForIdle(*server, kPoolSize)) << server->Log();
  const std::string state_dir = server->state_dir();
  // runsc runs with --root <stateDir>/runsc; the server names only stateDir.
  const std::string runsc_root = state_dir + "/runsc";
  ASSERT_FALSE(ProcessesMatching(runsc_root).empty())
      << "the warm sandboxes' runsc processes name their root";
  absl::StatusOr<int> status =
      server->SignalAndWait(SIGTERM, absl::Seconds(60));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
  EXPECT_THAT(ProcessesMatching(runsc_root), ::testing::IsEmpty());
  EXPECT_THAT(ListDir(state_dir + "/bundles"), ::testing::IsEmpty());
}

}  // namespace
}  // namespace codeexec::testing
