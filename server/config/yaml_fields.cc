#include "server/config/yaml_fields.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/exec/quantity.h"
#include "yaml-cpp/yaml.h"

namespace codeexec {
namespace {

size_t EditDistance(absl::string_view a, absl::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      const bool same =
          absl::ascii_tolower(a[i - 1]) == absl::ascii_tolower(b[j - 1]);
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + !same});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// The known key closest to `unknown` if it is a plausible typo, else "".
std::string Suggest(absl::string_view unknown,
                    const std::vector<std::string>& known_keys) {
  const size_t max_distance = unknown.size() <= 4 ? 1 : 2;
  std::string best;
  size_t best_distance = max_distance + 1;
  for (const std::string& known : known_keys) {
    const size_t distance = EditDistance(unknown, known);
    if (distance < best_distance) {
      best = known;
      best_distance = distance;
    }
  }
  return best;
}

}  // namespace

absl::Status ConfigError(absl::string_view path, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", message));
}

std::string Quoted(absl::string_view text) {
  return absl::StrCat("\"", absl::CHexEscape(text), "\"");
}

std::string DescribeYamlNode(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      return Quoted(node.Scalar());
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Null:
      return "null";
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

std::string JoinKeyPath(absl::string_view parent, absl::string_view key) {
  if (parent.empty()) return std::string(key);
  return absl::StrCat(parent, ".", key);
}

YamlMap::YamlMap(const YAML::Node& node, std::string path, absl::Status& status)
    : path_(std::move(path)), status_(&status) {
  if (!ok() || !node.IsDefined() || node.IsNull()) return;
  const std::string where = path_.empty() ? "configuration" : path_;
  if (!node.IsMap()) {
    *status_ = absl::InvalidArgumentError(absl::StrCat(
        where, ": expected a mapping, got ", DescribeYamlNode(node)));
    return;
  }
  for (const auto& pair : node) {
    if (!pair.first.IsScalar()) {
      *status_ = absl::InvalidArgumentError(absl::StrCat(
          where, ": keys must be strings, got ", DescribeYamlNode(pair.first)));
      return;
    }
    const std::string& key = pair.first.Scalar();
    if (Has(key)) {
      Fail(key, "duplicate key");
      return;
    }
    entries_.push_back({key, pair.second});
  }
}

bool YamlMap::Has(absl::string_view key) const {
  return std::any_of(entries_.begin(), entries_.end(),
                     [key](const Entry& entry) { return entry.key == key; });
}

const YAML::Node* YamlMap::Find(absl::string_view key) {
  if (std::find(known_keys_.begin(), known_keys_.end(), key) ==
      known_keys_.end()) {
    known_keys_.emplace_back(key);
  }
  if (!ok()) return nullptr;
  for (const Entry& entry : entries_) {
    if (entry.key == key) return &entry.value;
  }
  return nullptr;
}

YamlMap YamlMap::Map(absl::string_view key) {
  const YAML::Node* node = Find(key);
  return YamlMap(node == nullptr ? YAML::Node() : *node,
                 JoinKeyPath(path_, key), *status_);
}

std::vector<std::string> YamlMap::Keys() {
  std::vector<std::string> keys;
  for (const Entry& entry : entries_) {
    keys.push_back(entry.key);
    Find(entry.key);
  }
  return keys;
}

std::optional<std::string> YamlMap::ScalarText(absl::string_view key,
                                               absl::string_view what,
                                               bool null_is_empty) {
  const YAML::Node* node = Find(key);
  if (node == nullptr) return std::nullopt;
  if (node->IsScalar()) return node->Scalar();
  if (node->IsNull() && null_is_empty) return std::string();
  Fail(key, absl::StrCat("expected ", what, ", got ", DescribeYamlNode(*node)));
  return std::nullopt;
}

bool YamlMap::String(absl::string_view key, std::string& out) {
  std::optional<std::string> text = ScalarText(key, "a string", true);
  if (!text.has_value()) return false;
  out = *std::move(text);
  return true;
}

bool YamlMap::StringList(absl::string_view key, std::vector<std::string>& out) {
  const YAML::Node* node = Find(key);
  if (node == nullptr) return false;
  if (node->IsNull()) {
    out.clear();
    return true;
  }
  if (!node->IsSequence()) {
    Fail(key, absl::StrCat("expected a list of strings, got ",
                           DescribeYamlNode(*node)));
    return false;
  }
  std::vector<std::string> items;
  for (size_t i = 0; i < node->size(); ++i) {
    const YAML::Node item = (*node)[i];
    if (!item.IsScalar()) {
      Fail(absl::StrCat(key, "[", i, "]"),
           absl::StrCat("expected a string, got ", DescribeYamlNode(item)));
      return false;
    }
    items.push_back(item.Scalar());
  }
  out = std::move(items);
  return true;
}

std::optional<std::vector<YamlMap>> YamlMap::MapList(absl::string_view key) {
  const YAML::Node* node = Find(key);
  if (node == nullptr) return std::nullopt;
  std::vector<YamlMap> items;
  if (node->IsNull()) return items;
  if (!node->IsSequence()) {
    Fail(key, absl::StrCat("expected a list of mappings, got ",
                           DescribeYamlNode(*node)));
    return std::nullopt;
  }
  for (size_t i = 0; i < node->size(); ++i) {
    const YAML::Node item = (*node)[i];
    const std::string item_key = absl::StrCat(key, "[", i, "]");
    // A null element is more likely a stray "-" than an empty mapping.
    if (!item.IsMap()) {
      Fail(item_key,
           absl::StrCat("expected a mapping, got ", DescribeYamlNode(item)));
      return std::nullopt;
    }
    items.emplace_back(item, JoinKeyPath(path_, item_key), *status_);
  }
  if (!ok()) return std::nullopt;
  return items;
}

bool YamlMap::StringMap(absl::string_view key, EnvVars& out) {
  if (Find(key) == nullptr) return false;
  YamlMap map = Map(key);
  EnvVars values;
  for (const std::string& name : map.Keys()) {
    std::string value;
    map.String(name, value);
    values.emplace_back(name, std::move(value));
  }
  if (!ok()) return false;
  out = std::move(values);
  return true;
}

bool YamlMap::Integer(absl::string_view key, int64_t min, int64_t max,
                      int64_t& out) {
  std::optional<std::string> text = ScalarText(key, "an integer", false);
  if (!text.has_value()) return false;
  int64_t value = 0;
  if (text->empty() || absl::ascii_isspace(text->front()) ||
      !absl::SimpleAtoi(*text, &value)) {
    Fail(key, absl::StrCat("expected an integer, got ", Quoted(*text)));
    return false;
  }
  if (value < min || value > max) {
    Fail(key,
         absl::StrCat("must be between ", min, " and ", max, ", got ", value));
    return false;
  }
  out = value;
  return true;
}

bool YamlMap::Bool(absl::string_view key, bool& out) {
  std::optional<std::string> text = ScalarText(key, "true or false", false);
  if (!text.has_value()) return false;
  if (*text != "true" && *text != "false") {
    Fail(key, absl::StrCat("expected true or false, got ", Quoted(*text)));
    return false;
  }
  out = *text == "true";
  return true;
}

bool YamlMap::Double(absl::string_view key, double& out) {
  std::optional<std::string> text = ScalarText(key, "a number", false);
  if (!text.has_value()) return false;
  double value = 0;
  if (text->empty() || absl::ascii_isspace(text->front()) ||
      absl::ascii_isspace(text->back()) || !absl::SimpleAtod(*text, &value)) {
    Fail(key, absl::StrCat("expected a number, got ", Quoted(*text)));
    return false;
  }
  if (!std::isfinite(value)) {
    Fail(key, absl::StrCat("expected a finite number, got ", Quoted(*text)));
    return false;
  }
  out = value;
  return true;
}

bool YamlMap::Duration(absl::string_view key, absl::Duration& out) {
  constexpr absl::string_view kExpected =
      "a duration such as \"30s\", \"5m\", \"1h30m\", \"250ms\" or a number "
      "of seconds";
  std::optional<std::string> text = ScalarText(key, kExpected, false);
  if (!text.has_value()) return false;
  absl::Duration value;
  int64_t seconds = 0;
  if (absl::SimpleAtoi(*text, &seconds)) {
    value = absl::Seconds(seconds);
  } else if (!absl::ParseDuration(*text, &value)) {
    Fail(key, absl::StrCat("expected ", kExpected, ", got ", Quoted(*text)));
    return false;
  }
  if (value == absl::InfiniteDuration() || value == -absl::InfiniteDuration()) {
    Fail(key, absl::StrCat("duration ", Quoted(*text), " is out of range"));
    return false;
  }
  out = value;
  return true;
}

bool YamlMap::CpuMillis(absl::string_view key, int64_t& out) {
  std::optional<std::string> text = ScalarText(key, "a CPU quantity", false);
  if (!text.has_value()) return false;
  absl::StatusOr<int64_t> millis = ParseCpuMillis(*text);
  if (!millis.ok()) {
    Fail(key, millis.status().message());
    return false;
  }
  out = *millis;
  return true;
}

bool YamlMap::Bytes(absl::string_view key, int64_t& out) {
  std::optional<std::string> text = ScalarText(key, "a byte quantity", false);
  if (!text.has_value()) return false;
  absl::StatusOr<int64_t> bytes = ParseBytes(*text);
  if (!bytes.ok()) {
    Fail(key, bytes.status().message());
    return false;
  }
  out = *bytes;
  return true;
}

void YamlMap::Fail(absl::string_view key, absl::string_view message) {
  if (!ok()) return;
  *status_ = absl::InvalidArgumentError(
      absl::StrCat(JoinKeyPath(path_, key), ": ", message));
}

void YamlMap::Require(absl::string_view key) {
  if (Find(key) == nullptr) Fail(key, "required");
}

void YamlMap::RejectUnknownKeys() {
  for (const Entry& entry : entries_) {
    if (!ok()) return;
    if (std::find(known_keys_.begin(), known_keys_.end(), entry.key) !=
        known_keys_.end()) {
      continue;
    }
    const std::string suggestion = Suggest(entry.key, known_keys_);
    Fail(entry.key,
         suggestion.empty()
             ? "unknown key"
             : absl::StrCat("unknown key (did you mean ", suggestion, "?)"));
  }
}

}  // namespace codeexec
