#include "server/local/sandbox_cgroup.h"

#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/local/fs_util.h"

namespace codeexec {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string Read(const std::string& path) {
  std::string content;
  EXPECT_TRUE(ReadSmallFile(path, &content).ok()) << path;
  return content;
}

// A directory that looks like a cgroup v1 root with the given hierarchies.
class FakeCgroupRoot {
 public:
  explicit FakeCgroupRoot(std::initializer_list<const char*> hierarchies) {
    char dir_template[] = "/tmp/sandbox_cgroup_test.XXXXXX";
    root_ = mkdtemp(dir_template);
    for (const char* hierarchy : hierarchies) {
      std::string dir = absl::StrCat(root_, "/", hierarchy);
      mkdir(dir.c_str(), 0755);
      EXPECT_TRUE(WriteNewFile(dir + "/cgroup.procs", "", 0644).ok());
    }
  }
  ~FakeCgroupRoot() { EXPECT_TRUE(RemoveTree(root_).ok()); }
  const std::string& root() const { return root_; }

 private:
  std::string root_;
};

TEST(LimitSettingsTest, V1) {
  CgroupLimits limits{
      .memory_bytes = 64 << 20, .cpu_millis = 500, .pids = 4096};
  std::vector<std::string> lines;
  for (const CgroupSetting& s : LimitSettings(CgroupVersion::kV1, limits)) {
    lines.push_back(absl::StrCat(s.controller, "/", s.file, "=", s.value));
  }
  EXPECT_THAT(lines,
              ElementsAre("memory/memory.limit_in_bytes=67108864",
                          "cpu/cpu.cfs_period_us=100000",
                          "cpu/cpu.cfs_quota_us=50000", "pids/pids.max=4096"));
}

TEST(LimitSettingsTest, V2) {
  CgroupLimits limits{.memory_bytes = 1 << 30, .cpu_millis = 2000, .pids = 10};
  std::vector<std::string> lines;
  for (const CgroupSetting& s : LimitSettings(CgroupVersion::kV2, limits)) {
    lines.push_back(absl::StrCat(s.controller, "/", s.file, "=", s.value));
  }
  EXPECT_THAT(lines, ElementsAre("/memory.max=1073741824",
                                 "/cpu.max=200000 100000", "/pids.max=10"));
}

TEST(LimitSettingsTest, UnlimitedAndTinyCpu) {
  EXPECT_TRUE(LimitSettings(CgroupVersion::kV1, {}).empty());
  std::vector<CgroupSetting> settings =
      LimitSettings(CgroupVersion::kV1, {.cpu_millis = 1});
  ASSERT_EQ(settings.size(), 2u);
  EXPECT_EQ(settings[1].value, "1000");  // the kernel's minimum quota
}

TEST(ParseFlatKeyedValueTest, FindsKey) {
  const char kOomControl[] = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
  EXPECT_EQ(ParseFlatKeyedValue(kOomControl, "oom_kill"), 3);
  EXPECT_EQ(ParseFlatKeyedValue(kOomControl, "under_oom"), 0);
  EXPECT_EQ(ParseFlatKeyedValue("low 0\nhigh 0\nmax 17\noom 1\n", "max"), 17);
  EXPECT_EQ(ParseFlatKeyedValue("", "max"), 0);
}

TEST(CgroupLayoutTest, DirAndPaths) {
  CgroupLayout v1(CgroupVersion::kV1, "/sys/fs/cgroup");
  EXPECT_EQ(v1.Dir("memory", "code-executor/ce-1"),
            "/sys/fs/cgroup/memory/code-executor/ce-1");
  CgroupLayout v2(CgroupVersion::kV2, "/sys/fs/cgroup");
  EXPECT_EQ(v2.Dir("memory", "code-executor/ce-1"),
            "/sys/fs/cgroup/code-executor/ce-1");
  EXPECT_THAT(v2.Hierarchies(), ElementsAre("/sys/fs/cgroup"));
}

TEST(CgroupLayoutTest, DetectV1AndHierarchies) {
  FakeCgroupRoot fake({"memory", "cpu", "pids", "blkio"});
  // A symlinked alias is not a hierarchy of its own.
  ASSERT_EQ(symlink("cpu", (fake.root() + "/cpuacct").c_str()), 0);
  absl::StatusOr<CgroupLayout> layout = CgroupLayout::Detect(fake.root());
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_EQ(layout->version(), CgroupVersion::kV1);
  EXPECT_THAT(layout->Hierarchies(),
              ElementsAre(fake.root() + "/blkio", fake.root() + "/cpu",
                          fake.root() + "/memory", fake.root() + "/pids"));
}

TEST(CgroupLayoutTest, DetectNamesMissingControllers) {
  FakeCgroupRoot fake({"memory"});
  absl::StatusOr<CgroupLayout> layout = CgroupLayout::Detect(fake.root());
  ASSERT_FALSE(layout.ok());
  EXPECT_THAT(layout.status().message(), HasSubstr("cpu, pids"));
  EXPECT_THAT(layout.status().message(), HasSubstr("kubernetes backend"));
}

TEST(SandboxCgroupTest, FailedCreateLeavesNothing) {
  // Plain directories have no control files, so writing the limits fails.
  FakeCgroupRoot fake({"memory", "cpu", "pids"});
  CgroupLayout layout(CgroupVersion::kV1, fake.root());
  absl::StatusOr<SandboxCgroup> cgroup = SandboxCgroup::Create(
      layout, "code-executor", "ce-0123456789ab", {.memory_bytes = 64 << 20});
  ASSERT_FALSE(cgroup.ok());
  EXPECT_THAT(cgroup.status().message(),
              HasSubstr("memory/code-executor/ce-0123456789ab/"
                        "memory.limit_in_bytes"));
  for (const char* hierarchy : {"memory", "cpu", "pids"}) {
    EXPECT_NE(access(absl::StrCat(fake.root(), "/", hierarchy,
                                  "/code-executor/ce-0123456789ab")
                         .c_str(),
                     F_OK),
              0)
        << hierarchy;
  }
}

bool IsRootWithV1Cgroups() {
  return geteuid() == 0 &&
         access("/sys/fs/cgroup/memory/cgroup.procs", F_OK) == 0 &&
         access("/sys/fs/cgroup/cgroup.controllers", F_OK) != 0;
}

TEST(SandboxCgroupTest, RealCgroupCreateReadRemove) {
  if (!IsRootWithV1Cgroups()) GTEST_SKIP() << "needs root and cgroup v1";
  absl::StatusOr<CgroupLayout> layout = CgroupLayout::Detect("/sys/fs/cgroup");
  ASSERT_TRUE(layout.ok()) << layout.status();
  const std::string parent = absl::StrCat("codeexec-cgtest-", getpid());
  absl::StatusOr<SandboxCgroup> cgroup = SandboxCgroup::Create(
      *layout, parent, "ce-00000000cafe",
      {.memory_bytes = 64 << 20, .cpu_millis = 500, .pids = 100});
  ASSERT_TRUE(cgroup.ok()) << cgroup.status();
  const std::string memory_dir =
      "/sys/fs/cgroup/memory/" + parent + "/ce-00000000cafe";
  EXPECT_EQ(Read(memory_dir + "/memory.limit_in_bytes"), "67108864\n");
  EXPECT_EQ(Read("/sys/fs/cgroup/cpu/" + parent +
                 "/ce-00000000cafe/cpu.cfs_quota_us"),
            "50000\n");
  EXPECT_EQ(Read("/sys/fs/cgroup/pids/" + parent + "/ce-00000000cafe/pids.max"),
            "100\n");
  CgroupMemoryEvents events = cgroup->ReadMemoryEvents();
  EXPECT_EQ(events.limit_hits, 0);
  EXPECT_EQ(events.oom_kills, 0);
  // What runsc would create below it, in another hierarchy too.
  ASSERT_EQ(mkdir((memory_dir + "/sandbox").c_str(), 0755), 0);
  ASSERT_EQ(mkdir(("/sys/fs/cgroup/freezer/" + parent).c_str(), 0755), 0);
  ASSERT_EQ(
      mkdir(("/sys/fs/cgroup/freezer/" + parent + "/ce-00000000cafe").c_str(),
            0755),
      0);
  EXPECT_TRUE(cgroup->Remove().ok());
  for (const std::string& hierarchy : layout->Hierarchies()) {
    EXPECT_NE(
        access((hierarchy + "/" + parent + "/ce-00000000cafe").c_str(), F_OK),
        0)
        << hierarchy;
  }
  // Leftover cleanup removes every per-run cgroup but keeps the parent.
  absl::StatusOr<SandboxCgroup> leftover =
      SandboxCgroup::Create(*layout, parent, "ce-00000000beef", {});
  ASSERT_TRUE(leftover.ok());
  EXPECT_TRUE(RemoveLeftoverCgroups(*layout, parent).ok());
  EXPECT_NE(
      access(("/sys/fs/cgroup/pids/" + parent + "/ce-00000000beef").c_str(),
             F_OK),
      0);
  for (const std::string& hierarchy : layout->Hierarchies()) {
    rmdir((hierarchy + "/" + parent).c_str());
  }
}

}  // namespace
}  // namespace codeexec
