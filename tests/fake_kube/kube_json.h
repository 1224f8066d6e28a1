// Shapes the fake kube-apiserver shares: the resources it serves, Kubernetes
// `Status` bodies, timestamps, uids and generated names.
#ifndef CODEEXEC_TESTS_FAKE_KUBE_KUBE_JSON_H_
#define CODEEXEC_TESTS_FAKE_KUBE_KUBE_JSON_H_

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace codeexec::fake_kube {

struct ResourceKind {
  const char* plural;       // "jobs"
  const char* group;        // "batch"; "" for the core group
  const char* api_version;  // "batch/v1"
  const char* kind;         // "Job"
  const char* list_kind;    // "JobList"

  // "jobs.batch" / "configmaps": how apiserver messages name the resource.
  std::string QualifiedPlural() const;
  // "Job.batch" / "ConfigMap": how validation messages name the kind.
  std::string QualifiedKind() const;
};

inline constexpr ResourceKind kConfigMaps = {"configmaps", "", "v1",
                                             "ConfigMap", "ConfigMapList"};
inline constexpr ResourceKind kJobs = {"jobs", "batch", "batch/v1", "Job",
                                       "JobList"};
inline constexpr ResourceKind kPods = {"pods", "", "v1", "Pod", "PodList"};

// kConfigMaps, kJobs or kPods by plural name; nullptr for anything else.
const ResourceKind* FindResource(absl::string_view plural);

// A `Status` object: {"kind":"Status","apiVersion":"v1","metadata":{},
// "status":"Failure","message":..,"reason":..,"details":..,"code":..}.
// `details` is left out when null.
nlohmann::json StatusBody(int code, absl::string_view reason,
                          absl::string_view message,
                          nlohmann::json details = nullptr);

// A list response ({"kind":"PodList","apiVersion":"v1","metadata":
// {"resourceVersion":..},"items":[..]}); items lose kind and apiVersion, as
// in kube-apiserver's lists.
nlohmann::json ListBody(const ResourceKind& kind,
                        std::vector<nlohmann::json> items,
                        int64_t resource_version);

// An apiserver error: HTTP status code and its Status body.
struct KubeError {
  int http_code;
  nlohmann::json body;
};

// Maps an absl::Status made by the fake to what kube-apiserver answers:
// NotFound 404, AlreadyExists 409, InvalidArgument 422 Invalid,
// FailedPrecondition 400 BadRequest, OutOfRange 410 Expired,
// PermissionDenied 403 Forbidden, Unauthenticated 401, Aborted 409 Conflict,
// anything else 500 InternalError. The status message is used verbatim.
KubeError ErrorFromStatus(const absl::Status& status, const ResourceKind* kind,
                          absl::string_view name);

// `jobs.batch "x" not found` / `configmaps "x" already exists`.
absl::Status NotFoundError(const ResourceKind& kind, absl::string_view name);
absl::Status AlreadyExistsError(const ResourceKind& kind,
                                absl::string_view name);
// `Job.batch "x" is invalid: <field>: <what>`.
absl::Status InvalidError(const ResourceKind& kind, absl::string_view name,
                          absl::string_view field_and_what);

// RFC 3339 in UTC with seconds, as metadata.creationTimestamp.
std::string FormatKubeTime(absl::Time time);
// A random version-4 UUID.
std::string NewUid();
// `length` characters from the alphabet kube uses for generateName.
std::string RandomNameSuffix(int length = 5);
// `length` random lowercase hex digits.
std::string RandomHex(int length);

// The value at `path` below `object`, or a null when any step is missing
// (const json's operator[] must not be used on missing keys).
const nlohmann::json& JsonAt(const nlohmann::json& object,
                             std::initializer_list<const char*> path);
// A quantity as text: "64Mi" stays, a JSON number 2 becomes "2".
std::string QuantityText(const nlohmann::json& value);

// A query parameter as Go's strconv.ParseBool reads it: 1, t, T, TRUE, true
// and True are true; anything else (or nothing) is false.
bool QueryBool(absl::string_view value);

// object["metadata"][key] as a string, "" when missing.
std::string MetadataString(const nlohmann::json& object, const char* key);

}  // namespace codeexec::fake_kube

#endif  // CODEEXEC_TESTS_FAKE_KUBE_KUBE_JSON_H_
