#include "server/config/server_config.h"

#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/config/server_config_test_util.h"

#ifndef CODEEXEC_SOURCE_DIR
#error "CODEEXEC_SOURCE_DIR must name the repository root"
#endif

namespace codeexec {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::StartsWith;

std::string Message(const absl::Status& status) {
  return std::string(status.message());
}

TEST(DefaultServerConfigTest, HasPythonBashAndJavascriptProfiles) {
  const ServerConfig config = DefaultServerConfig();
  EXPECT_EQ(config.validation.default_language, "python");
  ASSERT_TRUE(config.validation.languages.contains("python"));
  const LanguageProfile& python = config.validation.languages.at("python");
  EXPECT_EQ(python.file_name, "main.py");
  EXPECT_THAT(python.command, ElementsAre("python3", "main.py"));
  EXPECT_EQ(python.image, "python:3.11-slim");
  EXPECT_THAT(python.env, ElementsAre(Pair("PYTHONUNBUFFERED", "1")));
  ASSERT_TRUE(config.validation.languages.contains("bash"));
  const LanguageProfile& bash = config.validation.languages.at("bash");
  EXPECT_EQ(bash.file_name, "main.sh");
  EXPECT_THAT(bash.command, ElementsAre("bash", "main.sh"));
  EXPECT_EQ(bash.image, "bash:5.2");
  EXPECT_TRUE(bash.env.empty());
  ASSERT_TRUE(config.validation.languages.contains("javascript"));
  const LanguageProfile& javascript =
      config.validation.languages.at("javascript");
  EXPECT_EQ(javascript.file_name, "main.js");
  EXPECT_THAT(javascript.command, ElementsAre("node", "main.js"));
  EXPECT_EQ(javascript.image, "node:22-slim");
  EXPECT_TRUE(javascript.env.empty());
}

TEST(DefaultServerConfigTest, IsValid) {
  EXPECT_TRUE(ValidateServerConfig(DefaultServerConfig()).ok());
}

TEST(ParseServerConfigTest, EmptyTextGivesDefaults) {
  for (const std::string text : {"", "\n", "# only a comment\n", "---\n"}) {
    absl::StatusOr<ServerConfig> config = ParseServerConfig(text, {});
    ASSERT_TRUE(config.ok()) << config.status();
    ExpectSameConfig(*config, DefaultServerConfig());
  }
}

TEST(ParseServerConfigTest, ExampleFileEqualsDefaults) {
  absl::StatusOr<ServerConfig> config = LoadServerConfig(
      CODEEXEC_SOURCE_DIR "/docs/server-config.example.yaml", {});
  ASSERT_TRUE(config.ok()) << config.status();
  ExpectSameConfig(*config, DefaultServerConfig());
}

constexpr char kFullFile[] = R"yaml(
apiVersion: codeexecutor/v1
kind: ServerConfig
server:
  listenAddress: 127.0.0.1:6000
  metricsAddress: ""
  backend: gvisor-local
  shutdownGrace: 1m30s
  portsFile: /tmp/ports.json
  maxUnsentOutputBytes: 512Ki
dispatcher:
  workers: 8
  queueSize: 0
limits:
  defaults:
    timeout: 60
    cpuRequested: "0.25"
    cpuLimit: 1
    memoryRequested: 128Mi
    memoryLimit: 1Gi
    maxOutputBytes: 1M
  maxima:
    timeout: 2h
    cpu: 2500m
    memory: 2Gi
    outputBytes: 100Mi
    codeBytes: 1Mi
    stdinBytes: 0
    envVars: 10
    inputFiles: 5
    inputFileBytes: 1e6
    outputFiles: 0
    outputFileBytes: 4Ki
languages:
  python:
    file: app.py
    command: [python3, -u, app.py]
    image: python:3.12-slim
  ruby:
    file: main.rb
    command:
      - ruby
      - main.rb
    rootfs: /srv/rootfs-ruby
    env:
      RUBYOPT: -W0
      LANG: C.UTF-8
      EMPTY:
defaultLanguage: ruby
local:
  runscPath: /opt/gvisor/bin/runsc
  stateDir: /var/run/ce
  rootfs: /srv/rootfs
  platform: ptrace
  workspaceSize: 128Mi
  tmpSize: 16Mi
  maxProcesses: 32
  hostPidsLimit: 1024
  runAsUid: 1001
  runAsGid: 1002
  cgroupParent: ce/test
  killGrace: 500ms
  extraRunscFlags: [--debug, --debug-log=/tmp/runsc/]
)yaml";

