// Kubernetes field selectors as they appear in `?fieldSelector=`:
// `field=value`, `field==value` and `field!=value`, joined by commas (AND),
// over the fields kube-apiserver supports for each resource: every kind has
// metadata.name and metadata.namespace; Jobs add status.successful; Pods
// add spec.nodeName, spec.restartPolicy, spec.serviceAccountName,
// status.phase and status.podIP.
#ifndef CODEEXEC_TESTS_FAKE_KUBE_FIELD_SELECTOR_H_
#define CODEEXEC_TESTS_FAKE_KUBE_FIELD_SELECTOR_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"
#include "tests/fake_kube/kube_json.h"

namespace codeexec::fake_kube {

class FieldSelector {
 public:
  // The empty selector matches everything. Errors are FailedPrecondition
  // (400 BadRequest) with the apiserver's messages: "field label not
  // supported: <field>" for a field `kind` does not have, "invalid
  // selector: ..." for text that does not parse.
  static absl::StatusOr<FieldSelector> Parse(absl::string_view text,
                                             const ResourceKind& kind);

  bool MatchesObject(const nlohmann::json& object) const;
  bool empty() const { return requirements_.empty(); }

 private:
  struct Requirement {
    std::string field;
    bool equals;
    std::string value;
  };
  // The field's value in `object` as the apiserver's field set has it.
  static std::string FieldValue(const nlohmann::json& object,
                                const std::string& field);

  std::vector<Requirement> requirements_;
};

}  // namespace codeexec::fake_kube

#endif  // CODEEXEC_TESTS_FAKE_KUBE_FIELD_SELECTOR_H_
