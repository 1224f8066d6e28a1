#include "server/exec/warm_pool.h"

#include <atomic>
#include <memory>
#include <set>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace codeexec {
namespace {

constexpr absl::Duration kPatience = absl::Seconds(10);

// Records what the pool asks of a backend. Its sandboxes are numbers with an
// alive flag (unit-test double: the backends' real sandboxes are tested in
// their own suites).
class Recorder {
 public:
  class Sandbox : public WarmSandbox {
   public:
    explicit Sandbox(int number) : number(number) {}
    bool Alive() override { return alive.load(); }
    const int number;
    std::atomic<bool> alive{true};
  };

  WarmPool::Hooks Hooks() {
    WarmPool::Hooks hooks;
    hooks.start = [this]() -> absl::StatusOr<std::unique_ptr<WarmSandbox>> {
      absl::MutexLock lock(&mu_);
      ++starts_;
      if (fail_starts_) return absl::UnavailableError("no runtime");
      auto sandbox = std::make_unique<Sandbox>(starts_);
      started_.push_back(sandbox.get());
      return sandbox;
    };
    hooks.retire = [this](std::unique_ptr<WarmSandbox> sandbox) {
      absl::MutexLock lock(&mu_);
      retired_.insert(static_cast<Sandbox*>(sandbox.get())->number);
    };
    hooks.on_start_failure = [this](const absl::Status&) {
      absl::MutexLock lock(&mu_);
      ++failures_;
    };
    return hooks;
  }

  void FailStarts(bool fail) {
    absl::MutexLock lock(&mu_);
    fail_starts_ = fail;
  }
  int starts() {
    absl::MutexLock lock(&mu_);
    return starts_;
  }
  int failures() {
    absl::MutexLock lock(&mu_);
    return failures_;
  }
  std::set<int> retired() {
    absl::MutexLock lock(&mu_);
    return retired_;
  }
  // The sandbox of start number `n` (1-based); it must have been started.
  Sandbox* started(int n) {
    absl::MutexLock lock(&mu_);
    return started_.at(n - 1);
  }
  bool WaitForRetired(int number) {
    const absl::Time deadline = absl::Now() + kPatience;
    while (absl::Now() < deadline) {
      if (retired().count(number) > 0) return true;
      absl::SleepFor(absl::Milliseconds(5));
    }
    return false;
  }

