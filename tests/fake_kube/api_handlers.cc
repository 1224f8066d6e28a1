#include "tests/fake_kube/api_handlers.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "tests/fake_kube/api_validation.h"

namespace codeexec::fake_kube {
namespace {

using json = nlohmann::json;

constexpr size_t kMaxRequestBytes = 3 << 20;

const char* ReasonForCode(int code) {
  switch (code) {
    case 400:
      return "BadRequest";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 405:
      return "MethodNotAllowed";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 422:
      return "Invalid";
    case 429:
      return "TooManyRequests";
    case 503:
      return "ServiceUnavailable";
    case 504:
      return "Timeout";
    default:
      return code >= 500 ? "InternalError" : "Unknown";
  }
}

}  // namespace

void ApiHandlers::SetRequiredBearerToken(std::string token) {
  absl::MutexLock lock(&token_mu_);
  token_override_ = std::move(token);
  token_overridden_ = true;
}

bool ApiHandlers::BearerTokenAccepted(const HttpRequest& request) const {
  absl::MutexLock lock(&token_mu_);
  const std::string& token =
      token_overridden_ ? token_override_ : options_.required_bearer_token;
  return token.empty() ||
         request.Header("authorization") == absl::StrCat("Bearer ", token);
}

void ApiHandlers::Stop() {
  stopping_ = true;
  store_.EndAllWatches(WatchEnd::kStopped);
}

void ApiHandlers::Reply(Call& call, int code, const json& body,
                        const HeaderList& headers) {
  stats_.SetCode(call.record, code);
  call.responder.Send(code, "application/json", body.dump(), headers);
}

void ApiHandlers::ReplyError(Call& call, const absl::Status& status) {
  KubeError error = ErrorFromStatus(status, call.route.kind, call.route.name);
  Reply(call, error.http_code, error.body);
}

void ApiHandlers::ReplyForbidden(Call& call) {
  const Route& route = call.route;
  std::string subject = route.kind->QualifiedPlural();
  if (!route.name.empty()) absl::StrAppend(&subject, " \"", route.name, "\"");
  json details = json::object();
  if (!route.name.empty()) details["name"] = route.name;
  if (*route.kind->group != '\0') details["group"] = route.kind->group;
  details["kind"] = route.kind->plural;
  Reply(call, 403,
        StatusBody(403, "Forbidden",
                   absl::StrCat(subject, " is forbidden: User \"",
                                options_.user_name, "\" cannot ", route.verb,
                                " resource \"", route.resource,
                                "\" in API group \"", route.kind->group,
                                "\" in the namespace \"", route.ns, "\""),
                   std::move(details)));
}

bool ApiHandlers::ParseRoute(const HttpRequest& request,
                             HttpResponder& responder, Route* route) {
  std::vector<std::string> parts =
      absl::StrSplit(request.path, '/', absl::SkipEmpty());
  // api/v1/namespaces/{ns}/{resource}[/{name}[/log]] or
  // apis/batch/v1/namespaces/{ns}/jobs[/{name}].
  size_t base = 0;
  std::string group;
  if (parts.size() >= 2 && parts[0] == "api" && parts[1] == "v1") {
    base = 2;
  } else if (parts.size() >= 3 && parts[0] == "apis" && parts[2] == "v1") {
    group = parts[1];
    base = 3;
  }
  const ResourceKind* kind = nullptr;
  if (base > 0 && parts.size() >= base + 3 && parts.size() <= base + 5 &&
      parts[base] == "namespaces") {
    kind = FindResource(parts[base + 2]);
  }
  const std::string subresource =
      kind == &kPods && parts.size() == base + 5 ? parts[base + 4] : "";
  if (kind == nullptr || group != kind->group ||
      (parts.size() == base + 5 && subresource != "log" &&
       subresource != "attach")) {
    const size_t record = stats_.Record({"get", request.path, "", "", 404});
    Call call{request, responder, {}, record};
    Reply(call, 404,
          StatusBody(404, "NotFound",
                     "the server could not find the requested resource",
                     json{{"kind", ""}}));
    return false;
  }
  route->kind = kind;
  route->ns = parts[base + 1];
  route->name = parts.size() >= base + 4 ? parts[base + 3] : "";
  route->resource =
      subresource.empty() ? kind->plural : absl::StrCat("pods/", subresource);
  const std::string& method = request.method;
  const bool named = !route->name.empty();
  const std::string watch = request.Query("watch");
  if (method == "GET") {
    route->verb = named ? "get" : QueryBool(watch) ? "watch" : "list";
  } else if (method == "POST") {
    route->verb = named && subresource.empty() ? "post" : "create";
  } else if (method == "DELETE") {
    route->verb = named ? "delete" : "deletecollection";
  } else if (method == "PUT") {
    route->verb = "update";
  } else if (method == "PATCH") {
    route->verb = "patch";
  } else {
    route->verb = absl::AsciiStrToLower(method);
  }
  return true;
}

void ApiHandlers::HandleNonResource(const HttpRequest& request,
                                    HttpResponder& responder) {
  const size_t record = stats_.Record({"get", request.path, "", "", 200});
  Call call{request, responder, {}, record};
  if (request.path == "/version") {
    Reply(call, 200,
          {{"major", "1"},
           {"minor", "30"},
           {"gitVersion", "v1.30.0-codeexec-fake"},
           {"platform", "linux/amd64"}});
  } else {
    responder.Send(200, "text/plain; charset=utf-8", "ok");
  }
}

bool ApiHandlers::ApplyFault(Call& call, const Fault& fault) {
  switch (fault.action) {
    case Fault::Action::kDelay:
      absl::SleepFor(fault.delay);
      return false;
    case Fault::Action::kReset:
      stats_.SetCode(call.record, 0);
      call.responder.Abort(/*reset=*/true);
      return true;
    case Fault::Action::kResetAfterHandling:
      call.responder.DiscardResponse();
      return false;
    case Fault::Action::kRespond:
      break;
  }
  const int code = fault.status_code;
  const std::string reason =
      fault.reason.empty() ? ReasonForCode(code) : fault.reason;
  std::string message = fault.message;
  if (message.empty()) {
    message = code == 429 ? "Too many requests, please try again later."
                          : absl::StrCat("injected failure (HTTP ", code, ")");
  }
  json details = nullptr;
  for (const auto& [name, value] : fault.headers) {
    if (absl::AsciiStrToLower(name) == "retry-after") {
      int seconds = 0;
      if (absl::SimpleAtoi(value, &seconds)) {
        details = {{"retryAfterSeconds", seconds}};
      }
    }
  }
  Reply(call, code, StatusBody(code, reason, message, std::move(details)),
        fault.headers);
  return true;
}

void ApiHandlers::Handle(const HttpRequest& request, HttpResponder& responder) {
  try {
    Dispatch(request, responder);
  } catch (const json::exception& e) {
    // A body of the wrong shape (a number where a string belongs, ...).
    // Ignored if an answer went out already.
    responder.Send(
        400, "application/json",
        StatusBody(400, "BadRequest",
                   absl::StrCat("cannot decode the request: ", e.what()))
            .dump());
  }
}

void ApiHandlers::Dispatch(const HttpRequest& request,
                           HttpResponder& responder) {
  if (request.path.starts_with("/debug/fake/")) {
    return HandleDebug(request, responder);
  }
  if (request.path == "/version" || request.path == "/healthz" ||
      request.path == "/readyz" || request.path == "/livez") {
    return HandleNonResource(request, responder);
  }
  if (request.path == "/apis/authentication.k8s.io/v1/tokenreviews") {
    return HandleTokenReview(request, responder);
  }
  Route route;
  if (!ParseRoute(request, responder, &route)) return;
  const size_t record =
      stats_.Record({route.verb, route.resource, route.ns, route.name, 0});
  Call call{request, responder, route, record};

  std::optional<Fault> fault =
      faults_.Take({route.verb, route.resource, route.ns, route.name});
  if (fault.has_value() && ApplyFault(call, *fault)) return;

  if (!BearerTokenAccepted(request)) {
    return Reply(call, 401, StatusBody(401, "Unauthorized", "Unauthorized"));
  }
  if (faults_.IsForbidden({route.verb, route.resource, route.ns, route.name})) {
    return ReplyForbidden(call);
  }
  if (request.body.size() > kMaxRequestBytes) {
    return Reply(call, 413,
                 StatusBody(413, "RequestEntityTooLarge",
                            absl::StrCat("Request entity too large: limit is ",
                                         kMaxRequestBytes)));
  }
  if (route.resource == "pods/attach") return Attach(call);
  if (route.verb == "create") return Create(call);
  if (route.verb == "get") {
    return route.resource == "pods/log" ? StreamLog(call) : Get(call);
  }
  if (route.verb == "list") return List(call);
  if (route.verb == "watch") return Watch(call);
  if (route.verb == "delete" && route.resource == route.kind->plural) {
    return Delete(call);
  }
  if (route.verb == "deletecollection") return DeleteCollection(call);
  if (route.verb == "patch") return Patch(call);
  Reply(call, 405,
        StatusBody(405, "MethodNotAllowed",
                   "the server does not allow this method on the requested "
                   "resource",
                   json::object()));
}

void ApiHandlers::Create(Call& call) {
  const ResourceKind& kind = *call.route.kind;
  if (&kind == &kPods) {
    // The fake only makes pods through the Job controller.
    return Reply(call, 405,
                 StatusBody(405, "MethodNotAllowed",
                            "the fake apiserver creates pods only for Jobs",
                            json::object()));
  }
  const auto& namespaces = options_.namespaces;
  if (!namespaces.empty() && std::find(namespaces.begin(), namespaces.end(),
                                       call.route.ns) == namespaces.end()) {
    return Reply(
        call, 404,
        StatusBody(404, "NotFound",
                   absl::StrCat("namespaces \"", call.route.ns, "\" not found"),
                   json{{"name", call.route.ns}, {"kind", "namespaces"}}));
  }
  json object =
      json::parse(call.request.body, nullptr, /*allow_exceptions=*/false);
  if (!object.is_object()) {
    return ReplyError(call, absl::FailedPreconditionError(
                                "the body of the request was in an unknown "
                                "format - accepted media types include: "
                                "application/json"));
  }
  if (object.contains("apiVersion") &&
      object["apiVersion"] != kind.api_version) {
    return ReplyError(
        call, absl::FailedPreconditionError(absl::StrCat(
                  "the API version in the data (", object["apiVersion"].dump(),
                  ") does not match the expected API version (",
                  kind.api_version, ")")));
  }
  if (object.contains("kind") && object["kind"] != kind.kind) {
    return ReplyError(
        call, absl::FailedPreconditionError(absl::StrCat(
                  "the kind in the data (", object["kind"].dump(),
                  ") does not match the expected kind (", kind.kind, ")")));
  }
  const std::string body_ns = MetadataString(object, "namespace");
  if (!body_ns.empty() && body_ns != call.route.ns) {
    return ReplyError(call, absl::FailedPreconditionError(
                                "the namespace of the provided object does not "
                                "match the namespace sent on the request"));
  }
  call.route.name = MetadataString(object, "name");
  if (absl::Status valid = ValidateNewObject(kind, object); !valid.ok()) {
    return ReplyError(call, valid);
  }
  json& metadata = object["metadata"];
  for (const char* server_set : {"uid", "resourceVersion", "creationTimestamp",
                                 "deletionTimestamp", "generation"}) {
    metadata.erase(server_set);
  }
  object.erase("status");
  if (&kind == &kJobs) {
    if (call.route.name.empty()) {
      call.route.name =
          MetadataString(object, "generateName") + RandomNameSuffix();
      metadata["name"] = call.route.name;
    }
    DefaultNewJob(object, NewUid());
  }
  absl::StatusOr<json> created = store_.Create(kind, call.route.ns, object);
  if (!created.ok()) return ReplyError(call, created.status());
  stats_.RememberCreated(kind.plural, *created);
  Reply(call, 201, *created);
  if (&kind == &kJobs) controller_.OnJobCreated(*created);
}

void ApiHandlers::Get(Call& call) {
  absl::StatusOr<json> object =
      store_.Get({call.route.kind, call.route.ns, call.route.name, ""});
  if (!object.ok()) return ReplyError(call, object.status());
  Reply(call, 200, *object);
}

}  // namespace codeexec::fake_kube
