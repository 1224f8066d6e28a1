// Kubernetes label selectors as they appear in `?labelSelector=`: equality
// (`a=b`, `a==b`), inequality (`a!=b`), existence (`a`, `!a`) and set
// requirements (`a in (x,y)`, `a notin (x)`), joined by commas (AND).
#ifndef CODEEXEC_TESTS_FAKE_KUBE_LABEL_SELECTOR_H_
#define CODEEXEC_TESTS_FAKE_KUBE_LABEL_SELECTOR_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace codeexec::fake_kube {

class LabelSelector {
 public:
  // The empty selector matches everything. Errors are InvalidArgument with
  // the apiserver's "unable to parse requirement" wording.
  static absl::StatusOr<LabelSelector> Parse(absl::string_view text);

  // Whether `labels` (a JSON object of strings, or null) satisfies every
  // requirement.
  bool Matches(const nlohmann::json& labels) const;
  // Matches(object["metadata"]["labels"]).
  bool MatchesObject(const nlohmann::json& object) const;
  bool empty() const { return requirements_.empty(); }

 private:
  enum class Op { kEquals, kNotEquals, kExists, kNotExists, kIn, kNotIn };
  struct Requirement {
    std::string key;
    Op op;
    std::vector<std::string> values;
  };
  static absl::StatusOr<Requirement> ParseRequirement(absl::string_view text);

  std::vector<Requirement> requirements_;
};

}  // namespace codeexec::fake_kube

#endif  // CODEEXEC_TESTS_FAKE_KUBE_LABEL_SELECTOR_H_
