// Kubernetes error responses (a `Status` object, HTTP code) → absl::Status.
#ifndef CODEEXEC_SERVER_KUBE_CLIENT_KUBE_STATUS_H_
#define CODEEXEC_SERVER_KUBE_CLIENT_KUBE_STATUS_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace codeexec::kube {

// What a failed request was, for messages.
struct RequestDescription {
  std::string kube_verb;  // "create", "get", "list", "delete", "watch", "log"
  std::string resource;   // "jobs", "pods/log"
  std::string namespace_name;  // empty = not namespaced
};

// "ns" of ".../namespaces/ns/..." in an API path; empty when none.
std::string NamespaceFromPath(absl::string_view path);

// Maps a non-2xx response. `body` is the raw response body: a Kubernetes
// Status object when it parses as one (its message and reason are used),
// otherwise its start is quoted. Codes:
//   400 InvalidArgument, 401 Unauthenticated, 403 PermissionDenied
//   ("kubernetes denied \"create\" on \"jobs\" in namespace \"x\": <msg>"),
//   404 NotFound, 409 AlreadyExists (reason AlreadyExists) else Aborted
//   (reason Conflict: a stale resourceVersion), 410 FailedPrecondition
//   ("Gone: ... expired"; relist and watch again), 422 InvalidArgument,
//   429 ResourceExhausted, 5xx/other Unavailable, other 4xx
//   FailedPrecondition.
// The result carries the HTTP code and the Status reason as payloads (see
// HttpCodeOf / KubeReasonOf).
absl::Status StatusFromResponse(int http_code, absl::string_view body,
                                const RequestDescription& request);

// Same for a Status object delivered in a watch ERROR event (its `code`
// field gives the HTTP code; 410 = resourceVersion too old).
absl::Status StatusFromStatusObject(const nlohmann::json& status,
                                    const RequestDescription& request);

// The HTTP code a status was mapped from; nullopt for statuses not made by
// this file.
std::optional<int> HttpCodeOf(const absl::Status& status);
// The Kubernetes Status reason ("AlreadyExists", "Conflict", "Expired",
// "NotFound"...); empty when unknown.
std::string KubeReasonOf(const absl::Status& status);

}  // namespace codeexec::kube

#endif  // CODEEXEC_SERVER_KUBE_CLIENT_KUBE_STATUS_H_
