#include "server/local/container_start_watcher.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace codeexec {
namespace {

constexpr char kId[] = "ce-0123456789ab";

std::string State(absl::string_view status) {
  // Shaped like runsc's: the spec comes first and is long.
  return absl::StrCat(R"({"id":")", kId,
                      R"(","spec":{"process":{"args":["python3","main.py"]}},)",
                      R"("status":")", status, R"(","goferPid":42})");
}

// Number of entries in a /proc/self directory (threads, descriptors).
int CountEntries(const std::string& dir) {
  return static_cast<int>(ListDir(dir).size());
}

class ContainerStartWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir_template[] = "/tmp/container_start_watcher_test.XXXXXX";
    ASSERT_NE(mkdtemp(dir_template), nullptr);
    root_ = dir_template;
    state_path_ = StatePath(kId);
    absl::StatusOr<std::unique_ptr<ContainerStartWatcher>> watcher =
        ContainerStartWatcher::Create(root_);
    ASSERT_TRUE(watcher.ok()) << watcher.status();
    watcher_ = *std::move(watcher);
  }
  void TearDown() override {
    watcher_.reset();
    EXPECT_TRUE(RemoveTree(root_).ok());
  }

  std::string StatePath(absl::string_view id) const {
    return absl::StrCat(root_, "/", RunscStateFileName(id));
  }

  // Writes `content` the way runsc does: truncate, write, close.
  static void WriteState(const std::string& path, absl::string_view content) {
    UniqueFd fd(
        open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640));
    ASSERT_TRUE(fd.valid());
    ASSERT_TRUE(WriteAll(fd.get(), content, path).ok());
  }

  // Waits up to `timeout` for `watched` to record a time.
  static std::optional<absl::Time> AwaitRunning(
      const WatchedContainer& watched,
      absl::Duration timeout = absl::Seconds(5)) {
    const absl::Time give_up = absl::Now() + timeout;
    while (!watched.running_time() && absl::Now() < give_up) {
      absl::SleepFor(absl::Milliseconds(1));
    }
    return watched.running_time();
  }

  std::string root_;
  std::string state_path_;
  std::unique_ptr<ContainerStartWatcher> watcher_;
};

TEST(RunscStateFileNameTest, SandboxAndContainerId) {
  EXPECT_EQ(RunscStateFileName("ce-1"), "ce-1_sandbox:ce-1.state");
}

TEST(StateSaysRunningTest, OnlyAWholeStateWithStatusRunning) {
  EXPECT_TRUE(StateSaysRunning(State("running")));
  EXPECT_TRUE(StateSaysRunning(R"({ "status" : "running" })"));
  EXPECT_FALSE(StateSaysRunning(State("created")));
  EXPECT_FALSE(StateSaysRunning(State("stopped")));
  const std::string whole = State("running");
  EXPECT_FALSE(StateSaysRunning(whole.substr(0, whole.size() - 5)));
  EXPECT_FALSE(StateSaysRunning(""));
  EXPECT_FALSE(StateSaysRunning(R"(["running"])"));
  EXPECT_FALSE(StateSaysRunning(R"({"status":["running"]})"));
  EXPECT_FALSE(StateSaysRunning(R"({"id":"running","status":"created"})"));
}

TEST(ContainerBootEndTimeTest, EarliestSignWithinTheRun) {
  const absl::Time spawn = absl::FromUnixSeconds(100);
  const absl::Time end = spawn + absl::Seconds(2);
  const absl::Time early = spawn + absl::Milliseconds(200);
  const absl::Time late = spawn + absl::Milliseconds(900);
  EXPECT_EQ(BootEndTime(early, late, spawn, end), early);
  EXPECT_EQ(BootEndTime(late, early, spawn, end), early);
  EXPECT_EQ(BootEndTime(late, std::nullopt, spawn, end), late);
  EXPECT_EQ(BootEndTime(std::nullopt, late, spawn, end), late);  // old way
  EXPECT_EQ(BootEndTime(std::nullopt, std::nullopt, spawn, end), end);
  EXPECT_EQ(BootEndTime(spawn - absl::Seconds(1), std::nullopt, spawn, end),
            spawn);
  EXPECT_EQ(BootEndTime(end + absl::Seconds(1), std::nullopt, spawn, end), end);
}

TEST_F(ContainerStartWatcherTest, RecordsWhenTheStateTurnsRunning) {
  WatchedContainer watched(*watcher_, kId);
  WriteState(state_path_, State("created"));
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(watched.running_time(), std::nullopt);

  const absl::Time before = absl::Now();
  WriteState(state_path_, State("running"));
  std::optional<absl::Time> running = AwaitRunning(watched);
  ASSERT_TRUE(running.has_value());
  EXPECT_GE(*running, before);
  EXPECT_LT(*running - before, absl::Milliseconds(500));
  // Later states do not move it.
  WriteState(state_path_, State("stopped"));
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_EQ(watched.Stop(), running);
  EXPECT_EQ(watched.running_time(), running);
  EXPECT_EQ(watched.Stop(), running);  // idempotent
}

TEST_F(ContainerStartWatcherTest, WaitRunningWakesOnTheWriteOrGivesUp) {
  WatchedContainer watched(*watcher_, kId);
  WriteState(state_path_, State("created"));
  EXPECT_EQ(watched.WaitRunning(absl::Now() + absl::Milliseconds(50)),
            std::nullopt);

  std::thread writer([this] {
    absl::SleepFor(absl::Milliseconds(50));
    WriteState(state_path_, State("running"));
  });
  std::optional<absl::Time> running =
      watched.WaitRunning(absl::Now() + absl::Seconds(10));
  writer.join();
  ASSERT_TRUE(running.has_value());
  EXPECT_EQ(watched.running_time(), running);
}

