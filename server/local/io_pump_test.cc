// IoPump with a shell standing in for `runsc run`: what it prints on stdout
// are launcher frames, what it prints on stderr is runsc's own. The
// backpressure tests: a sink without room stops the reading (the writer
// blocks) without stopping the deadline, the wake-up or the drain after exit.
#include "server/local/io_pump.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace codeexec {
namespace {

class RecordingSink : public OutputSink {
 public:
  void OnOutput(OutputStream stream, std::string_view data) override {
    (stream == OutputStream::kStdout ? stdout_ : stderr_).append(data);
    order_.push_back(stream);
  }
  std::string stdout_;
  std::string stderr_;
  std::vector<OutputStream> order_;
};

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

class IoPumpTest : public testing::Test {
 protected:
  void SetUp() override { spec_.max_output_bytes = int64_t{64} << 20; }
  ExecutionSpec spec_;
  RecordingSink sink_;
};

TEST_F(IoPumpTest, FramesBecomeOutputAndTheExitRecord) {
  // "out\n" = b3V0Cg==, "err" = ZXJy, path "r.txt" = ci50eHQ=, "hi" = aGk=
  ChildProcess child = SpawnShell(
      "echo '@ce1 o b3V0Cg=='; echo '@ce1 e ZXJy'; "
      "echo '@ce1 f ci50eHQ= aGk='; echo '@ce1 x 3'");
  LauncherOutput output(spec_, sink_);
  IoPump pump(child, output, sink_);
  EXPECT_EQ(pump.Run(In(absl::Seconds(30)), -1), IoPump::Stop::kExited);
  EXPECT_EQ(sink_.stdout_, "out\n");
  EXPECT_EQ(sink_.stderr_, "err");
  EXPECT_THAT(sink_.order_, testing::ElementsAre(OutputStream::kStdout,
                                                 OutputStream::kStderr));
  EXPECT_EQ(output.exit_code(), 3);
  ExecutionResult result;
  output.TakeFiles(result);
  ASSERT_EQ(result.output_files.size(), 1u);
  EXPECT_EQ(result.output_files[0].path, "r.txt");
  EXPECT_EQ(result.output_files[0].content, "hi");
  EXPECT_TRUE(pump.first_output_time().has_value());
}

TEST_F(IoPumpTest, RunscStderrIsKeptApartAndNeverOutput) {
  ChildProcess child = SpawnShell(
      "echo 'running container: starting container: boom' >&2; exit 128");
  LauncherOutput output(spec_, sink_);
  IoPump pump(child, output, sink_);
  EXPECT_EQ(pump.Run(In(absl::Seconds(30)), -1), IoPump::Stop::kExited);
  EXPECT_EQ(pump.runsc_stderr(),
            "running container: starting container: boom\n");
  EXPECT_TRUE(sink_.stderr_.empty());
  EXPECT_FALSE(output.exit_code().has_value());
}

TEST_F(IoPumpTest, RunscStderrIsBounded) {
  ChildProcess child = SpawnShell("head -c 1000000 /dev/zero >&2");
  LauncherOutput output(spec_, sink_);
  IoPump pump(child, output, sink_);
  EXPECT_EQ(pump.Run(In(absl::Seconds(30)), -1), IoPump::Stop::kExited);
  EXPECT_EQ(pump.runsc_stderr().size(), IoPump::kMaxStderrBytes);
}

TEST_F(IoPumpTest, ManyFramesSplitAnywhereArriveWhole) {
  // 20000 frames of "abc" (YWJj) written in one go.
  ChildProcess child = SpawnShell(
      "i=0; while [ $i -lt 20000 ]; do echo '@ce1 o YWJj'; i=$((i+1)); done;"
      " echo '@ce1 x 0'");
  LauncherOutput output(spec_, sink_);
  IoPump pump(child, output, sink_);
  EXPECT_EQ(pump.Run(In(absl::Seconds(60)), -1), IoPump::Stop::kExited);
  EXPECT_EQ(sink_.stdout_.size(), 60000u);
  EXPECT_EQ(output.exit_code(), 0);
}

TEST_F(IoPumpTest, OutputLimitStopsOnceThenDrains) {
  spec_.max_output_bytes = 4;
  ChildProcess child = SpawnShell(
      "echo '@ce1 o YWJj'; echo '@ce1 o YWJj'; sleep 0.2; echo '@ce1 x 0'");
  LauncherOutput output(spec_, sink_);
  IoPump pump(child, output, sink_);
  EXPECT_EQ(pump.Run(In(absl::Seconds(30)), -1), IoPump::Stop::kOutputLimit);
  EXPECT_EQ(sink_.stdout_, "abca");
  EXPECT_EQ(pump.Run(In(absl::Seconds(30)), -1), IoPump::Stop::kExited);
  EXPECT_EQ(sink_.stdout_, "abca");
}

TEST_F(IoPumpTest, DeadlineAndWakeup) {
  ChildProcess child = SpawnShell("sleep 30");
  LauncherOutput output(spec_, sink_);
  IoPump pump(child, output, sink_);
  const absl::Time start = absl::Now();
  EXPECT_EQ(pump.Run(start + absl::Milliseconds(200), -1),
            IoPump::Stop::kDeadline);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(200));
  UniqueFd wakeup(eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK));
  EXPECT_EQ(pump.Run(In(absl::Seconds(30)), wakeup.get()),
            IoPump::Stop::kWakeup);
  child.Kill();
  child.WaitBlocking();
}

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
