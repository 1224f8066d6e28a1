// Whole-binary tests of the kubernetes warm pool (kubernetes.warmPool) on
// the fake apiserver: runs served over pods/attach keep every byte exact;
// a stream cut mid-run ends the run SANDBOX_ERROR and leaves nothing; an
// attach the apiserver refuses sends runs down the cold path, never to an
// error, and the pool recovers; and 64 calls at once on a pool of 8 all
// succeed while the pool refills, with nothing left after the server stops.
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integrity_checks.h"
#include "tests/kube_test_fixture.h"
#include "tests/server_process.h"

namespace codeexec::testing {
namespace {

using ::codeexecutor::v1::Finished;
using ::testing::HasSubstr;

constexpr char kIdle[] = "codeexec_warm_pool_idle{backend=\"kubernetes\"}";
constexpr char kClaims[] =
    "codeexec_warm_pool_claims_total{backend=\"kubernetes\"}";
constexpr char kStartFailures[] =
    "codeexec_warm_pool_start_failures_total{backend=\"kubernetes\"}";
constexpr char kColdEmpty[] =
    "codeexec_warm_pool_cold_runs_total{backend=\"kubernetes\","
    "reason=\"empty\"}";

std::vector<std::string> WarmPoolArgs(int size) {
  return {"--set", absl::StrCat("kubernetes.warmPool.size=", size), "--set",
          "kubernetes.warmPool.maxStarting=4"};
}

class KubeWarmPoolTest : public KubeBackendTest {
 protected:
  void SetUp() override { StartFake(); }
  // The pool's pods live as long as the server: stop it (SIGTERM, as the
  // kubelet would) before the fixture looks for leftovers.
  void TearDown() override {
    server_.reset();
    KubeBackendTest::TearDown();
  }