 private:
  absl::Mutex mu_;
  int starts_ = 0;
  int failures_ = 0;
  bool fail_starts_ = false;
  std::vector<Sandbox*> started_;
  std::set<int> retired_;
};

int Number(const std::unique_ptr<WarmSandbox>& sandbox) {
  return static_cast<Recorder::Sandbox*>(sandbox.get())->number;
}

TEST(WarmPoolTest, SizeZeroStartsNothingAndClaimsNothing) {
  Recorder recorder;
  WarmPool pool(WarmPoolOptions{}, recorder.Hooks());
  EXPECT_FALSE(pool.enabled());
  EXPECT_EQ(pool.Claim(), nullptr);
  EXPECT_FALSE(pool.WaitForIdle(1, absl::Now() + absl::Milliseconds(50)));
  EXPECT_EQ(recorder.starts(), 0);
}

TEST(WarmPoolTest, FillsToSizeAndRefillsAfterEachClaim) {
  Recorder recorder;
  WarmPool pool(WarmPoolOptions{.size = 3}, recorder.Hooks());
  ASSERT_TRUE(pool.WaitForIdle(3, absl::Now() + kPatience));
  EXPECT_EQ(recorder.starts(), 3);

  std::unique_ptr<WarmSandbox> first = pool.Claim();
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(Number(first), 1) << "the oldest idle sandbox goes first";
  ASSERT_TRUE(pool.WaitForIdle(3, absl::Now() + kPatience));
  EXPECT_EQ(recorder.starts(), 4);
  // The claimed sandbox is the claimer's: the pool never retires it.
  EXPECT_TRUE(recorder.retired().empty());
  EXPECT_EQ(pool.Counts().idle, 3);
  EXPECT_EQ(pool.Counts().starting, 0);
}

TEST(WarmPoolTest, DeadSandboxIsSkippedAndRetired) {
  Recorder recorder;
  WarmPool pool(WarmPoolOptions{.size = 2}, recorder.Hooks());
  ASSERT_TRUE(pool.WaitForIdle(2, absl::Now() + kPatience));
  recorder.started(1)->alive = false;

  std::unique_ptr<WarmSandbox> claimed = pool.Claim();
  ASSERT_NE(claimed, nullptr);
  EXPECT_EQ(Number(claimed), 2);
  EXPECT_TRUE(recorder.WaitForRetired(1));
  ASSERT_TRUE(pool.WaitForIdle(2, absl::Now() + kPatience));
}

TEST(WarmPoolTest, AllDeadMeansNoSandbox) {
  Recorder recorder;
  WarmPool pool(WarmPoolOptions{.size = 1}, recorder.Hooks());
  ASSERT_TRUE(pool.WaitForIdle(1, absl::Now() + kPatience));
  recorder.started(1)->alive = false;
  EXPECT_EQ(pool.Claim(), nullptr);
  EXPECT_TRUE(recorder.WaitForRetired(1));
}

TEST(WarmPoolTest, SandboxesOlderThanMaxAgeAreReplaced) {
  Recorder recorder;
  WarmPool pool(WarmPoolOptions{.size = 1, .max_age = absl::Milliseconds(100)},
                recorder.Hooks());
  ASSERT_TRUE(pool.WaitForIdle(1, absl::Now() + kPatience));
  // Without any claim, the first is retired when it expires and replaced.
  EXPECT_TRUE(recorder.WaitForRetired(1));
  ASSERT_TRUE(pool.WaitForIdle(1, absl::Now() + kPatience));
  EXPECT_GE(recorder.starts(), 2);
}

TEST(WarmPoolTest, ExpiredSandboxIsNeverClaimed) {
  Recorder recorder;
  WarmPool pool(WarmPoolOptions{.size = 1, .max_age = absl::ZeroDuration()},
                recorder.Hooks());
  // Every sandbox is expired the moment it is ready.
  const absl::Time deadline = absl::Now() + absl::Milliseconds(200);
  while (absl::Now() < deadline) {
    EXPECT_EQ(pool.Claim(), nullptr);
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_GE(recorder.starts(), 1);
}

TEST(WarmPoolTest, FailedStartsBackOff) {
  Recorder recorder;
  recorder.FailStarts(true);
  WarmPool pool(WarmPoolOptions{.size = 2,
                                .start_backoff = absl::Seconds(60),
                                .max_start_backoff = absl::Seconds(60)},
                recorder.Hooks());
  const absl::Time deadline = absl::Now() + kPatience;
  while (recorder.failures() < 1 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  absl::SleepFor(absl::Milliseconds(200));
  // One failure, then a 60 s pause: not a start per loop turn.
  EXPECT_EQ(recorder.starts(), 1);
  EXPECT_EQ(recorder.failures(), 1);
  EXPECT_EQ(pool.Claim(), nullptr);
}

TEST(WarmPoolTest, DestructionRetiresEveryIdleSandbox) {
  Recorder recorder;
  {
    WarmPool pool(WarmPoolOptions{.size = 3, .max_starting = 2},
                  recorder.Hooks());
    ASSERT_TRUE(pool.WaitForIdle(3, absl::Now() + kPatience));
  }
  EXPECT_EQ(recorder.retired(), (std::set<int>{1, 2, 3}));
}

TEST(WarmPoolTest, ConcurrentClaimsNeverShareASandbox) {
  Recorder recorder;
  WarmPool pool(WarmPoolOptions{.size = 8, .max_starting = 2},
                recorder.Hooks());
  ASSERT_TRUE(pool.WaitForIdle(8, absl::Now() + kPatience));
  absl::Mutex mu;
  std::multiset<int> claimed;
  int cold = 0;
  std::vector<std::thread> threads;
  for (int i = 0; i < 64; ++i) {
    threads.emplace_back([&] {
      std::unique_ptr<WarmSandbox> sandbox = pool.Claim();
      absl::MutexLock lock(&mu);
      if (sandbox == nullptr) {
        ++cold;
      } else {
        claimed.insert(Number(sandbox));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::set<int> distinct(claimed.begin(), claimed.end());
  EXPECT_EQ(distinct.size(), claimed.size());
  EXPECT_GE(claimed.size(), 8u);
  EXPECT_EQ(static_cast<int>(claimed.size()) + cold, 64);
  ASSERT_TRUE(pool.WaitForIdle(8, absl::Now() + kPatience));
}

}  // namespace
}  // namespace codeexec
