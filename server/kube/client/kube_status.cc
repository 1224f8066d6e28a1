#include "server/kube/client/kube_status.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace codeexec::kube {
namespace {

constexpr char kHttpCodePayload[] = "codeexec.dev/kube/http-code";
constexpr char kReasonPayload[] = "codeexec.dev/kube/reason";
// How much of a non-Status body an error message quotes.
constexpr size_t kMaxQuotedBody = 256;

std::string StringField(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return "";
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

std::string Where(const RequestDescription& request) {
  std::string where =
      absl::StrFormat("\"%s\" on \"%s\"", request.kube_verb, request.resource);
  if (!request.namespace_name.empty()) {
    absl::StrAppendFormat(&where, " in namespace \"%s\"",
                          request.namespace_name);
  }
  return where;
}

absl::Status Build(int http_code, const std::string& reason,
                   const std::string& server_message,
                   const RequestDescription& request) {
  const std::string where = Where(request);
  const std::string detail = server_message.empty()
                                 ? absl::StrCat("HTTP ", http_code)
                                 : server_message;
  absl::StatusCode code;
  std::string message;
  switch (http_code) {
    case 400:
      code = absl::StatusCode::kInvalidArgument;
      break;
    case 401:
      code = absl::StatusCode::kUnauthenticated;
      message = absl::StrCat("kubernetes rejected the credentials for ", where,
                             ": ", detail);
      break;
    case 403:
      code = absl::StatusCode::kPermissionDenied;
      message = absl::StrCat("kubernetes denied ", where, ": ", detail);
      break;
    case 404:
      code = absl::StatusCode::kNotFound;
      break;
    case 409:
      code = reason == "AlreadyExists" ? absl::StatusCode::kAlreadyExists
                                       : absl::StatusCode::kAborted;
      break;
    case 410:
      code = absl::StatusCode::kFailedPrecondition;
      message =
          absl::StrCat("kubernetes ", where,
                       ": Gone: resourceVersion expired (relist): ", detail);
      break;
    case 422:
      code = absl::StatusCode::kInvalidArgument;
      break;
    case 429:
      code = absl::StatusCode::kResourceExhausted;
      break;
    default:
      code = http_code >= 500 || http_code < 400
                 ? absl::StatusCode::kUnavailable
                 : absl::StatusCode::kFailedPrecondition;
      break;
  }
  if (message.empty()) {
    message = absl::StrCat("kubernetes ", where, " failed (HTTP ", http_code,
                           reason.empty() ? "" : " ", reason, "): ", detail);
  }
  absl::Status status(code, message);
  status.SetPayload(kHttpCodePayload, absl::Cord(absl::StrCat(http_code)));
  if (!reason.empty()) status.SetPayload(kReasonPayload, absl::Cord(reason));
  return status;
}

}  // namespace

std::string NamespaceFromPath(absl::string_view path) {
  path = path.substr(0, path.find('?'));
  const std::vector<absl::string_view> segments =
      absl::StrSplit(path, '/', absl::SkipEmpty());
  for (size_t i = 0; i + 1 < segments.size(); ++i) {
    if (segments[i] == "namespaces" &&
        (i == 2 || (i == 3 && segments[0] == "apis"))) {
      return std::string(segments[i + 1]);
    }
  }
  return "";
}

absl::Status StatusFromResponse(int http_code, absl::string_view body,
                                const RequestDescription& request) {
  const nlohmann::json parsed = nlohmann::json::parse(
      body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_discarded() && StringField(parsed, "kind") == "Status") {
    return Build(http_code, StringField(parsed, "reason"),
                 StringField(parsed, "message"), request);
  }
  std::string quoted(absl::StripAsciiWhitespace(body));
  if (quoted.size() > kMaxQuotedBody) {
    quoted = absl::StrCat(quoted.substr(0, kMaxQuotedBody), "…");
  }
  return Build(http_code, "", quoted, request);
}

absl::Status StatusFromStatusObject(const nlohmann::json& status,
                                    const RequestDescription& request) {
  int http_code = 500;
  if (status.is_object()) {
    const auto it = status.find("code");
    if (it != status.end() && it->is_number_integer()) {
      http_code = it->get<int>();
    }
  }
  return Build(http_code, StringField(status, "reason"),
               StringField(status, "message"), request);
}

std::optional<int> HttpCodeOf(const absl::Status& status) {
  const auto payload = status.GetPayload(kHttpCodePayload);
  int code = 0;
  if (!payload.has_value() || !absl::SimpleAtoi(std::string(*payload), &code)) {
    return std::nullopt;
  }
  return code;
}

std::string KubeReasonOf(const absl::Status& status) {
  const auto payload = status.GetPayload(kReasonPayload);
  return payload.has_value() ? std::string(*payload) : "";
}

}  // namespace codeexec::kube
