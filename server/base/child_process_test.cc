#include "server/base/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace codeexec {
namespace {

using ::testing::HasSubstr;

std::string Sh() { return *ResolveExecutable("sh"); }

TEST(ShellExitCodeTest, ExitAndSignal) {
  EXPECT_EQ(ShellExitCode(3 << 8), 3);
  EXPECT_EQ(ShellExitCode(SIGKILL), 137);
}

TEST(PollTimeoutMillisTest, Bounds) {
  EXPECT_EQ(PollTimeoutMillis(absl::InfiniteFuture()), -1);
  EXPECT_EQ(PollTimeoutMillis(absl::Now() - absl::Seconds(1)), 0);
  int ms = PollTimeoutMillis(absl::Now() + absl::Milliseconds(500));
  EXPECT_GT(ms, 400);
  EXPECT_LE(ms, 501);
}

TEST(ResolveExecutableTest, FindsInPathAndReportsMissing) {
  absl::StatusOr<std::string> sh = ResolveExecutable("sh");
  ASSERT_TRUE(sh.ok()) << sh.status();
  EXPECT_EQ((*sh)[0], '/');
  EXPECT_FALSE(ResolveExecutable("no-such-binary-here-xyz").ok());
  EXPECT_FALSE(ResolveExecutable("/no/such/binary").ok());
}

TEST(RunCommandTest, CapturesOutputAndExitCode) {
  absl::StatusOr<CommandResult> result = RunCommand(
      {Sh(), "-c", "echo out; echo err >&2; exit 7"}, absl::Seconds(10));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 7);
  EXPECT_THAT(result->output, HasSubstr("out\n"));
  EXPECT_THAT(result->output, HasSubstr("err\n"));
  EXPECT_FALSE(result->timed_out);
}

TEST(RunCommandTest, KillsAfterTimeout) {
  const absl::Time start = absl::Now();
  absl::StatusOr<CommandResult> result =
      RunCommand({Sh(), "-c", "exec sleep 30"}, absl::Milliseconds(200));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->timed_out);
  EXPECT_EQ(result->exit_code, 137);
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
}

TEST(RunCommandTest, BackgroundChildHoldingThePipeDoesNotHang) {
  const absl::Time start = absl::Now();
  absl::StatusOr<CommandResult> result =
      RunCommand({Sh(), "-c", "sleep 5 & echo done"}, absl::Seconds(20));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 0);
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
}

TEST(ChildProcessTest, OnlyStdioIsInherited) {
  // A descriptor without close-on-exec must still not reach the child.
  int leaked = open("/dev/null", O_RDONLY);
  ASSERT_GE(leaked, 3);
  absl::StatusOr<CommandResult> result =
      RunCommand({Sh(), "-c", "ls /proc/$$/fd"}, absl::Seconds(10));
  close(leaked);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->output, "0\n1\n2\n");
}

TEST(ChildProcessTest, PipesAndReap) {
  absl::StatusOr<ChildProcess> child = ChildProcess::Spawn(
      {Sh(), "-c", "read line; echo \"got $line\"; echo e >&2; exit 4"},
      ChildProcess::Stdio::kPipes);
  ASSERT_TRUE(child.ok()) << child.status();
  EXPECT_GE(child->exit_fd(), 0);
  ASSERT_EQ(write(child->stdin_fd().get(), "hello\n", 6), 6);
  child->stdin_fd().reset();
  std::string out;
  char buffer[256];
  while (true) {
    pollfd fd = {child->stdout_fd().get(), POLLIN, 0};
    ASSERT_EQ(poll(&fd, 1, 5000), 1);
    ssize_t got = read(child->stdout_fd().get(), buffer, sizeof(buffer));
    if (got <= 0) break;
    out.append(buffer, got);
  }
  EXPECT_EQ(out, "got hello\n");
  child->WaitBlocking();
  EXPECT_TRUE(child->reaped());
  EXPECT_EQ(ShellExitCode(child->wait_status()), 4);
}

// Everything until end of file; "[no end of file]" appended after 5 s.
std::string ReadToEnd(UniqueFd& fd) {
  std::string text;
  char buffer[256];
  while (true) {
    pollfd poll_fd = {fd.get(), POLLIN, 0};
    if (poll(&poll_fd, 1, 5000) != 1) return text + "[no end of file]";
    const ssize_t got = read(fd.get(), buffer, sizeof(buffer));
    if (got <= 0) break;
    text.append(buffer, got);
  }
  return text;
}

TEST(ChildProcessTest, SeparateOutputWithTheGivenEnvironmentOnly) {
  absl::StatusOr<ChildProcess> child = ChildProcess::Spawn(
      {Sh(), "-c", "echo \"out $GREETING ${HOME:-no-home}\"; echo err >&2"},
      ChildProcess::Stdio::kSeparateOutput,
      std::vector<std::string>{"GREETING=hi there"});
  ASSERT_TRUE(child.ok()) << child.status();
  EXPECT_FALSE(child->stdin_fd().valid());  // /dev/null
  EXPECT_EQ(ReadToEnd(child->stdout_fd()), "out hi there no-home\n");
  EXPECT_EQ(ReadToEnd(child->stderr_fd()), "err\n");
  child->WaitBlocking();
  EXPECT_EQ(ShellExitCode(child->wait_status()), 0);
}

TEST(ChildProcessTest, KillGroupEndsDescendantsHoldingThePipe) {
  absl::StatusOr<ChildProcess> child =
      ChildProcess::Spawn({Sh(), "-c", "sleep 30 & echo started; wait"},
                          ChildProcess::Stdio::kCombinedOutput);
  ASSERT_TRUE(child.ok()) << child.status();
  char buffer[16];
  pollfd poll_fd = {child->stdout_fd().get(), POLLIN, 0};
  ASSERT_EQ(poll(&poll_fd, 1, 5000), 1);
  ASSERT_GT(read(child->stdout_fd().get(), buffer, sizeof(buffer)), 0);
  child->KillGroup();
  child->WaitBlocking();
  EXPECT_EQ(ShellExitCode(child->wait_status()), 128 + SIGKILL);
  // The background sleep held the pipe's write end; it died with the group.
  EXPECT_EQ(ReadToEnd(child->stdout_fd()), "");
}

TEST(ChildProcessTest, DestructorKillsAndReaps) {
  pid_t pid;
  {
    absl::StatusOr<ChildProcess> child = ChildProcess::Spawn(
        {Sh(), "-c", "exec sleep 30"}, ChildProcess::Stdio::kPipes);
    ASSERT_TRUE(child.ok());
    pid = child->pid();
  }
  // Reaped: no zombie left with that pid.
  EXPECT_EQ(waitpid(pid, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
}

TEST(ChildProcessTest, RejectsRelativePath) {
  EXPECT_FALSE(
      ChildProcess::Spawn({"sh", "-c", "true"}, ChildProcess::Stdio::kPipes)
          .ok());
}

}  // namespace
}  // namespace codeexec