// Every field but the kubernetes section's (server_config_kubernetes_test.cc).
TEST(ParseServerConfigTest, FullFileSetsEveryField) {
  absl::StatusOr<ServerConfig> parsed = ParseServerConfig(kFullFile, {});
  ASSERT_TRUE(parsed.ok()) << parsed.status();

  ServerConfig expected = DefaultServerConfig();
  expected.server.listen_address = "127.0.0.1:6000";
  expected.server.metrics_address = "";
  expected.server.shutdown_grace = absl::Seconds(90);
  expected.server.ports_file = "/tmp/ports.json";
  expected.server.max_unsent_output_bytes = 512 * 1024;
  expected.dispatcher.workers = 8;
  expected.dispatcher.queue_size = 0;
  LimitsOptions& limits = expected.validation.limits;
  limits.default_timeout = absl::Seconds(60);
  limits.default_resources.cpu_request_millis = 250;
  limits.default_resources.cpu_limit_millis = 1000;
  limits.default_resources.memory_request_bytes = 128 << 20;
  limits.default_resources.memory_limit_bytes = 1 << 30;
  limits.default_max_output_bytes = 1000000;
  limits.max_timeout = absl::Hours(2);
  limits.max_cpu_millis = 2500;
  limits.max_memory_bytes = int64_t{2} << 30;
  limits.max_output_bytes = 100 << 20;
  limits.max_code_bytes = 1 << 20;
  limits.max_stdin_bytes = 0;
  limits.max_env_vars = 10;
  limits.max_input_files = 5;
  limits.max_input_file_bytes = 1000000;
  limits.max_output_files = 0;
  limits.max_output_file_bytes = 4096;
  // A profile in the file replaces the built-in one whole (python loses its
  // env); bash stays; ruby is added.
  expected.validation.languages["python"] = {
      "app.py", {"python3", "-u", "app.py"}, "python:3.12-slim", {}, ""};
  expected.validation.languages["ruby"] = {
      "main.rb",
      {"ruby", "main.rb"},
      "",
      {{"RUBYOPT", "-W0"}, {"LANG", "C.UTF-8"}, {"EMPTY", ""}},
      "/srv/rootfs-ruby"};
  expected.validation.default_language = "ruby";
  expected.local.runsc_path = "/opt/gvisor/bin/runsc";
  expected.local.state_dir = "/var/run/ce";
  expected.local.rootfs = "/srv/rootfs";
  expected.local.platform = "ptrace";
  expected.local.workspace_bytes = 128 << 20;
  expected.local.tmp_bytes = 16 << 20;
  expected.local.max_processes = 32;
  expected.local.host_pids_limit = 1024;
  expected.local.run_as_uid = 1001;
  expected.local.run_as_gid = 1002;
  expected.local.cgroup_parent = "ce/test";
  expected.local.kill_grace = absl::Milliseconds(500);
  expected.local.extra_runsc_flags = {"--debug", "--debug-log=/tmp/runsc/"};
  ExpectSameConfig(*parsed, expected);
}

TEST(ParseServerConfigTest, PartialFileKeepsOtherDefaults) {
  absl::StatusOr<ServerConfig> config = ParseServerConfig(
      "apiVersion: codeexecutor/v1\nkind: ServerConfig\n"
      "dispatcher:\n  workers: 2\nlimits:\n  maxima:\n    cpu: 8\n",
      {});
  ASSERT_TRUE(config.ok()) << config.status();
  ServerConfig expected = DefaultServerConfig();
  expected.dispatcher.workers = 2;
  expected.validation.limits.max_cpu_millis = 8000;
  ExpectSameConfig(*config, expected);
}

TEST(ParseServerConfigTest, NullSectionsAndListsReadAsEmpty) {
  absl::StatusOr<ServerConfig> config = ParseServerConfig(
      "apiVersion: codeexecutor/v1\nkind: ServerConfig\nserver:\n"
      "dispatcher: ~\nlocal:\n  extraRunscFlags:\n",
      {});
  ASSERT_TRUE(config.ok()) << config.status();
  ExpectSameConfig(*config, DefaultServerConfig());
}

TEST(YamlSyntaxTest, ReportsLineAndColumn) {
  absl::StatusOr<ServerConfig> config = ParseServerConfig(
      "apiVersion: codeexecutor/v1\nkind: ServerConfig\n"
      "dispatcher:\n  workers: [1, 2\n  queueSize: 3\n",
      {});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(config.status()),
            "invalid YAML at line 5, column 12: end of sequence flow not "
            "found");

  config = ParseServerConfig("server:\n\tlistenAddress: x\n", {});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(Message(config.status()),
            "invalid YAML at line 2, column 15: illegal map value");
}

TEST(YamlSyntaxTest, MoreThanOneDocumentFails) {
  absl::StatusOr<ServerConfig> config = ParseServerConfig(
      "apiVersion: codeexecutor/v1\nkind: ServerConfig\n---\nfoo: 1\n", {});
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(Message(config.status()),
              StartsWith("expected one YAML document, found 2"));
}

TEST(LoadServerConfigTest, EmptyPathGivesDefaultsPlusOverrides) {
  absl::StatusOr<ServerConfig> config =
      LoadServerConfig("", {"dispatcher.workers=7"});
  ASSERT_TRUE(config.ok()) << config.status();
  ServerConfig expected = DefaultServerConfig();
  expected.dispatcher.workers = 7;
  ExpectSameConfig(*config, expected);
}

TEST(LoadServerConfigTest, ReadsTheFile) {
  const std::string path = testing::TempDir() + "/server_config_test.yaml";
  {
    std::ofstream file(path);
    file << kFullFile;
  }
  absl::StatusOr<ServerConfig> config = LoadServerConfig(path, {});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->dispatcher.workers, 8);
}

TEST(LoadServerConfigTest, UnreadableFileFailsNamingThePath) {
  const std::string missing = testing::TempDir() + "/no/such/config.yaml";
  absl::StatusOr<ServerConfig> config = LoadServerConfig(missing, {});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(config.status()), HasSubstr("\"" + missing + "\""));

  config = LoadServerConfig(testing::TempDir(), {});
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(Message(config.status()), HasSubstr(testing::TempDir()));
}

}  // namespace
}  // namespace codeexec
