// The part of kube-apiserver's validation and defaulting the fake does, with
// its messages: object names and labels, ConfigMap keys and size, the Job
// fields a Job cannot be created without, and the Job defaults (selector,
// controller-uid / job-name labels, completions, backoffLimit, ...).
#ifndef CODEEXEC_TESTS_FAKE_KUBE_API_VALIDATION_H_
#define CODEEXEC_TESTS_FAKE_KUBE_API_VALIDATION_H_

#include <string>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "tests/fake_kube/kube_json.h"

namespace codeexec::fake_kube {

inline constexpr size_t kMaxConfigMapBytes = 1 << 20;

// InvalidArgument (-> 422 Invalid) with the apiserver's message, or
// FailedPrecondition (-> 400 BadRequest) for bodies that do not decode
// (e.g. binaryData that is not base64).
absl::Status ValidateNewObject(const ResourceKind& kind,
                               const nlohmann::json& object);

// Job defaulting at creation; `uid` is the uid the Job will get.
void DefaultNewJob(nlohmann::json& job, const std::string& uid);

}  // namespace codeexec::fake_kube

#endif  // CODEEXEC_TESTS_FAKE_KUBE_API_VALIDATION_H_
