// The Options structs are the one source of every config default; the copies
// for people are tested against them here: each default in
// docs/configuration.md's tables, each key of the example file and the
// chart's `config:` values. (The example file's values are checked in
// server_config_test.cc.)
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/config/server_config.h"
#include "server/config/server_config_test_util.h"
#include "tests/source_file.h"
#include "yaml-cpp/yaml.h"

namespace codeexec {
namespace {

using ::testing::HasSubstr;
using testing_util::ReadSourceFile;

struct DocumentedKey {
  std::string path;           // e.g. "kubernetes.scheduleTimeout"
  std::string default_value;  // YAML text, e.g. "120s"
  std::string row;
};

// "`x`" -> "x"; anything else -> "".
std::string Backquoted(absl::string_view cell) {
  cell = absl::StripAsciiWhitespace(cell);
  if (cell.size() < 2 || cell.front() != '`' || cell.back() != '`') return "";
  return std::string(cell.substr(1, cell.size() - 2));
}

// Rows of the "| Key | Type | Default | Meaning |" tables, with the key path
// their section heading gives them (e.g. "## `kubernetes` (...)" or
// "### `limits.defaults`"). Per-element sections (`...[i]`) and per-language
// rows (`languages.<name>...`) have no default to check.
std::vector<DocumentedKey> DocumentedKeys() {
  std::vector<DocumentedKey> keys;
  std::string section;
  for (absl::string_view line :
       absl::StrSplit(ReadSourceFile("docs/configuration.md"), '\n')) {
    if (absl::StartsWith(line, "#")) {
      const std::vector<std::string> quoted = absl::StrSplit(line, '`');
      section = quoted.size() >= 3 ? quoted[1] : "";
      continue;
    }
    if (!absl::StartsWith(line, "| `") || section.empty() ||
        absl::StrContains(section, "[")) {
      continue;
    }
    const std::vector<std::string> cells = absl::StrSplit(line, '|');
    if (cells.size() < 5) continue;
    const std::string key = Backquoted(cells[1]);
    const std::string default_value = Backquoted(cells[3]);
    if (key.empty() || default_value.empty() || absl::StrContains(key, "<")) {
      continue;
    }
    const std::string path = absl::StartsWith(section, "languages")
                                 ? key
                                 : absl::StrCat(section, ".", key);
    keys.push_back({path, default_value, std::string(line)});
  }
  return keys;
}

TEST(ConfigDocsTest, EveryDocumentedDefaultIsTheCodesDefault) {
  const std::vector<DocumentedKey> keys = DocumentedKeys();
  EXPECT_GE(keys.size(), 50u) << "the tables were not found";
  for (const DocumentedKey& key : keys) {
    SCOPED_TRACE(key.row);
    absl::StatusOr<ServerConfig> config =
        ParseServerConfig("", {absl::StrCat(key.path, "=", key.default_value)});
    ASSERT_TRUE(config.ok()) << config.status();
    ExpectSameConfig(*config, DefaultServerConfig());
  }
}

// "a.b.c" for every scalar, sequence or empty mapping of a mapping tree.
void LeafPaths(const YAML::Node& node, const std::string& prefix,
               std::set<std::string>& paths) {
  if (!node.IsMap() || node.size() == 0) {
    paths.insert(prefix);
    return;
  }
  for (const auto& entry : node) {
    const std::string key = entry.first.as<std::string>();
    LeafPaths(entry.second,
              prefix.empty() ? key : absl::StrCat(prefix, ".", key), paths);
  }
}

TEST(ConfigDocsTest, TheExampleFileAndTheDocsNameTheSameKeys) {
  std::set<std::string> example;
  LeafPaths(YAML::Load(ReadSourceFile("docs/server-config.example.yaml")), "",
            example);
  std::set<std::string> documented;
  for (const DocumentedKey& key : DocumentedKeys()) documented.insert(key.path);
  // Language profiles are examples, not defaults; tolerations are a list.
  std::erase_if(example, [](const std::string& path) {
    return absl::StartsWith(path, "languages.") || path == "apiVersion" ||
           path == "kind";
  });
  EXPECT_EQ(example, documented);
}

// Each built-in profile's rootfs (python's is local.rootfs) is the tree
// scripts/install-sandbox-rootfs installs for that language by default.
TEST(DefaultServerConfigTest, ProfileRootfsTreesAreTheInstallScriptsDefaults) {
  const ServerConfig config = DefaultServerConfig();
  const std::string script = ReadSourceFile("scripts/install-sandbox-rootfs");
  for (const auto& [name, profile] : config.validation.languages) {
    const std::string rootfs =
        profile.rootfs.empty() ? config.local.rootfs : profile.rootfs;
    EXPECT_THAT(script, HasSubstr(absl::StrCat("[", name, "]=", rootfs, "\n")))
        << name;
  }
  EXPECT_TRUE(config.validation.languages.at("python").rootfs.empty());
}

// The built-in profiles as docs/configuration.md shows them (its yaml block
// under "## `languages` ...") are the code's.
TEST(ConfigDocsTest, TheDocumentedBuiltInLanguagesAreTheCodes) {
  const std::string docs = ReadSourceFile("docs/configuration.md");
  const size_t section = docs.find("## `languages`");
  ASSERT_NE(section, std::string::npos);
  const size_t begin = docs.find("```yaml\n", section);
  ASSERT_NE(begin, std::string::npos);
  const size_t end = docs.find("```", begin + 8);
  ASSERT_NE(end, std::string::npos);
  const std::string block = docs.substr(begin + 8, end - begin - 8);
  absl::StatusOr<ServerConfig> parsed = ParseServerConfig(
      absl::StrCat("apiVersion: codeexecutor/v1\nkind: ServerConfig\n", block),
      {});
  ASSERT_TRUE(parsed.ok()) << parsed.status() << "\n" << block;
  ExpectSameConfig(*parsed, DefaultServerConfig());
}

TEST(ConfigDocsTest, TheChartsConfigValuesAreTheCodesDefaults) {
  YAML::Node values =
      YAML::Load(ReadSourceFile("charts/code-executor/values.yaml"));
  YAML::Node config = YAML::Clone(values["config"]);
  ASSERT_TRUE(config.IsMap());
  // The chart's deliberate differences: it runs the kubernetes backend only,
  // in the release namespace ("" is filled in by the template).
  EXPECT_EQ(config["server"]["backend"].as<std::string>(),
            kKubernetesBackendName);
  EXPECT_EQ(config["kubernetes"]["namespace"].as<std::string>(), "");
  config["server"].remove("backend");
  config["kubernetes"].remove("namespace");
  YAML::Emitter out;
  out << config;
  absl::StatusOr<ServerConfig> parsed = ParseServerConfig(out.c_str(), {});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ExpectSameConfig(*parsed, DefaultServerConfig());
}

}  // namespace
}  // namespace codeexec
