// Loading the server config's YAML document and applying --set overrides
// to it (yaml-cpp). Errors are InvalidArgument; no yaml-cpp exception leaves
// these functions.
#ifndef CODEEXEC_SERVER_CONFIG_YAML_DOCUMENT_H_
#define CODEEXEC_SERVER_CONFIG_YAML_DOCUMENT_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "yaml-cpp/yaml.h"

namespace codeexec {

// Parses one YAML document (empty text or only comments -> a null node).
// Syntax errors and extra documents fail with the line and column.
absl::StatusOr<YAML::Node> LoadYamlDocument(absl::string_view text);

// Applies one "dotted.key.path=value" override onto `root`, creating the
// mappings on the way; the value is parsed as YAML (so "[a, b]" is a list).
absl::Status ApplyYamlOverride(absl::string_view assignment, YAML::Node& root);

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_CONFIG_YAML_DOCUMENT_H_
