#include "server/local/runsc_cli.h"

#include <unistd.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/base/child_process.h"
#include "server/local/fs_util.h"

namespace codeexec {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

class RunscCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir_template[] = "/tmp/runsc_cli_test.XXXXXX";
    ASSERT_NE(mkdtemp(dir_template), nullptr);
    root_ = dir_template;
  }
  void TearDown() override { EXPECT_TRUE(RemoveTree(root_).ok()); }
  std::string root_;
};

TEST_F(RunscCliTest, RunArgv) {
  RunscCli cli("/usr/bin/runsc", root_, "ptrace", {"--debug"});
  EXPECT_THAT(cli.RunArgv("/s/bundles/ce-1", "ce-1"),
              ElementsAre("/usr/bin/runsc", "--root", root_, "--network=none",
                          "--platform=ptrace", "--debug", "run", "--bundle",
                          "/s/bundles/ce-1", "ce-1"));
}

TEST_F(RunscCliTest, StateFiles) {
  RunscCli cli("/usr/bin/runsc", root_, "ptrace", {});
  EXPECT_FALSE(cli.HasState("ce-000000000001"));
  ASSERT_TRUE(
      WriteNewFile(root_ + "/ce-000000000001_sandbox:ce-000000000001.state",
                   "{}", 0600)
          .ok());
  ASSERT_TRUE(
      WriteNewFile(root_ + "/ce-000000000001_sandbox:ce-000000000001.lock", "",
                   0600)
          .ok());
  ASSERT_TRUE(
      WriteNewFile(root_ + "/ce-000000000002_sandbox:ce-000000000002.lock", "",
                   0600)
          .ok());
  EXPECT_TRUE(cli.HasState("ce-000000000001"));
  cli.RemoveStateFiles("ce-000000000001");
  EXPECT_FALSE(cli.HasState("ce-000000000001"));
  EXPECT_TRUE(cli.HasState("ce-000000000002"));
}

TEST_F(RunscCliTest, RealRunscVersionListDelete) {
  absl::StatusOr<std::string> runsc = ResolveExecutable(kDefaultRunscPath);
  if (!runsc.ok()) GTEST_SKIP() << "runsc is not installed";
  if (geteuid() != 0) GTEST_SKIP() << "runsc needs root";
  RunscCli cli(*runsc, root_, "ptrace", {});
  absl::StatusOr<std::string> version = cli.Version();
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_THAT(*version, testing::StartsWith("runsc version"));
  absl::StatusOr<std::vector<std::string>> ids = cli.List();
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_THAT(*ids, IsEmpty());
  // Deleting something that does not exist is fine; killing it is not.
  EXPECT_TRUE(cli.DeleteForce("ce-00000000dead").ok());
  EXPECT_FALSE(cli.Kill("ce-00000000dead").ok());
}

}  // namespace
}  // namespace codeexec
