// IoPump and OutputSink::WaitForRoom: a sink without room stops the reading
// (the program blocks on its writes) without stopping the deadline, the
// wake-up or the drain after exit. A shell stands in for `runsc run`,
// printing launcher frames.
#include <sys/eventfd.h>
#include <unistd.h>

#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "server/launcher/launcher_output.h"
#include "server/local/io_pump.h"

namespace codeexec {
namespace {

// Records output; has room only when told.
class GatedSink : public OutputSink {
 public:
  void OnOutput(OutputStream stream, std::string_view data) override {
    absl::MutexLock lock(&mu_);
    if (stream == OutputStream::kStdout) stdout_.append(data);
  }
  bool WaitForRoom(absl::Time deadline) override {
    absl::MutexLock lock(&mu_);
    ++waits_;
    mu_.AwaitWithDeadline(absl::Condition(&room_), deadline);
    return room_;
  }
  void SetRoom(bool room) {
    absl::MutexLock lock(&mu_);
    room_ = room;
  }
  size_t stdout_size() {
    absl::MutexLock lock(&mu_);
    return stdout_.size();
  }
  int waits() {
    absl::MutexLock lock(&mu_);
    return waits_;
  }

 private:
  absl::Mutex mu_;
  bool room_ ABSL_GUARDED_BY(mu_) = false;
  int waits_ ABSL_GUARDED_BY(mu_) = 0;
  std::string stdout_ ABSL_GUARDED_BY(mu_);
};

ChildProcess SpawnShell(const std::string& script) {
  absl::StatusOr<ChildProcess> child = ChildProcess::Spawn(
      {*ResolveExecutable("sh"), "-c", script}, ChildProcess::Stdio::kPipes);
  EXPECT_TRUE(child.ok()) << child.status();
  return *std::move(child);
}

absl::Time In(absl::Duration d) { return absl::Now() + d; }

// 400000 frames of "abc": 4.8 MB, far more than a pipe holds.
constexpr char kManyFrames[] = "yes '@ce1 o YWJj' | head -n 400000";

class IoPumpBackpressureTest : public ::testing::Test {
 protected:
  void SetUp() override { spec_.max_output_bytes = int64_t{64} << 20; }
  ExecutionSpec spec_;
  GatedSink sink_;
  LauncherOutput output_{spec_, sink_};
};

TEST_F(IoPumpBackpressureTest, NoRoomBlocksTheProgramUntilThereIs) {
  ChildProcess child = SpawnShell(kManyFrames);
  GatedSink& sink = sink_;
  IoPump pump(child, output_, sink);
  const absl::Time start = absl::Now();
  EXPECT_EQ(pump.Run(In(absl::Milliseconds(700)), -1), IoPump::Stop::kDeadline);
  // The deadline was kept although the sink never had room.
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  EXPECT_EQ(sink.stdout_size(), 0u);
  EXPECT_FALSE(child.reaped()) << "the writer should be blocked";
  EXPECT_GT(sink.waits(), 1);

  sink.SetRoom(true);
  EXPECT_EQ(pump.Run(In(absl::Seconds(30)), -1), IoPump::Stop::kExited);
  EXPECT_EQ(sink.stdout_size(), size_t{1200000});
}

TEST_F(IoPumpBackpressureTest, WakeupEndsAPausedPump) {
  ChildProcess child = SpawnShell(kManyFrames);
  IoPump pump(child, output_, sink_);
  int wakeup = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  ASSERT_GE(wakeup, 0);
  const uint64_t one = 1;
  ASSERT_EQ(write(wakeup, &one, sizeof(one)), 8);
  const absl::Time start = absl::Now();
  EXPECT_EQ(pump.Run(In(absl::Seconds(30)), wakeup), IoPump::Stop::kWakeup);
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  close(wakeup);
  child.Kill();
  child.WaitBlocking();
}

TEST_F(IoPumpBackpressureTest, ExitedProgramIsDrainedWithoutRoom) {
  // The output fits in the pipe and runsc exits: what is left is delivered
  // although the sink has no room, and the pump returns.
  ChildProcess child = SpawnShell("echo '@ce1 o aGVsbG8='; exit 0");
  GatedSink& sink = sink_;
  IoPump pump(child, output_, sink);
  const absl::Time start = absl::Now();
  EXPECT_EQ(pump.Run(In(absl::Seconds(30)), -1), IoPump::Stop::kExited);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_EQ(sink.stdout_size(), 5u);
}

}  // namespace
}  // namespace codeexec
