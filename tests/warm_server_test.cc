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
