#include "tests/fake_kube/api_validation.h"

#include <algorithm>
#include <set>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace codeexec::fake_kube {
namespace {

using json = nlohmann::json;

constexpr char kLabelValueRule[] =
    "a valid label must be an empty string or consist of alphanumeric "
    "characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', "
    "regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
constexpr char kSubdomainRule[] =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
    "characters, '-' or '.', and must start and end with an alphanumeric "
    "character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
constexpr char kConfigKeyRule[] =
    "a valid config key must consist of alphanumeric characters, '-', '_' or "
    "'.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for "
    "validation is '[-._a-zA-Z0-9]+')";

bool IsAlnum(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c));
}

bool IsSubdomain(const std::string& name) {
  if (name.empty() || name.size() > 253) return false;
  for (absl::string_view part : absl::StrSplit(name, '.')) {
    if (part.empty() || !IsAlnum(part.front()) || !IsAlnum(part.back())) {
      return false;
    }
    for (char c : part) {
      if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-')) {
        return false;
      }
    }
  }
  return true;
}

bool IsLabelValue(absl::string_view value) {
  if (value.empty()) return true;
  if (value.size() > 63 || !IsAlnum(value.front()) || !IsAlnum(value.back())) {
    return false;
  }
  for (char c : value) {
    if (!IsAlnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

bool IsLabelKey(const std::string& key) {
  const size_t slash = key.find('/');
  if (slash == std::string::npos) return !key.empty() && IsLabelValue(key);
  return IsSubdomain(key.substr(0, slash)) && slash + 1 < key.size() &&
         IsLabelValue(key.substr(slash + 1));
}

std::string Quoted(const std::string& text) { return json(text).dump(); }

// What kube-apiserver answers when a field does not decode (400).
absl::Status TypeError(const std::string& field, const std::string& type) {
  return absl::FailedPreconditionError(absl::StrCat(
      "json: cannot unmarshal into field ", field, " of type ", type));
}

absl::Status ValidateLabels(const ResourceKind& kind, const std::string& name,
                            const json& labels, const std::string& field) {
  if (labels.is_null()) return absl::OkStatus();
  if (!labels.is_object()) {
    return InvalidError(kind, name, absl::StrCat(field, ": must be an object"));
  }
  for (const auto& [key, value] : labels.items()) {
    if (!IsLabelKey(key)) {
      return InvalidError(kind, name,
                          absl::StrCat(field, ": Invalid value: ", Quoted(key),
                                       ": name part must consist of "
                                       "alphanumeric characters, '-', '_' or "
                                       "'.', and must start and end with an "
                                       "alphanumeric character"));
    }
    if (!value.is_string()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "json: cannot unmarshal ", value.type_name(),
          " into Go struct field ObjectMeta.metadata.labels of type string"));
    }
    const std::string text = value.get<std::string>();
    if (text.size() > 63) {
      return InvalidError(kind, name,
                          absl::StrCat(field, ": Invalid value: ", Quoted(text),
                                       ": must be no more than 63 characters"));
    }
    if (!IsLabelValue(text)) {
      return InvalidError(kind, name,
                          absl::StrCat(field, ": Invalid value: ", Quoted(text),
                                       ": ", kLabelValueRule));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateOwnerReferences(const ResourceKind& kind,
                                     const std::string& name,
                                     const json& references) {
  if (references.is_null()) return absl::OkStatus();
  if (!references.is_array()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "json: cannot unmarshal ", references.type_name(),
        " into Go struct field ObjectMeta.metadata.ownerReferences "
        "of type []v1.OwnerReference"));
  }
  for (const json& reference : references) {
    if (!reference.is_object()) {
      return TypeError("metadata.ownerReferences", "v1.OwnerReference");
    }
    for (const auto& [field, what] :
         {std::pair{"apiVersion", "version"}, std::pair{"kind", "kind"},
          std::pair{"name", "name"}, std::pair{"uid", "uid"}}) {
      const json& value = JsonAt(reference, {field});
      if (!value.is_null() && !value.is_string()) {
        return TypeError(absl::StrCat("metadata.ownerReferences.", field),
                         "string");
      }
      if (value.is_null() || value.get<std::string>().empty()) {
        return InvalidError(kind, name,
                            absl::StrCat("metadata.ownerReferences.", field,
                                         ": Invalid value: \"\": ", what,
                                         " must not be empty"));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateConfigMap(const json& object, const std::string& name) {
  size_t total = 0;
  std::set<std::string> keys;
  for (const char* field : {"data", "binaryData"}) {
    const json& entries = JsonAt(object, {field});
    if (entries.is_null()) continue;
    if (!entries.is_object()) {
      return absl::FailedPreconditionError(
          absl::StrCat("json: cannot unmarshal ", entries.type_name(),
                       " into Go struct field ConfigMap.", field));
    }
    for (const auto& [key, value] : entries.items()) {
      const bool bad_char = !std::all_of(key.begin(), key.end(), [](char c) {
        return IsAlnum(c) || c == '-' || c == '_' || c == '.';
      });
      if (key.empty() || key.size() > 253 || bad_char || key == "." ||
          key == ".." || absl::StartsWith(key, "..")) {
        return InvalidError(kConfigMaps, name,
                            absl::StrCat(field, "[", key, "]: Invalid value: ",
                                         Quoted(key), ": ", kConfigKeyRule));
      }
      if (!keys.insert(key).second) {
        return InvalidError(
            kConfigMaps, name,
            absl::StrCat("data[", key, "]: Invalid value: ", Quoted(key),
                         ": duplicate of key present in binaryData"));
      }
      if (!value.is_string()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "json: cannot unmarshal ", value.type_name(),
            " into Go struct field ConfigMap.", field, " of type string"));
      }
      std::string content = value.get<std::string>();
      if (std::string(field) == "binaryData") {
        std::string decoded;
        if (!absl::Base64Unescape(content, &decoded)) {
          return absl::FailedPreconditionError(absl::StrCat(
              "illegal base64 data in ConfigMap.binaryData[", key, "]"));
        }
        content = std::move(decoded);
      }
      total += key.size() + content.size();
    }
  }
  if (total > kMaxConfigMapBytes) {
    return InvalidError(kConfigMaps, name,
                        absl::StrCat("[]: Too long: must have at most ",
                                     kMaxConfigMapBytes, " bytes"));
  }
  return absl::OkStatus();
}

absl::Status ValidateJob(const json& job, const std::string& name) {
  auto invalid = [&](const std::string& what) {
    return InvalidError(kJobs, name, what);
  };
  if (name.size() > 63) {
    return invalid(absl::StrCat("metadata.name: Invalid value: ", Quoted(name),
                                ": must be no more than 63 characters"));
  }
  const json& spec = JsonAt(job, {"spec", "template", "spec"});
  const json& containers = JsonAt(spec, {"containers"});
  if (!containers.is_array() || containers.empty()) {
    return invalid("spec.template.spec.containers: Required value");
  }
  const json& restart = JsonAt(spec, {"restartPolicy"});
  if (!restart.is_string()) {
    return invalid(
        "spec.template.spec.restartPolicy: Required value: valid values: "
        "\"OnFailure\", \"Never\"");
  }
  if (restart != "Never" && restart != "OnFailure") {
    return invalid(absl::StrCat(
        "spec.template.spec.restartPolicy: Unsupported value: ", restart.dump(),
        ": supported values: \"OnFailure\", \"Never\""));
  }
  std::set<std::string> volumes;
  const json& volume_list = JsonAt(spec, {"volumes"});
  if (volume_list.is_array()) {
    for (const json& volume : volume_list)
      volumes.insert(volume.value("name", ""));
  }
  for (size_t i = 0; i < containers.size(); ++i) {
    const std::string field =
        absl::StrCat("spec.template.spec.containers[", i, "]");
    const json& container = containers[i];
    if (!container.is_object()) return TypeError(field, "object");
    for (const char* required : {"name", "image"}) {
      if (!container.contains(required) || container[required] == "") {
        return invalid(absl::StrCat(field, ".", required, ": Required value"));
      }
      if (!container[required].is_string()) {
        return TypeError(absl::StrCat(field, ".", required), "string");
      }
    }
    for (const char* list : {"command", "args"}) {
      const json& items = JsonAt(container, {list});
      if (!items.is_null() &&
          (!items.is_array() ||
           !std::all_of(items.begin(), items.end(),
                        [](const json& item) { return item.is_string(); }))) {
        return TypeError(absl::StrCat(field, ".", list), "[]string");
      }
    }
    const json& mounts = JsonAt(container, {"volumeMounts"});
    if (!mounts.is_array()) continue;
    for (size_t m = 0; m < mounts.size(); ++m) {
      const std::string volume = mounts[m].value("name", "");
      if (!volumes.contains(volume)) {
        return invalid(absl::StrCat(field, ".volumeMounts[", m,
                                    "].name: Not found: ", Quoted(volume)));
      }
      if (!absl::StartsWith(mounts[m].value("mountPath", ""), "/")) {
        return invalid(absl::StrCat(field, ".volumeMounts[", m,
                                    "].mountPath: Required value"));
      }
    }
  }
  for (const char* field : {"activeDeadlineSeconds", "backoffLimit",
                            "ttlSecondsAfterFinished", "completions"}) {
    const json& value = JsonAt(job, {"spec", field});
    if (value.is_null()) continue;
    const bool positive = std::string(field) == "activeDeadlineSeconds";
    if (!value.is_number_integer() ||
        value.get<int64_t>() < (positive ? 1 : 0)) {
      return invalid(absl::StrCat(
          "spec.", field, ": Invalid value: ", value.dump(),
          ": must be greater than or equal to ", positive ? 1 : 0));
    }
  }
  return ValidateLabels(kJobs, name,
                        JsonAt(job, {"spec", "template", "metadata", "labels"}),
                        "spec.template.metadata.labels");
}

}  // namespace

absl::Status ValidateNewObject(const ResourceKind& kind, const json& object) {
  const std::string name = MetadataString(object, "name");
  const std::string generate_name = MetadataString(object, "generateName");
  if (name.empty() && generate_name.empty()) {
    return InvalidError(kind, "",
                        "metadata.name: Required value: name or generateName "
                        "is required");
  }
  const std::string checked = name.empty() ? generate_name + "x" : name;
  if (!IsSubdomain(checked)) {
    return InvalidError(kind, name,
                        absl::StrCat("metadata.name: Invalid value: ",
                                     Quoted(name), ": ", kSubdomainRule));
  }
  absl::Status labels = ValidateLabels(
      kind, name, JsonAt(object, {"metadata", "labels"}), "metadata.labels");
  if (!labels.ok()) return labels;
  absl::Status owners = ValidateOwnerReferences(
      kind, name, JsonAt(object, {"metadata", "ownerReferences"}));
  if (!owners.ok()) return owners;
  if (&kind == &kConfigMaps) return ValidateConfigMap(object, name);
  if (&kind == &kJobs) return ValidateJob(object, name);
  return absl::OkStatus();
}

void DefaultNewJob(json& job, const std::string& uid) {
  const std::string name = MetadataString(job, "name");
  json& spec = job["spec"];
  const json defaults = {
      {"completions", 1},  {"parallelism", 1},
      {"backoffLimit", 6}, {"completionMode", "NonIndexed"},
      {"suspend", false},  {"podReplacementPolicy", "TerminatingOrFailed"}};
  for (const auto& [key, value] : defaults.items()) {
    if (!spec.contains(key)) spec[key] = value;
  }
  json& labels = spec["template"]["metadata"]["labels"];
  if (!labels.is_object()) labels = json::object();
  labels["batch.kubernetes.io/controller-uid"] = uid;
  labels["batch.kubernetes.io/job-name"] = name;
  labels["controller-uid"] = uid;
  labels["job-name"] = name;
  spec["selector"] = {
      {"matchLabels", {{"batch.kubernetes.io/controller-uid", uid}}}};
  json& job_labels = job["metadata"]["labels"];
  if (!job_labels.is_object() || job_labels.empty()) job_labels = labels;
  job["metadata"]["uid"] = uid;
  job["metadata"]["generation"] = 1;
  job["status"] = json::object();
}

}  // namespace codeexec::fake_kube