TEST_F(ContainerStartWatcherTest, StateAlreadyRunningWhenWatched) {
  WriteState(state_path_, State("running"));
  WatchedContainer watched(*watcher_, kId);
  EXPECT_TRUE(watched.running_time().has_value());  // checked at once
}

TEST_F(ContainerStartWatcherTest, IgnoresPartialWrites) {
  WatchedContainer watched(*watcher_, kId);
  const std::string whole = State("running");
  // The first part already says "running" but does not parse.
  const size_t half = whole.find("\"running\"") + 10;
  ASSERT_LT(half, whole.size());
  UniqueFd fd(open(state_path_.c_str(),
                   O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640));
  ASSERT_TRUE(fd.valid());
  ASSERT_TRUE(WriteAll(fd.get(), whole.substr(0, half), "state").ok());
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(watched.running_time(), std::nullopt);

  const absl::Time before = absl::Now();
  ASSERT_TRUE(WriteAll(fd.get(), whole.substr(half), "state").ok());
  fd.reset();
  std::optional<absl::Time> running = AwaitRunning(watched);
  ASSERT_TRUE(running.has_value());
  EXPECT_GE(*running, before);
}

TEST_F(ContainerStartWatcherTest, StateRenamedIntoPlace) {
  WatchedContainer watched(*watcher_, kId);
  const std::string temporary = absl::StrCat(root_, "/new.tmp");
  WriteState(temporary, State("running"));
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(watched.running_time(), std::nullopt);
  ASSERT_EQ(rename(temporary.c_str(), state_path_.c_str()), 0);
  EXPECT_TRUE(AwaitRunning(watched).has_value());
}

TEST_F(ContainerStartWatcherTest, SeveralContainersApart) {
  WatchedContainer first(*watcher_, "ce-first");
  WatchedContainer second(*watcher_, "ce-second");
  WriteState(StatePath("ce-second"), State("running"));
  WriteState(StatePath("ce-unwatched"), State("running"));
  WriteState(absl::StrCat(StatePath("ce-first"), ".lock"), "");
  ASSERT_TRUE(AwaitRunning(second).has_value());
  EXPECT_EQ(AwaitRunning(first, absl::Milliseconds(100)), std::nullopt);
  WriteState(StatePath("ce-first"), State("running"));
  ASSERT_TRUE(AwaitRunning(first).has_value());
  EXPECT_GT(*first.running_time(), *second.running_time());
}

TEST_F(ContainerStartWatcherTest, StoppedWatchSeesNothingMore) {
  std::optional<absl::Time> running;
  {
    WatchedContainer watched(*watcher_, kId);
    EXPECT_EQ(watched.Stop(), std::nullopt);
    WriteState(state_path_, State("running"));
    absl::SleepFor(absl::Milliseconds(50));
    running = watched.running_time();
  }
  EXPECT_EQ(running, std::nullopt);
  // The same id can be watched again (a new run).
  ASSERT_EQ(unlink(state_path_.c_str()), 0);
  WatchedContainer again(*watcher_, kId);
  EXPECT_EQ(again.running_time(), std::nullopt);
  WriteState(state_path_, State("running"));
  EXPECT_TRUE(AwaitRunning(again).has_value());
}

TEST_F(ContainerStartWatcherTest, RootDirRemovedAndCreatedAgain) {
  ASSERT_EQ(rmdir(root_.c_str()), 0);
  ASSERT_EQ(mkdir(root_.c_str(), 0711), 0);
  WatchedContainer watched(*watcher_, kId);
  WriteState(state_path_, State("running"));
  EXPECT_TRUE(AwaitRunning(watched).has_value());
}

TEST_F(ContainerStartWatcherTest, WatchingIsCheap) {
  // Per run: a map entry and a re-added watch, no inotify instance (closing
  // one costs ~8 ms). Loose bound: 2 shared cores.
  const absl::Time start = absl::Now();
  for (int i = 0; i < 100; ++i) {
    WatchedContainer watched(*watcher_, absl::StrCat("ce-", i));
  }
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(200));
}

TEST_F(ContainerStartWatcherTest, DestructionIsPromptAndLeavesNothing) {
  watcher_.reset();
  const int threads = CountEntries("/proc/self/task");
  const int fds = CountEntries("/proc/self/fd");
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<std::unique_ptr<ContainerStartWatcher>> watcher =
        ContainerStartWatcher::Create(root_);
    ASSERT_TRUE(watcher.ok()) << watcher.status();
    EXPECT_EQ(CountEntries("/proc/self/task"), threads + 1);
    {
      WatchedContainer watched(**watcher, kId);
      if (i == 1) WriteState(state_path_, State("running"));
    }
    const absl::Time destroy_start = absl::Now();
    watcher->reset();
    EXPECT_LT(absl::Now() - destroy_start, absl::Milliseconds(500));
    EXPECT_EQ(CountEntries("/proc/self/task"), threads);
    EXPECT_EQ(CountEntries("/proc/self/fd"), fds);
  }
}

TEST_F(ContainerStartWatcherTest, MissingRootDirIsAnError) {
  absl::StatusOr<std::unique_ptr<ContainerStartWatcher>> watcher =
      ContainerStartWatcher::Create(absl::StrCat(root_, "/missing"));
  ASSERT_FALSE(watcher.ok());
  EXPECT_THAT(watcher.status().message(), ::testing::HasSubstr("inotify"));
}

}  // namespace
}  // namespace codeexec
