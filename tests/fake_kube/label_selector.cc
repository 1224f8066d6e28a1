#include "tests/fake_kube/label_selector.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace codeexec::fake_kube {
namespace {

absl::Status ParseError(absl::string_view requirement, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      "unable to parse requirement: ", why, " in \"", requirement, "\""));
}

bool IsLabelKeyChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' ||
         c == '_' || c == '.' || c == '/';
}

bool IsValidKey(absl::string_view key) {
  return !key.empty() && std::all_of(key.begin(), key.end(), IsLabelKeyChar);
}

// Splits at commas that are not inside parentheses.
std::vector<std::string> SplitTopLevel(absl::string_view text) {
  std::vector<std::string> parts;
  std::string current;
  int depth = 0;
  for (char c : text) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (c == ',' && depth == 0) {
      parts.push_back(std::move(current));
      current.clear();
    } else {
      current.push_back(c);
    }
  }
  parts.push_back(std::move(current));
  return parts;
}

}  // namespace

absl::StatusOr<LabelSelector> LabelSelector::Parse(absl::string_view text) {
  LabelSelector selector;
  if (absl::StripAsciiWhitespace(text).empty()) return selector;
  for (const std::string& part : SplitTopLevel(text)) {
    absl::StatusOr<Requirement> requirement = ParseRequirement(part);
    if (!requirement.ok()) return requirement.status();
    selector.requirements_.push_back(*std::move(requirement));
  }
  return selector;
}

absl::StatusOr<LabelSelector::Requirement> LabelSelector::ParseRequirement(
    absl::string_view text) {
  absl::string_view trimmed = absl::StripAsciiWhitespace(text);
  Requirement requirement;
  if (trimmed.empty()) return ParseError(text, "empty requirement");
  if (absl::ConsumePrefix(&trimmed, "!")) {
    requirement.key = std::string(absl::StripAsciiWhitespace(trimmed));
    requirement.op = Op::kNotExists;
  } else if (size_t pos = trimmed.find("!="); pos != absl::string_view::npos) {
    requirement.key =
        std::string(absl::StripAsciiWhitespace(trimmed.substr(0, pos)));
    requirement.op = Op::kNotEquals;
    requirement.values.emplace_back(
        absl::StripAsciiWhitespace(trimmed.substr(pos + 2)));
  } else if (size_t pos = trimmed.find('='); pos != absl::string_view::npos) {
    requirement.key =
        std::string(absl::StripAsciiWhitespace(trimmed.substr(0, pos)));
    requirement.op = Op::kEquals;
    absl::string_view value = trimmed.substr(pos + 1);
    absl::ConsumePrefix(&value, "=");
    requirement.values.emplace_back(absl::StripAsciiWhitespace(value));
  } else if (size_t paren = trimmed.find('(');
             paren != absl::string_view::npos) {
    std::vector<absl::string_view> words =
        absl::StrSplit(trimmed.substr(0, paren), ' ', absl::SkipEmpty());
    if (words.size() != 2 || !absl::EndsWith(trimmed, ")")) {
      return ParseError(text, "expected `key in (values)`");
    }
    requirement.key = std::string(words[0]);
    if (words[1] == "in") {
      requirement.op = Op::kIn;
    } else if (words[1] == "notin") {
      requirement.op = Op::kNotIn;
    } else {
      return ParseError(text, "unknown operator");
    }
    absl::string_view inside =
        trimmed.substr(paren + 1, trimmed.size() - paren - 2);
    for (absl::string_view value : absl::StrSplit(inside, ',')) {
      requirement.values.emplace_back(absl::StripAsciiWhitespace(value));
    }
  } else {
    requirement.key = std::string(trimmed);
    requirement.op = Op::kExists;
  }
  if (!IsValidKey(requirement.key)) {
    return ParseError(text, "invalid label key");
  }
  return requirement;
}

bool LabelSelector::Matches(const nlohmann::json& labels) const {
  for (const Requirement& requirement : requirements_) {
    const bool has = labels.is_object() && labels.contains(requirement.key) &&
                     labels[requirement.key].is_string();
    const std::string value =
        has ? labels[requirement.key].get<std::string>() : std::string();
    const bool listed =
        has && std::find(requirement.values.begin(), requirement.values.end(),
                         value) != requirement.values.end();
    switch (requirement.op) {
      case Op::kEquals:
      case Op::kIn:
        if (!listed) return false;
        break;
      case Op::kNotEquals:
      case Op::kNotIn:
        if (listed) return false;
        break;
      case Op::kExists:
        if (!has) return false;
        break;
      case Op::kNotExists:
        if (has) return false;
        break;
    }
  }
  return true;
}

bool LabelSelector::MatchesObject(const nlohmann::json& object) const {
  static const nlohmann::json kNoLabels = nullptr;
  if (!object.contains("metadata")) return Matches(kNoLabels);
  const nlohmann::json& metadata = object["metadata"];
  return Matches(metadata.contains("labels") ? metadata["labels"] : kNoLabels);
}

}  // namespace codeexec::fake_kube
