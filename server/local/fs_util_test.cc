#include "server/local/fs_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "gtest/gtest.h"

namespace codeexec {
namespace {

TEST(FsUtilTest, WriteReadRemove) {
  char dir_template[] = "/tmp/fs_util_test.XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  ASSERT_TRUE(WriteNewFile(dir + "/a", "hello", 0600).ok());
  EXPECT_FALSE(WriteNewFile(dir + "/a", "again", 0600).ok());
  std::string content;
  ASSERT_TRUE(ReadSmallFile(dir + "/a", &content).ok());
  EXPECT_EQ(content, "hello");
  EXPECT_FALSE(ReadSmallFile(dir + "/missing", &content).ok());

  ASSERT_EQ(mkdir((dir + "/sub").c_str(), 0755), 0);
  ASSERT_TRUE(WriteNewFile(dir + "/sub/b", "x", 0600).ok());
  // RemoveTree must not follow a symlink out of the tree.
  char outside_template[] = "/tmp/fs_util_outside.XXXXXX";
  ASSERT_NE(mkdtemp(outside_template), nullptr);
  const std::string outside = outside_template;
  ASSERT_TRUE(WriteNewFile(outside + "/keep", "k", 0600).ok());
  ASSERT_EQ(symlink(outside.c_str(), (dir + "/sub/link").c_str()), 0);

  EXPECT_TRUE(RemoveTree(dir).ok());
  EXPECT_NE(access(dir.c_str(), F_OK), 0);
  EXPECT_EQ(access((outside + "/keep").c_str(), F_OK), 0);
  EXPECT_TRUE(RemoveTree(dir).ok());  // missing is fine
  EXPECT_TRUE(RemoveTree(outside).ok());
}

TEST(FsUtilTest, ErrnoErrorNamesWhat) {
  absl::Status status = ErrnoError(ENOENT, "opening ", "/x");
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(status.message().find("opening /x"), std::string::npos);
}

TEST(UniqueFdTest, ClosesAndMoves) {
  int raw = open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(raw, 0);
  {
    UniqueFd fd(raw);
    UniqueFd moved = std::move(fd);
    EXPECT_FALSE(fd.valid());
    EXPECT_EQ(moved.get(), raw);
  }
  EXPECT_EQ(fcntl(raw, F_GETFD), -1);
}

}  // namespace
}  // namespace codeexec
