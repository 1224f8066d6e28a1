// Typed, path-aware reading of a YAML tree (yaml-cpp) for the server config:
// every error is InvalidArgument and starts with the dotted key path of the
// offending value. No yaml-cpp exception leaves these functions.
#ifndef CODEEXEC_SERVER_CONFIG_YAML_FIELDS_H_
#define CODEEXEC_SERVER_CONFIG_YAML_FIELDS_H_

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/exec/execution_spec.h"
#include "yaml-cpp/yaml.h"

namespace codeexec {

// How every config error reads: InvalidArgument "<path>: <message>".
absl::Status ConfigError(absl::string_view path, absl::string_view message);

// `text` C-escaped in double quotes, for error messages: "a\tb" -> "\"a\\tb\"".
std::string Quoted(absl::string_view text);

// "a.b" + "c" -> "a.b.c"; "" + "c" -> "c".
std::string JoinKeyPath(absl::string_view parent, absl::string_view key);

// What a node holds, for "expected X, got Y" messages: the quoted scalar,
// "a list", "a mapping", "null" or "nothing".
std::string DescribeYamlNode(const YAML::Node& node);

// One mapping of the tree being read. Readers leave the output untouched
// when the key is absent and return whether they stored a value. The first
// error is kept in the shared `status`; once it is set, readers do nothing.
class YamlMap {
 public:
  // `node` must be a mapping; null or undefined reads as an empty one.
  // `path` is its dotted key path ("" for the top level).
  YamlMap(const YAML::Node& node, std::string path, absl::Status& status);

  const std::string& path() const { return path_; }
  bool ok() const { return status_->ok(); }
  bool Has(absl::string_view key) const;

  // Child mapping at `key` (absent or null = empty).
  YamlMap Map(absl::string_view key);
  // Every key of a mapping whose keys are names (languages, env), in file
  // order; they all count as known.
  std::vector<std::string> Keys();

  bool String(absl::string_view key, std::string& out);
  bool StringList(absl::string_view key, std::vector<std::string>& out);
  // A list whose elements are mappings, one YamlMap per element, with the
  // path "<path>.<key>[<index>]" (so errors read "a.list[1].field: ...").
  // Null reads as an empty list. nullopt when absent or after an error. The
  // caller reads each element and calls its RejectUnknownKeys.
  std::optional<std::vector<YamlMap>> MapList(absl::string_view key);
  // Mapping of names to string values, e.g. environment variables.
  bool StringMap(absl::string_view key, EnvVars& out);
  bool Integer(absl::string_view key, int64_t min, int64_t max, int64_t& out);
  template <typename Int>
  bool Integer(absl::string_view key, Int& out) {
    int64_t value = 0;
    if (!Integer(key, std::numeric_limits<Int>::min(),
                 std::numeric_limits<Int>::max(), value)) {
      return false;
    }
    out = static_cast<Int>(value);
    return true;
  }
  // true or false (YAML 1.2's spelling only: not yes/no/on/off).
  bool Bool(absl::string_view key, bool& out);
  // A finite number: "50", "0.5", "1e3" (not "inf" or "nan").
  bool Double(absl::string_view key, double& out);
  // "300s", "5m", "1h30m", "250ms" or a bare integer number of seconds.
  bool Duration(absl::string_view key, absl::Duration& out);
  // Kubernetes quantities ("500m", "0.5"; "256Mi", "1G").
  bool CpuMillis(absl::string_view key, int64_t& out);
  bool Bytes(absl::string_view key, int64_t& out);

  // Records "<path>.<key>: <message>" unless an error is already recorded.
  void Fail(absl::string_view key, absl::string_view message);
  // Fails for a required key that is absent.
  void Require(absl::string_view key);
  // Fails for the first key no reader asked for, suggesting a close match
  // among the keys that were asked for. Call after all reads.
  void RejectUnknownKeys();

 private:
  struct Entry {
    std::string key;
    YAML::Node value;
  };
  // The value at `key`, or nullptr when absent (or an error is recorded).
  // Remembers `key` as known.
  const YAML::Node* Find(absl::string_view key);
  // The scalar text at `key`; nullopt when absent or after failing with
  // "expected <what>, got ...". Null reads as "" when `null_is_empty`.
  std::optional<std::string> ScalarText(absl::string_view key,
                                        absl::string_view what,
                                        bool null_is_empty);

  std::string path_;
  absl::Status* status_;
  std::vector<Entry> entries_;
  std::vector<std::string> known_keys_;
};

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_CONFIG_YAML_FIELDS_H_