  double Sample(const std::string& sample) {
    absl::StatusOr<std::string> page = ScrapeMetrics(server_->metrics_port());
    if (!page.ok()) return -1;
    return MetricValue(*page, sample).value_or(0);
  }
  // Until the pool holds `idle` ready pods.
  bool WaitForIdle(int idle, absl::Duration timeout = absl::Seconds(90)) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      if (Sample(kIdle) >= idle) return true;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return false;
  }
};

TEST_F(KubeWarmPoolTest, WarmRunsKeepEveryByte) {
  StartServer(WarmPoolArgs(2));
  ASSERT_TRUE(WaitForIdle(2)) << server_->Log();
  const int64_t code_config_maps = fake_->RequestCount("create", "configmaps");
  CheckSingleWritesArriveWhole(*stub_, WriteMethod::kOsWrite);
  EXPECT_EQ(Sample(kClaims), 1);
  // A warm run writes no ConfigMap: the request went over the attach.
  EXPECT_EQ(fake_->RequestCount("create", "configmaps"), code_config_maps);
  CheckInterleavingKept(*stub_);
  EXPECT_EQ(Sample(kClaims), 2);
}

TEST_F(KubeWarmPoolTest, AStreamCutMidRunIsASandboxErrorAndLeavesNothing) {
  // Both pool pods' streams (attached when they start) are cut after 3000
  // bytes of the launcher's frames.
  fake_->faults().DropNextAttachStreams(2, 3000);
  StartServer(WarmPoolArgs(2));
  ASSERT_TRUE(WaitForIdle(2)) << server_->Log();
  const ExecuteOutcome run =
      Execute(*stub_, MakeRequest("import sys\nfor i in range(2000):\n"
                                  "    sys.stdout.write('%05d ' % i * 10)\n"
                                  "    sys.stdout.flush()\n"));
  ASSERT_TRUE(run.status.ok()) << run.status.error_message();
  EXPECT_EQ(run.finished.outcome(), Finished::SANDBOX_ERROR)
      << run.finished.message();
  EXPECT_THAT(run.finished.message(),
              HasSubstr("the connection to the warm pod broke"));
  EXPECT_LT(run.stdout_text.size(), 3000u);
  EXPECT_EQ(Sample(kClaims), 1);
  // The next run is served whole (the other pod's stream is cut too, so
  // it may be the refilled one's).
  const std::string expected = "ok\n";
  for (int i = 0; i < 3; ++i) {
    const ExecuteOutcome next = Execute(*stub_, MakeRequest("print('ok')"));
    ASSERT_TRUE(next.status.ok()) << next.status.error_message();
    if (next.finished.outcome() == Finished::OK) {
      EXPECT_EQ(next.stdout_text, expected);
      break;
    }
    EXPECT_EQ(next.finished.outcome(), Finished::SANDBOX_ERROR) << i;
  }
  // TearDown: no Job, pod or ConfigMap of ours is left.
}

TEST_F(KubeWarmPoolTest, RefusedAttachesSendRunsColdAndThePoolRecovers) {
  fake_->FailNext(
      {.verb = "get", .resource = "pods/attach", .name = "", .ns = ""}, -1, 500,
      "attach refused on purpose");
  StartServer(WarmPoolArgs(2));
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (Sample(kStartFailures) < 1 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_GE(Sample(kStartFailures), 1) << server_->Log();
  const ExecuteOutcome cold = Execute(*stub_, MakeRequest("print('cold')"));
  ASSERT_TRUE(cold.status.ok()) << cold.status.error_message();
  EXPECT_EQ(cold.finished.outcome(), Finished::OK) << cold.finished.message();
  EXPECT_EQ(cold.stdout_text, "cold\n");
  EXPECT_EQ(Sample(kClaims), 0);
  EXPECT_GE(Sample(kColdEmpty), 1);

  fake_->ClearFaults();
  ASSERT_TRUE(WaitForIdle(2)) << server_->Log();
  const ExecuteOutcome warm = Execute(*stub_, MakeRequest("print('warm')"));
  ASSERT_TRUE(warm.status.ok()) << warm.status.error_message();
  EXPECT_EQ(warm.stdout_text, "warm\n");
  EXPECT_EQ(Sample(kClaims), 1);
}

// The control plane under load: instant pods, 64 calls at once, a pool of 8.
TEST_F(KubeWarmPoolTest, SixtyFourInFlightOnAPoolOfEight) {
  constexpr int kPool = 8;
  constexpr int kCalls = 64;
  server_.reset();
  fake_->Stop();
  FakeKubeOptions options;
  options.kubelet.mode = KubeletMode::kInstant;
  options.kubelet.instant_log = "@ce1 o MQo=\n@ce1 x 0\n";  // "1\n"
  StartFake(options);
  std::vector<std::string> args = WarmPoolArgs(kPool);
  args.insert(args.end(), {"--workers=64", "--set", "kubernetes.qps=1000",
                           "--set", "kubernetes.burst=1000"});
  StartServer(args);
  ASSERT_TRUE(WaitForIdle(kPool)) << server_->Log();
  std::vector<ExecuteOutcome> runs(kCalls);
  std::vector<std::thread> threads;
  for (int i = 0; i < kCalls; ++i) {
    threads.emplace_back([&, i] {
      auto stub = server_->NewStub();
      runs[i] = Execute(*stub, MakeRequest("print(1)"), absl::Seconds(120));
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int i = 0; i < kCalls; ++i) {
    SCOPED_TRACE(i);
    ASSERT_TRUE(runs[i].status.ok()) << runs[i].status.error_message();
    EXPECT_EQ(runs[i].finished.outcome(), Finished::OK)
        << runs[i].finished.message();
    EXPECT_EQ(runs[i].stdout_text, "1\n");
  }
  const double claims = Sample(kClaims);
  std::printf("[ measure ] %d calls, pool of %d: %.0f warm, %.0f cold\n",
              kCalls, kPool, claims, Sample(kColdEmpty));
  EXPECT_GE(claims, kPool);
  EXPECT_EQ(claims + Sample(kColdEmpty), kCalls);
  // The pool refills to its size.
  EXPECT_TRUE(WaitForIdle(kPool)) << server_->Log();
  // TearDown: at shutdown the server deletes its pool; nothing is left.
}

}  // namespace
}  // namespace codeexec::testing
