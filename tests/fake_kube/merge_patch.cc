#include "tests/fake_kube/merge_patch.h"

#include <algorithm>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace codeexec::fake_kube {
namespace {

using json = nlohmann::json;

// The key a list field is merged by, "" when it is replaced whole.
const char* MergeKey(const std::string& field) {
  if (field == "ownerReferences") return "uid";
  if (field == "containers" || field == "initContainers" ||
      field == "volumes" || field == "env" || field == "imagePullSecrets") {
    return "name";
  }
  if (field == "volumeMounts") return "mountPath";
  if (field == "conditions") return "type";
  return "";
}

bool IsDeleteDirective(const json& element) {
  return element.is_object() && element.value("$patch", "") == "delete";
}

void MergeList(json& target, const json& patch, const std::string& key) {
  if (!target.is_array()) target = json::array();
  for (const json& element : patch) {
    auto same = std::find_if(target.begin(), target.end(), [&](const json& t) {
      return element.is_object() && t.is_object() && element.contains(key) &&
             t.value(key, json()) == element[key];
    });
    if (IsDeleteDirective(element)) {
      if (same != target.end()) target.erase(same);
    } else if (same != target.end()) {
      StrategicMerge(*same, element);
    } else {
      target.push_back(element);
    }
  }
}

}  // namespace

void StrategicMerge(json& target, const json& patch) {
  if (!patch.is_object()) {
    target = patch;
    return;
  }
  if (!target.is_object()) target = json::object();
  for (const auto& [field, value] : patch.items()) {
    if (value.is_null()) {
      target.erase(field);
    } else if (value.is_array() && *MergeKey(field) != '\0') {
      MergeList(target[field], value, MergeKey(field));
    } else if (value.is_array() && field == "finalizers") {
      json& current = target[field];
      if (!current.is_array()) current = json::array();
      for (const json& item : value) {
        if (std::find(current.begin(), current.end(), item) == current.end()) {
          current.push_back(item);
        }
      }
    } else if (value.is_object()) {
      StrategicMerge(target[field], value);
    } else {
      target[field] = value;
    }
  }
}

absl::StatusOr<json> ApplyPatch(const json& object,
                                absl::string_view content_type,
                                const std::string& body) {
  const std::string media_type =
      absl::AsciiStrToLower(absl::StripAsciiWhitespace(
          content_type.substr(0, content_type.find(';'))));
  const bool json_patch = media_type == "application/json-patch+json";
  const bool merge_patch = media_type == "application/merge-patch+json";
  const bool strategic = media_type == "application/strategic-merge-patch+json";
  if (!json_patch && !merge_patch && !strategic) {
    return absl::UnimplementedError(
        absl::StrCat("the body of the request was in an unknown format - "
                     "accepted media types include: ",
                     kPatchMediaTypes));
  }
  json patch = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (patch.is_discarded()) {
    return absl::FailedPreconditionError(
        "error decoding patch: invalid character in the request body");
  }
  if (json_patch) {
    if (!patch.is_array()) {
      return absl::FailedPreconditionError(
          absl::StrCat("json: cannot unmarshal ", patch.type_name(),
                       " into Go value of type []handlers.jsonPatchOp"));
    }
    try {
      return object.patch(patch);
    } catch (const json::exception& e) {
      return absl::InvalidArgumentError(
          absl::StrCat("the server rejected our request due to an error in "
                       "our request: ",
                       e.what()));
    }
  }
  if (!patch.is_object()) {
    return absl::FailedPreconditionError(
        absl::StrCat("json: cannot unmarshal ", patch.type_name(),
                     " into Go value of type map[string]interface {}"));
  }
  json patched = object;
  if (merge_patch) {
    patched.merge_patch(patch);
  } else {
    StrategicMerge(patched, patch);
  }
  return patched;
}

}  // namespace codeexec::fake_kube
