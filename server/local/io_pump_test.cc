#include "server/local/io_pump.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <string>
#include <vector>

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

ChildProcess SpawnShell(const std::string& script) {
  absl::StatusOr<ChildProcess> child = ChildProcess::Spawn(
      {*ResolveExecutable("sh"), "-c", script}, ChildProcess::Stdio::kPipes);
  EXPECT_TRUE(child.ok()) << child.status();
  return *std::move(child);
}

absl::Time In(absl::Duration d) { return absl::Now() + d; }

TEST(LooksLikeRunscErrorTest, KnownPrefixes) {
  EXPECT_TRUE(LooksLikeRunscError(
      "running container: starting container: error finding executable"));
  EXPECT_TRUE(LooksLikeRunscError("reading spec: error opening spec file"));
  EXPECT_FALSE(LooksLikeRunscError("Traceback (most recent call last):"));
  EXPECT_FALSE(LooksLikeRunscError(""));
}

TEST(IoPumpTest, StdinEchoWithoutDeadlock) {
  // 4 MiB through cat: far more than the pipe buffers in both directions.
  const std::string input(4 << 20, 'q');
  ChildProcess child = SpawnShell("cat");
  RecordingSink sink;
  IoPump pump(child, input, int64_t{64} << 20, sink);
  EXPECT_EQ(pump.Run(In(absl::Seconds(30)), -1), IoPump::Stop::kExited);
  EXPECT_EQ(sink.stdout_.size(), input.size());
  EXPECT_EQ(sink.stdout_, input);
  EXPECT_EQ(ShellExitCode(child.wait_status()), 0);
  EXPECT_TRUE(pump.first_output_time().has_value());
}

TEST(IoPumpTest, ProgramThatIgnoresStdin) {
  const std::string input(1 << 20, 'q');
  ChildProcess child = SpawnShell("exec 0<&-; echo done");
  RecordingSink sink;
  IoPump pump(child, input, 1 << 20, sink);
  EXPECT_EQ(pump.Run(In(absl::Seconds(30)), -1), IoPump::Stop::kExited);
  EXPECT_EQ(sink.stdout_, "done\n");
}

TEST(IoPumpTest, OutputLimitDeliversExactlyTheCap) {
  ChildProcess child = SpawnShell("head -c 300000 /dev/zero; sleep 30");
  RecordingSink sink;
  IoPump pump(child, "", 100000, sink);
  EXPECT_EQ(pump.Run(In(absl::Seconds(30)), -1), IoPump::Stop::kOutputLimit);
  EXPECT_EQ(sink.stdout_.size(), 100000u);
  EXPECT_TRUE(pump.output_limit_reached());
  child.Kill();
  // Draining after the kill drops further output and reports the exit.
  EXPECT_EQ(pump.Run(In(absl::Seconds(10)), -1), IoPump::Stop::kExited);
  EXPECT_EQ(pump.delivered_bytes(), 100000);
}

TEST(IoPumpTest, OutputExactlyAtTheCapIsNotOverIt) {
  ChildProcess child = SpawnShell("printf 12345");
  RecordingSink sink;
  IoPump pump(child, "", 5, sink);
  EXPECT_EQ(pump.Run(In(absl::Seconds(10)), -1), IoPump::Stop::kExited);
  EXPECT_FALSE(pump.output_limit_reached());
  EXPECT_EQ(sink.stdout_, "12345");
}

TEST(IoPumpTest, DeadlineAndWakeup) {
  ChildProcess child = SpawnShell("exec sleep 30");
  RecordingSink sink;
  IoPump pump(child, "", 100, sink);
  const absl::Time start = absl::Now();
  EXPECT_EQ(pump.Run(In(absl::Milliseconds(200)), -1), IoPump::Stop::kDeadline);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(190));

  int wakeup = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  uint64_t one = 1;
  ASSERT_EQ(write(wakeup, &one, sizeof(one)), 8);
  EXPECT_EQ(pump.Run(In(absl::Seconds(30)), wakeup), IoPump::Stop::kWakeup);
  close(wakeup);
  child.Kill();
  EXPECT_EQ(pump.Run(In(absl::Seconds(10)), -1), IoPump::Stop::kExited);
  EXPECT_EQ(ShellExitCode(child.wait_status()), 137);
}

TEST(IoPumpTest, HoldsWhatLooksLikeARunscError) {
  ChildProcess child = SpawnShell(
      "printf 'running container: ' >&2; sleep 0.1; "
      "echo 'starting container: no such file' >&2; exit 128");
  RecordingSink sink;
  IoPump pump(child, "", 1000, sink);
  EXPECT_EQ(pump.Run(In(absl::Seconds(10)), -1), IoPump::Stop::kExited);
  EXPECT_EQ(sink.stderr_, "");
  EXPECT_EQ(pump.held_stderr(),
            "running container: starting container: no such file\n");
  // If it turns out to be the program's, it is delivered after all.
  const std::string held = pump.held_stderr();
  pump.ReleaseHeldStderr();
  EXPECT_EQ(sink.stderr_, held);
  EXPECT_EQ(pump.held_stderr(), "");
}

TEST(IoPumpTest, ProgramStderrFlowsAndKeepsOrderWithStdout) {
  ChildProcess child = SpawnShell(
      "echo 'runaway' >&2; sleep 0.1; echo out; sleep 0.1; echo err2 >&2");
  RecordingSink sink;
  IoPump pump(child, "", 1000, sink);
  EXPECT_EQ(pump.Run(In(absl::Seconds(10)), -1), IoPump::Stop::kExited);
  EXPECT_EQ(sink.stderr_, "runaway\nerr2\n");
  EXPECT_EQ(sink.stdout_, "out\n");
  EXPECT_THAT(sink.order_,
              testing::ElementsAre(OutputStream::kStderr, OutputStream::kStdout,
                                   OutputStream::kStderr));
  EXPECT_EQ(pump.held_stderr(), "");
}

TEST(IoPumpTest, StdoutReleasesHeldStderrFirst) {
  ChildProcess child =
      SpawnShell("printf 'reading spec' >&2; sleep 0.1; echo out");
  RecordingSink sink;
  IoPump pump(child, "", 1000, sink);
  EXPECT_EQ(pump.Run(In(absl::Seconds(10)), -1), IoPump::Stop::kExited);
  EXPECT_EQ(sink.stderr_, "reading spec");
  EXPECT_EQ(sink.stdout_, "out\n");
  EXPECT_THAT(sink.order_, testing::ElementsAre(OutputStream::kStderr,
                                                OutputStream::kStdout));
}

}  // namespace
}  // namespace codeexec
