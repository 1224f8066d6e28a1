#include "server/kube/client/rate_limiter.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace codeexec::kube {
namespace {

TEST(RateLimiterTest, BurstIsFreeThenPacedAtQps) {
  RateLimiter limiter(/*qps=*/20, /*burst=*/3);
  absl::Time start = absl::Now();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(limiter.Acquire());
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(30));
  start = absl::Now();
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(limiter.Acquire());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(180));  // 4 × 50 ms
}

TEST(RateLimiterTest, SharedByThreads) {
  RateLimiter limiter(/*qps=*/50, /*burst=*/1);
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5; ++i) limiter.Acquire();
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(350));  // 19 × 20 ms
}

TEST(RateLimiterTest, CancelWakesAWaiterAndReturnsItsToken) {
  RateLimiter limiter(/*qps=*/0.5, /*burst=*/1);
  ASSERT_TRUE(limiter.Acquire());
  Cancellation cancel;
  std::thread canceller([&] {
    absl::SleepFor(absl::Milliseconds(100));
    cancel.Cancel("stop");
  });
  const absl::Time start = absl::Now();
  EXPECT_FALSE(limiter.Acquire(&cancel));
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(800));
  canceller.join();
}

TEST(RateLimiterTest, ZeroQpsIsUnlimited) {
  RateLimiter limiter(0, 1);
  const absl::Time start = absl::Now();
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(limiter.Acquire());
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(100));
  Cancellation cancel;
  cancel.Cancel("x");
  EXPECT_FALSE(limiter.Acquire(&cancel));
}

}  // namespace
}  // namespace codeexec::kube
