// The PATCH bodies kube-apiserver takes for built-in resources, applied to a
// stored object (JSON in, JSON out):
//   application/json-patch+json            RFC 6902 operations
//   application/merge-patch+json           RFC 7386 (null deletes a key;
//                                          lists are replaced)
//   application/strategic-merge-patch+json merge patch, except lists the
//       API merges by a key: ownerReferences by uid; containers,
//       initContainers, volumes, env, imagePullSecrets by name;
//       volumeMounts by mountPath; conditions by type; finalizers as a set
//       of strings. `$patch: delete` in an element removes it.
// Server-side apply (application/apply-patch+yaml) is not faked.
#ifndef CODEEXEC_TESTS_FAKE_KUBE_MERGE_PATCH_H_
#define CODEEXEC_TESTS_FAKE_KUBE_MERGE_PATCH_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace codeexec::fake_kube {

// The media types accepted, as the apiserver lists them in its 415 message.
inline constexpr char kPatchMediaTypes[] =
    "application/json-patch+json, application/merge-patch+json, "
    "application/apply-patch+yaml, application/strategic-merge-patch+json";

// `object` with `body` applied as `content_type` (parameters such as
// "; charset=utf-8" ignored). Errors: Unimplemented for a media type that is
// not a patch type (-> 415 UnsupportedMediaType), FailedPrecondition for a
// body that does not decode (-> 400), InvalidArgument for a JSON patch that
// cannot be applied (-> 422).
absl::StatusOr<nlohmann::json> ApplyPatch(const nlohmann::json& object,
                                          absl::string_view content_type,
                                          const std::string& body);

// Strategic merge of `patch` into `target` (see above).
void StrategicMerge(nlohmann::json& target, const nlohmann::json& patch);

}  // namespace codeexec::fake_kube

#endif  // CODEEXEC_TESTS_FAKE_KUBE_MERGE_PATCH_H_
