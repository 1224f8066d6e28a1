#include "server/local/state_dir.h"

#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/local/fs_util.h"

namespace codeexec {
namespace {

using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

TEST(IsValidSandboxIdTest, AcceptsExecutionIdsOnly) {
  EXPECT_TRUE(IsValidSandboxId("ce-0123456789ab"));
  EXPECT_TRUE(IsValidSandboxId("a_b-1"));
  for (const char* bad : {"", "-ce", "ce/1", "..", "ce 1", "ce.1", "ce\n"}) {
    EXPECT_FALSE(IsValidSandboxId(bad)) << bad;
  }
  EXPECT_FALSE(IsValidSandboxId(std::string(65, 'a')));
}

TEST(IsValidCgroupParentTest, RelativePathsOnly) {
  EXPECT_TRUE(IsValidCgroupParent("code-executor"));
  EXPECT_TRUE(IsValidCgroupParent("services/code-executor.slice"));
  for (const char* bad : {"", "/abs", "trailing/", "a//b", "../up", "a/../b",
                          "sp ace", "new\nline"}) {
    EXPECT_FALSE(IsValidCgroupParent(bad)) << bad;
  }
}

TEST(StateDirTest, Paths) {
  StateDir state("/run/code-executor");
  EXPECT_EQ(state.RunscRoot(), "/run/code-executor/runsc");
  EXPECT_EQ(state.BundleDir("ce-1"), "/run/code-executor/bundles/ce-1");
}

TEST(StateDirTest, PrepareRequiresAbsoluteWritablePath) {
  EXPECT_EQ(StateDir("relative/dir").Prepare().code(),
            absl::StatusCode::kInvalidArgument);
  absl::Status status = StateDir("/proc/no-such/state").Prepare();
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(), testing::HasSubstr("set state_dir"));
}

TEST(StateDirTest, PrepareThenRemoveLeftovers) {
  char dir_template[] = "/tmp/state_dir_test.XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  StateDir state(std::string(dir_template) + "/state");
  ASSERT_TRUE(state.Prepare().ok());
  ASSERT_TRUE(chmod(state.root().c_str(), 0755) == 0);
  ASSERT_TRUE(state.Prepare().ok());  // idempotent, and tightens the mode
  EXPECT_THAT(ListDir(state.root()), UnorderedElementsAre("runsc", "bundles"));
  for (const std::string& dir :
       {state.root(), state.RunscRoot(), state.BundlesDir()}) {
    struct stat info;
    ASSERT_EQ(stat(dir.c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 07777, 0700u) << dir;  // nothing for others
  }

  ASSERT_EQ(mkdir(state.BundleDir("ce-1").c_str(), 0700), 0);
  ASSERT_TRUE(
      WriteNewFile(state.BundleDir("ce-1") + "/config.json", "{}", 0600).ok());
  ASSERT_EQ(mkdir((state.BundleDir("ce-1") + "/launcher").c_str(), 0755), 0);
  ASSERT_TRUE(
      WriteNewFile(state.BundleDir("ce-1") + "/launcher/program", "x", 0444)
          .ok());
  ASSERT_TRUE(
      WriteNewFile(state.RunscRoot() + "/ce-4_sandbox:ce-4.lock", "", 0600)
          .ok());

  EXPECT_THAT(state.RemoveLeftoverFiles(), IsEmpty());
  EXPECT_THAT(ListDir(state.BundlesDir()), IsEmpty());
  EXPECT_THAT(ListDir(state.RunscRoot()), IsEmpty());
  EXPECT_TRUE(RemoveTree(dir_template).ok());
}

}  // namespace
}  // namespace codeexec
