#include "server/local/oci_bundle.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/local/fs_util.h"

namespace codeexec {
namespace {

using ::testing::ElementsAre;
using json = nlohmann::json;

OciBundleConfig SampleConfig() {
  OciBundleConfig config;
  config.args = {"/opt/code-executor/launcher", "/opt/code-executor/request"};
  config.env = {{"A", "1"}, {"B", "two words"}};
  config.max_processes = 32;
  config.tmp_bytes = 16 << 20;
  config.workspace_bytes = 8 << 20;
  config.rootfs = "/var/lib/code-executor/rootfs";
  config.launcher_bundle_dir = "/run/ce/bundles/ce-0123456789ab/launcher";
  config.cgroups_path = "/code-executor/ce-0123456789ab/sandbox";
  return config;
}

TEST(BuildSandboxEnvTest, BaseThenRequestInOrder) {
  absl::StatusOr<std::vector<std::string>> env =
      BuildSandboxEnv({{"A", "1"}, {"B", "x=y"}});
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_THAT(*env, ElementsAre("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:"
                                "/usr/bin:/sbin:/bin",
                                "HOME=/tmp", "LANG=C.UTF-8", "A=1", "B=x=y"));
}

TEST(BuildSandboxEnvTest, LaterEntriesWinInPlace) {
  absl::StatusOr<std::vector<std::string>> env =
      BuildSandboxEnv({{"A", "1"}, {"HOME", "/workspace"}, {"A", "2"}});
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_THAT(*env, ElementsAre(testing::StartsWith("PATH="), "HOME=/workspace",
                                "LANG=C.UTF-8", "A=2"));
}

TEST(BuildSandboxEnvTest, RejectsBadNames) {
  EXPECT_FALSE(BuildSandboxEnv({{"", "1"}}).ok());
  EXPECT_FALSE(BuildSandboxEnv({{"A=B", "1"}}).ok());
  EXPECT_FALSE(BuildSandboxEnv({{std::string("A\0B", 3), "1"}}).ok());
  EXPECT_FALSE(BuildSandboxEnv({{"A", std::string("1\0", 2)}}).ok());
}

TEST(BuildOciConfigTest, ProcessFields) {
  absl::StatusOr<json> config = BuildOciConfig(SampleConfig());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ((*config)["ociVersion"], "1.0.0");
  const json& process = (*config)["process"];
  EXPECT_EQ(process["terminal"], false);
  // The launcher is the sandbox's root; it starts the program as its own
  // user (the request's run_as), which then has no capabilities at all.
  EXPECT_EQ(process["user"], json({{"uid", 0}, {"gid", 0}}));
  EXPECT_EQ(process["args"], json({"/opt/code-executor/launcher",
                                   "/opt/code-executor/request"}));
  EXPECT_EQ(process["cwd"], "/workspace");
  EXPECT_EQ(process["env"].size(), 5u);
  EXPECT_EQ(process["env"][3], "A=1");
  EXPECT_EQ(process["env"][4], "B=two words");
  EXPECT_EQ(process["noNewPrivileges"], true);
  const json launcher_caps = {"CAP_CHOWN", "CAP_DAC_READ_SEARCH", "CAP_KILL",
                              "CAP_SETGID", "CAP_SETUID"};
  for (const char* set : {"bounding", "effective", "permitted"}) {
    EXPECT_EQ(process["capabilities"][set], launcher_caps) << set;
  }
  for (const char* set : {"inheritable", "ambient"}) {
    EXPECT_EQ(process["capabilities"][set], json::array()) << set;
  }
  EXPECT_EQ(process["rlimits"],
            json::parse(R"([{"type":"RLIMIT_NOFILE","hard":1024,"soft":1024},
                            {"type":"RLIMIT_NPROC","hard":32,"soft":32}])"));
}

TEST(BuildOciConfigTest, RootMountsNamespacesAndNoResources) {
  absl::StatusOr<json> config = BuildOciConfig(SampleConfig());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ((*config)["root"], json({{"path", "/var/lib/code-executor/rootfs"},
                                     {"readonly", true}}));
  EXPECT_EQ((*config)["hostname"], "sandbox");
  const json& mounts = (*config)["mounts"];
  ASSERT_EQ(mounts.size(), 6u);
  EXPECT_EQ(mounts[0]["destination"], "/proc");
  EXPECT_EQ(mounts[0]["type"], "proc");
  EXPECT_EQ(mounts[1]["destination"], "/dev");
  EXPECT_EQ(mounts[1]["type"], "tmpfs");
  EXPECT_EQ(mounts[2]["destination"], "/sys");
  EXPECT_EQ(mounts[2]["type"], "sysfs");
  EXPECT_THAT(mounts[2]["options"].get<std::vector<std::string>>(),
              testing::Contains("ro"));
  EXPECT_EQ(mounts[3]["destination"], "/tmp");
  EXPECT_EQ(mounts[3]["type"], "tmpfs");
  EXPECT_THAT(mounts[3]["options"].get<std::vector<std::string>>(),
              testing::IsSupersetOf({"size=16777216", "mode=1777"}));
  // The workspace is the sandbox's own tmpfs: nothing of it on the host.
  EXPECT_EQ(mounts[4]["destination"], "/workspace");
  EXPECT_EQ(mounts[4]["type"], "tmpfs");
  EXPECT_THAT(mounts[4]["options"].get<std::vector<std::string>>(),
              testing::IsSupersetOf({"size=8388608", "mode=0755"}));
  EXPECT_EQ(mounts[5]["destination"], "/opt/code-executor");
  EXPECT_EQ(mounts[5]["type"], "bind");
  EXPECT_EQ(mounts[5]["source"], "/run/ce/bundles/ce-0123456789ab/launcher");
  EXPECT_THAT(mounts[5]["options"].get<std::vector<std::string>>(),
              testing::IsSupersetOf({"rbind", "ro", "nosuid", "nodev"}));
  // The launcher is executed from the bundle.
  EXPECT_THAT(mounts[5]["options"].get<std::vector<std::string>>(),
              testing::Not(testing::Contains("noexec")));

  const json& linux_section = (*config)["linux"];
  EXPECT_EQ(linux_section["cgroupsPath"],
            "/code-executor/ce-0123456789ab/sandbox");
  EXPECT_FALSE(linux_section.contains("resources"));
  std::vector<std::string> namespaces;
  for (const json& ns : linux_section["namespaces"]) {
    namespaces.push_back(ns["type"]);
  }
  EXPECT_THAT(namespaces, ElementsAre("pid", "network", "ipc", "uts", "mount"));
}

TEST(BuildOciConfigTest, RequiresCommand) {
  OciBundleConfig config = SampleConfig();
  config.args.clear();
  absl::StatusOr<json> built = BuildOciConfig(config);
  ASSERT_FALSE(built.ok());
  EXPECT_THAT(built.status().message(), testing::HasSubstr("command"));
}

TEST(WriteOciBundleTest, WritesParsableConfig) {
  char dir_template[] = "/tmp/oci_bundle_test.XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string bundle = std::string(dir_template) + "/ce-0123456789ab";
  ASSERT_TRUE(WriteOciBundle(bundle, SampleConfig()).ok());
  std::ifstream in(bundle + "/config.json");
  std::stringstream text;
  text << in.rdbuf();
  json parsed = json::parse(text.str());
  EXPECT_EQ(parsed, *BuildOciConfig(SampleConfig()));
  // A second write to the same bundle fails instead of overwriting.
  EXPECT_FALSE(WriteOciBundle(bundle, SampleConfig()).ok());
  EXPECT_TRUE(RemoveTree(dir_template).ok());
}

TEST(WriteOciBundleTest, InvalidUtf8IsAnErrorNotAnException) {
  char dir_template[] = "/tmp/oci_bundle_test.XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  OciBundleConfig config = SampleConfig();
  config.args.push_back("\xff\xfe");
  absl::Status status =
      WriteOciBundle(std::string(dir_template) + "/b", config);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(RemoveTree(dir_template).ok());
}

}  // namespace
}  // namespace codeexec
