#include "tests/fake_kube/field_selector.h"

#include <algorithm>
#include <array>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace codeexec::fake_kube {
namespace {

using json = nlohmann::json;

bool Supported(const ResourceKind& kind, absl::string_view field) {
  if (field == "metadata.name" || field == "metadata.namespace") return true;
  if (&kind == &kJobs) return field == "status.successful";
  if (&kind == &kPods) {
    constexpr std::array<absl::string_view, 5> kPodFields = {
        "spec.nodeName", "spec.restartPolicy", "spec.serviceAccountName",
        "status.phase", "status.podIP"};
    return std::find(kPodFields.begin(), kPodFields.end(), field) !=
           kPodFields.end();
  }
  return false;
}

}  // namespace

absl::StatusOr<FieldSelector> FieldSelector::Parse(absl::string_view text,
                                                   const ResourceKind& kind) {
  FieldSelector selector;
  if (absl::StripAsciiWhitespace(text).empty()) return selector;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    Requirement requirement;
    size_t op = part.find("!=");
    size_t value_start;
    if (op != absl::string_view::npos) {
      requirement.equals = false;
      value_start = op + 2;
    } else {
      op = part.find('=');
      if (op == absl::string_view::npos) {
        return absl::FailedPreconditionError(absl::StrCat(
            "invalid selector: '", text, "'; can't understand '", part, "'"));
      }
      requirement.equals = true;
      value_start = op + (part.substr(op, 2) == "==" ? 2 : 1);
    }
    requirement.field =
        std::string(absl::StripAsciiWhitespace(part.substr(0, op)));
    requirement.value =
        std::string(absl::StripAsciiWhitespace(part.substr(value_start)));
    if (!Supported(kind, requirement.field)) {
      return absl::FailedPreconditionError(
          absl::StrCat("field label not supported: ", requirement.field));
    }
    selector.requirements_.push_back(std::move(requirement));
  }
  return selector;
}

std::string FieldSelector::FieldValue(const json& object,
                                      const std::string& field) {
  if (field == "status.successful") {
    const json& succeeded = JsonAt(object, {"status", "succeeded"});
    return absl::StrCat(succeeded.is_number() ? succeeded.get<int64_t>() : 0);
  }
  const size_t dot = field.find('.');
  const json& value = JsonAt(
      object, {field.substr(0, dot).c_str(), field.substr(dot + 1).c_str()});
  return value.is_string() ? value.get<std::string>() : "";
}

bool FieldSelector::MatchesObject(const json& object) const {
  return std::all_of(requirements_.begin(), requirements_.end(),
                     [&](const Requirement& requirement) {
                       return (FieldValue(object, requirement.field) ==
                               requirement.value) == requirement.equals;
                     });
}

}  // namespace codeexec::fake_kube
