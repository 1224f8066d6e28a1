#include "server/exec/cancellation.h"

#include <atomic>
#include <thread>

#include "gtest/gtest.h"

namespace codeexec {
namespace {

TEST(CancellationTest, FirstReasonWinsAndCallbacksRunOnce) {
  Cancellation cancel;
  int calls = 0;
  cancel.AddCallback([&] { ++calls; });
  EXPECT_FALSE(cancel.IsCancelled());
  EXPECT_EQ(cancel.Reason(), "");
  cancel.Cancel("first");
  cancel.Cancel("second");
  EXPECT_TRUE(cancel.IsCancelled());
  EXPECT_EQ(cancel.Reason(), "first");
  EXPECT_EQ(calls, 1);
}

TEST(CancellationTest, CallbackAddedAfterCancelRunsAtOnce) {
  Cancellation cancel;
  cancel.Cancel("done");
  bool ran = false;
  cancel.AddCallback([&] { ran = true; });
  EXPECT_TRUE(ran);
}

TEST(CancellationTest, RemovedCallbackDoesNotRun) {
  Cancellation cancel;
  bool ran = false;
  auto id = cancel.AddCallback([&] { ran = true; });
  cancel.RemoveCallback(id);
  cancel.Cancel("x");
  EXPECT_FALSE(ran);
}

TEST(CancellationTest, WaitForWakesOnCancelAndTimesOut) {
  Cancellation cancel;
  EXPECT_FALSE(cancel.WaitFor(absl::Milliseconds(10)));
  std::thread canceller([&] { cancel.Cancel("from another thread"); });
  EXPECT_TRUE(cancel.WaitFor(absl::Seconds(30)));
  canceller.join();
}

TEST(CancellationTest, RemoveCallbackWaitsForARunningCallback) {
  Cancellation cancel;
  std::atomic<bool> entered{false}, release{false}, finished{false};
  auto id = cancel.AddCallback([&] {
    entered = true;
    while (!release) std::this_thread::yield();
    finished = true;
  });
  std::thread canceller([&] { cancel.Cancel("x"); });
  while (!entered) std::this_thread::yield();
  std::thread releaser([&] {
    absl::SleepFor(absl::Milliseconds(20));
    release = true;
  });
  cancel.RemoveCallback(id);
  EXPECT_TRUE(finished);
  canceller.join();
  releaser.join();
}

}  // namespace
}  // namespace codeexec
