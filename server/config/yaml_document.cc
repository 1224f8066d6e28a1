#include "server/config/yaml_document.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "server/config/yaml_fields.h"
#include "yaml-cpp/yaml.h"

namespace codeexec {
namespace {

// yaml-cpp marks are 0-based.
std::string DescribeMark(const YAML::Mark& mark) {
  return absl::StrCat("line ", mark.line + 1, ", column ", mark.column + 1);
}

// Sets `value` at `segments` under the mapping `node`, creating mappings
// for absent or null intermediate keys.
absl::Status SetAtPath(YAML::Node node,
                       const std::vector<absl::string_view>& segments,
                       size_t index, const YAML::Node& value) {
  const std::string key(segments[index]);
  if (index + 1 == segments.size()) {
    node[key] = value;
    return absl::OkStatus();
  }
  YAML::Node child = node[key];
  if (!child.IsDefined() || child.IsNull()) {
    child = YAML::Node(YAML::NodeType::Map);
  } else if (!child.IsMap()) {
    std::vector<absl::string_view> parent(segments.begin(),
                                          segments.begin() + index + 1);
    return absl::InvalidArgumentError(
        absl::StrCat(absl::StrJoin(parent, "."), " is ",
                     DescribeYamlNode(child), ", not a mapping"));
  }
  return SetAtPath(child, segments, index + 1, value);
}

}  // namespace

absl::StatusOr<YAML::Node> LoadYamlDocument(absl::string_view text) {
  try {
    std::vector<YAML::Node> documents = YAML::LoadAll(std::string(text));
    if (documents.empty()) return YAML::Node();
    if (documents.size() > 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("expected one YAML document, found ", documents.size(),
                       " (second at ", DescribeMark(documents[1].Mark()), ")"));
    }
    return documents.front();
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid YAML at ", DescribeMark(e.mark), ": ", e.msg));
  }
}

absl::Status ApplyYamlOverride(absl::string_view assignment, YAML::Node& root) {
  const std::string name = absl::StrCat("--set ", Quoted(assignment));
  const size_t equals = assignment.find('=');
  if (equals == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": expected dotted.key.path=value"));
  }
  const std::vector<absl::string_view> segments =
      absl::StrSplit(assignment.substr(0, equals), '.');
  for (absl::string_view segment : segments) {
    if (segment.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": empty key in the key path"));
    }
  }
  try {
    const YAML::Node value =
        YAML::Load(std::string(assignment.substr(equals + 1)));
    if (!root.IsDefined() || root.IsNull()) {
      root.reset(YAML::Node(YAML::NodeType::Map));
    } else if (!root.IsMap()) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": the configuration is ", DescribeYamlNode(root),
                       ", not a mapping"));
    }
    absl::Status status = SetAtPath(root, segments, 0, value);
    if (!status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": ", status.message()));
    }
    return absl::OkStatus();
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": invalid YAML value at column ", e.mark.column + 1,
                     ": ", e.msg));
  }
}

}  // namespace codeexec
