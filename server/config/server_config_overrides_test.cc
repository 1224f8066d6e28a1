// --set overrides: "dotted.key.path=value" applied onto the YAML tree before
// it is read, so they are validated exactly like file content.
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/config/server_config.h"

namespace codeexec {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;
using ::testing::StartsWith;

std::string Message(const absl::Status& status) {
  return std::string(status.message());
}

TEST(OverridesTest, CreateKeysOnAnEmptyFile) {
  absl::StatusOr<ServerConfig> config = ParseServerConfig(
      "",
      {"dispatcher.workers=2", "limits.maxima.cpu=8", "local.killGrace=5s"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->dispatcher.workers, 2);
  EXPECT_EQ(config->validation.limits.max_cpu_millis, 8000);
  EXPECT_EQ(config->local.kill_grace, absl::Seconds(5));
  EXPECT_EQ(config->dispatcher.queue_size, 64);
}

TEST(OverridesTest, ReplaceFileValuesAndLaterOverridesWin) {
  absl::StatusOr<ServerConfig> config = ParseServerConfig(
      "apiVersion: codeexecutor/v1\nkind: ServerConfig\n"
      "dispatcher:\n  workers: 8\nlocal:\n  platform: systrap\n",
      {"dispatcher.workers=3", "server.backend=gvisor-local",
       "dispatcher.workers=5", "server.listenAddress=\"[::]:7000\""});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->dispatcher.workers, 5);
  EXPECT_EQ(config->server.listen_address, "[::]:7000");
  EXPECT_EQ(config->local.platform, "systrap");  // untouched file value

  // Unquoted, the value is YAML flow syntax, not a string.
  config = ParseServerConfig("", {"server.listenAddress=[::]:7000"});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(Message(config.status()),
            "server.listenAddress: expected a string, got a list");
}

TEST(OverridesTest, ValueIsParsedAsYaml) {
  absl::StatusOr<ServerConfig> config = ParseServerConfig(
      "", {"local.extraRunscFlags=[--debug, --strace]",
           "languages.ruby={file: main.rb, command: [ruby, main.rb]}",
           "defaultLanguage=ruby", "server.metricsAddress=",
           "languages.python.env.TZ=UTC", "languages.python.file=main.py",
           "languages.python.command=[python3, main.py]"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_THAT(config->local.extra_runsc_flags,
              ElementsAre("--debug", "--strace"));
  EXPECT_EQ(config->validation.languages.at("ruby").file_name, "main.rb");
  EXPECT_EQ(config->validation.default_language, "ruby");
  EXPECT_EQ(config->server.metrics_address, "");
  // The overrides built a whole new python profile.
  EXPECT_THAT(config->validation.languages.at("python").env,
              ElementsAre(Pair("TZ", "UTC")));
  EXPECT_EQ(config->validation.languages.at("python").image, "");
}

TEST(OverridesTest, ReplaceANullSection) {
  absl::StatusOr<ServerConfig> config = ParseServerConfig(
      "apiVersion: codeexecutor/v1\nkind: ServerConfig\ndispatcher:\n",
      {"dispatcher.queueSize=0"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->dispatcher.queue_size, 0);
}

TEST(OverridesTest, MalformedOverridesFailNamingThem) {
  struct Case {
    std::string override_assignment;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"noequals", "--set \"noequals\": expected dotted.key.path=value"},
      {"=1", "--set \"=1\": empty key in the key path"},
      {"dispatcher..workers=1",
       "--set \"dispatcher..workers=1\": empty key in the key path"},
      {"server.backend.name=x",
       "--set \"server.backend.name=x\": server.backend is \"gvisor-local\", "
       "not a mapping"},
  };
  for (const Case& test_case : cases) {
    absl::StatusOr<ServerConfig> config = ParseServerConfig(
        "apiVersion: codeexecutor/v1\nkind: ServerConfig\nserver:\n"
        "  backend: gvisor-local\n",
        {test_case.override_assignment});
    ASSERT_FALSE(config.ok()) << test_case.override_assignment;
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(Message(config.status()), test_case.message);
  }
}

TEST(OverridesTest, InvalidYamlValueFailsNamingTheOverride) {
  absl::StatusOr<ServerConfig> config =
      ParseServerConfig("", {"local.extraRunscFlags=[--debug"});
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(Message(config.status()),
              StartsWith("--set \"local.extraRunscFlags=[--debug\": "
                         "invalid YAML value"));
}

TEST(OverridesTest, ValuesAreValidatedLikeFileContent) {
  absl::StatusOr<ServerConfig> config =
      ParseServerConfig("", {"dispatcher.workers=abc"});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(Message(config.status()),
            "dispatcher.workers: expected an integer, got \"abc\"");

  config = ParseServerConfig("", {"dispatcher.wrokers=2"});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(Message(config.status()),
            "dispatcher.wrokers: unknown key (did you mean workers?)");

  // A profile built by overrides needs file and command like one in a file.
  config = ParseServerConfig("", {"languages.python.image=python:3.12"});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(Message(config.status()), "languages.python.file: required");
}

TEST(OverridesTest, IdentityKeysAreOptionalOnlyWithoutAFile) {
  EXPECT_TRUE(ParseServerConfig("", {"kind=ServerConfig"}).ok());
  absl::StatusOr<ServerConfig> config =
      ParseServerConfig("", {"apiVersion=codeexecutor/v2"});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(Message(config.status()),
            "apiVersion: expected \"codeexecutor/v1\", got "
            "\"codeexecutor/v2\"");
}

TEST(StringOverrideTest, SetsAnyTextAsAString) {
  EXPECT_EQ(StringOverride("server.listenAddress", "[::]:50051"),
            "server.listenAddress=\"[::]:50051\"");
  for (const std::string value :
       {"[::]:50051", "", "a: b", "{x}", "say \"hi\"", "C:\\dir\\",
        "tab\tnew\nline", "#comment", "~", "null", "- item", "é"}) {
    absl::StatusOr<ServerConfig> config =
        ParseServerConfig("", {StringOverride("server.portsFile", value)});
    ASSERT_TRUE(config.ok()) << value << ": " << config.status();
    EXPECT_EQ(config->server.ports_file, value);
  }
}

}  // namespace
}  // namespace codeexec
