#include "server/local/workspace.h"

#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/local/fs_util.h"

namespace codeexec {
namespace {

using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::IsEmpty;

using InputMap = std::map<std::string, absl::string_view, std::less<>>;

class WorkspaceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir_template[] = "/tmp/workspace_test.XXXXXX";
    ASSERT_NE(mkdtemp(dir_template), nullptr);
    dir_ = dir_template;
  }
  void TearDown() override { EXPECT_TRUE(RemoveTree(dir_).ok()); }

  void Write(const std::string& path, absl::string_view content) {
    ASSERT_TRUE(
        WriteWorkspaceFile(dir_, path, content, geteuid(), getegid()).ok())
        << path;
  }
  void Overwrite(const std::string& path, absl::string_view content) {
    std::string full = absl::StrCat(dir_, "/", path);
    unlink(full.c_str());
    ASSERT_TRUE(WriteNewFile(full, content, 0644).ok());
  }

  std::string dir_;
};

std::vector<std::string> Paths(const CollectedOutputFiles& collected) {
  std::vector<std::string> paths;
  for (const WorkspaceFile& file : collected.files) paths.push_back(file.path);
  return paths;
}

TEST_F(WorkspaceTest, WriteCreatesParentsAndRefusesEscapes) {
  Write("data/in/x.csv", "1,2\n");
  std::string content;
  ASSERT_TRUE(ReadSmallFile(dir_ + "/data/in/x.csv", &content).ok());
  EXPECT_EQ(content, "1,2\n");
  struct stat info;
  ASSERT_EQ(stat((dir_ + "/data/in/x.csv").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0644u);
  for (const char* bad :
       {"../x", "/etc/passwd", "a/../../x", "a//b", "", "."}) {
    EXPECT_FALSE(WriteWorkspaceFile(dir_, bad, "x", geteuid(), getegid()).ok())
        << bad;
  }
  // Existing files are not overwritten.
  EXPECT_FALSE(
      WriteWorkspaceFile(dir_, "data/in/x.csv", "y", geteuid(), getegid())
          .ok());
}

TEST_F(WorkspaceTest, WriteDoesNotFollowSymlinkedDirectories) {
  ASSERT_EQ(symlink("/tmp", (dir_ + "/link").c_str()), 0);
  EXPECT_FALSE(
      WriteWorkspaceFile(dir_, "link/evil", "x", geteuid(), getegid()).ok());
}

TEST_F(WorkspaceTest, CollectsNewAndChangedFilesSorted) {
  Write("main.py", "print(1)");
  Write("in/unchanged.txt", "same");
  Write("in/changed.txt", "before");
  Write("in/same_size.txt", "abcd");
  InputMap inputs = {{"in/unchanged.txt", "same"},
                     {"in/changed.txt", "before"},
                     {"in/same_size.txt", "abcd"}};
  Overwrite("in/changed.txt", "after, longer");
  Overwrite("in/same_size.txt", "wxyz");
  Write("z.txt", "last");
  Write("out/result.json", "{}");
  Write("a.txt", "");

  CollectedOutputFiles collected =
      CollectOutputFiles(dir_, "main.py", inputs, {});
  EXPECT_FALSE(collected.truncated);
  EXPECT_THAT(Paths(collected),
              ElementsAre("a.txt", "in/changed.txt", "in/same_size.txt",
                          "out/result.json", "z.txt"));
  EXPECT_EQ(collected.files[1].content, "after, longer");
  EXPECT_EQ(collected.files[2].content, "wxyz");
}

TEST_F(WorkspaceTest, SkipsSymlinksFifosAndDoesNotFollowDirectoryLinks) {
  Write("real.txt", "data");
  ASSERT_EQ(symlink("/etc/passwd", (dir_ + "/passwd").c_str()), 0);
  ASSERT_EQ(symlink("/etc", (dir_ + "/etc").c_str()), 0);
  ASSERT_EQ(mkfifo((dir_ + "/fifo").c_str(), 0644), 0);
  CollectedOutputFiles collected = CollectOutputFiles(dir_, "main.py", {}, {});
  EXPECT_THAT(Paths(collected), ElementsAre("real.txt"));
}

TEST_F(WorkspaceTest, FileCountLimit) {
  for (int i = 0; i < 5; ++i) Write(absl::StrCat("f", i), "x");
  CollectedOutputFiles collected =
      CollectOutputFiles(dir_, "main.py", {}, {.max_files = 3});
  EXPECT_TRUE(collected.truncated);
  EXPECT_THAT(Paths(collected), ElementsAre("f0", "f1", "f2"));
}

TEST_F(WorkspaceTest, ByteLimitSkipsFilesThatDoNotFit) {
  Write("a_big", std::string(100, 'b'));
  Write("b_small", std::string(10, 's'));
  Write("c_exact", std::string(40, 'e'));
  CollectedOutputFiles collected =
      CollectOutputFiles(dir_, "main.py", {}, {.max_total_bytes = 50});
  EXPECT_TRUE(collected.truncated);
  EXPECT_THAT(Paths(collected), ElementsAre("b_small", "c_exact"));
}

TEST_F(WorkspaceTest, ExactFitIsNotTruncated) {
  Write("a", std::string(30, 'a'));
  Write("b", std::string(20, 'b'));
  CollectedOutputFiles collected = CollectOutputFiles(
      dir_, "main.py", {}, {.max_files = 2, .max_total_bytes = 50});
  EXPECT_FALSE(collected.truncated);
  EXPECT_EQ(collected.files.size(), 2u);
}

TEST_F(WorkspaceTest, MissingDirectoryGivesNothing) {
  CollectedOutputFiles collected =
      CollectOutputFiles(dir_ + "/nope", "main.py", {}, {});
  EXPECT_THAT(collected.files, IsEmpty());
  EXPECT_FALSE(collected.truncated);
}

TEST_F(WorkspaceTest, MountWriteUnmount) {
  if (geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs needs root";
  const std::string workspace = dir_ + "/ws";
  ASSERT_TRUE(MountWorkspace(workspace, 1 << 20, 65534, 65534).ok());
  struct statfs fs;
  ASSERT_EQ(statfs(workspace.c_str(), &fs), 0);
  EXPECT_EQ(fs.f_type, 0x01021994);  // TMPFS_MAGIC
  struct stat info;
  ASSERT_EQ(stat(workspace.c_str(), &info), 0);
  EXPECT_EQ(info.st_uid, 65534u);
  EXPECT_EQ(info.st_mode & 07777, 0755u);
  ASSERT_TRUE(
      WriteWorkspaceFile(workspace, "d/f.txt", "hi", 65534, 65534).ok());
  ASSERT_EQ(stat((workspace + "/d").c_str(), &info), 0);
  EXPECT_EQ(info.st_uid, 65534u);
  // More than the tmpfs holds.
  absl::Status too_big = WriteWorkspaceFile(
      workspace, "big", std::string(2 << 20, 'x'), 65534, 65534);
  EXPECT_TRUE(absl::IsResourceExhausted(too_big)) << too_big;
  EXPECT_TRUE(UnmountAndRemoveWorkspace(workspace).ok());
  EXPECT_NE(access(workspace.c_str(), F_OK), 0);
  EXPECT_TRUE(UnmountAndRemoveWorkspace(workspace).ok());  // idempotent
}

}  // namespace
}  // namespace codeexec
