// The fake's TokenReview (authentication.k8s.io/v1), as kube-apiserver's
// ServiceAccount token authenticator answers it: 201 with status.
// authenticated, status.user.username and groups, and status.audiences (the
// asked audiences the token is valid for); a token it does not know, an
// expired one, or one for none of the asked audiences is not authenticated,
// with kube-apiserver's error text. The tokens it knows are added by the
// test (FakeKubeApiServer::MintServiceAccountToken); nothing is signed.
// Counted, faulted and authenticated like any resource request.
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "tests/fake_kube/api_handlers.h"

namespace codeexec::fake_kube {
namespace {

using json = nlohmann::json;

}  // namespace

void ApiHandlers::AddServiceAccountToken(std::string token,
                                         ServiceAccountToken account) {
  absl::MutexLock lock(&token_mu_);
  account_tokens_[std::move(token)] = std::move(account);
}

void ApiHandlers::HandleTokenReview(const HttpRequest& request,
                                    HttpResponder& responder) {
  Route route;
  route.verb = request.method == "POST" ? "create" : request.method;
  route.resource = "tokenreviews";
  const size_t record = stats_.Record({route.verb, route.resource, "", "", 0});
  Call call{request, responder, route, record};
  std::optional<Fault> fault =
      faults_.Take({route.verb, route.resource, "", ""});
  if (fault.has_value() && ApplyFault(call, *fault)) return;
  if (!BearerTokenAccepted(request)) {
    return Reply(call, 401, StatusBody(401, "Unauthorized", "Unauthorized"));
  }
  if (faults_.IsForbidden({route.verb, route.resource, "", ""})) {
    return ReplyForbidden(call);
  }
  if (request.method != "POST") {
    return Reply(call, 405,
                 StatusBody(405, "MethodNotAllowed",
                            "the server does not allow this method on the "
                            "requested resource",
                            json::object()));
  }
  const json review = json::parse(request.body, nullptr, false);
  if (!review.is_object() || !review.contains("spec") ||
      !review["spec"].value("token", json()).is_string()) {
    return ReplyError(call, absl::FailedPreconditionError(
                                "the body of the request was in an unknown "
                                "format - accepted media types include: "
                                "application/json"));
  }
  const std::string token = review["spec"]["token"];
  std::vector<std::string> asked;
  if (review["spec"].contains("audiences")) {
    asked = review["spec"]["audiences"].get<std::vector<std::string>>();
  }
  std::optional<ServiceAccountToken> account;
  {
    absl::MutexLock lock(&token_mu_);
    if (auto it = account_tokens_.find(token); it != account_tokens_.end()) {
      account = it->second;
    }
  }
  json status = {{"user", json::object()}};
  if (!account.has_value()) {
    status["error"] =
        "[invalid bearer token, square/go-jose: error in "
        "cryptographic primitive]";
  } else if (account->expires <= absl::Now()) {
    status["error"] =
        "[invalid bearer token, service account token has "
        "expired]";
  } else {
    std::vector<std::string> valid;
    for (const std::string& audience : asked) {
      if (std::find(account->audiences.begin(), account->audiences.end(),
                    audience) != account->audiences.end()) {
        valid.push_back(audience);
      }
    }
    if (!asked.empty() && valid.empty()) {
      status["error"] =
          absl::StrCat("[invalid bearer token, token audiences [\"",
                       absl::StrJoin(account->audiences, "\" \""),
                       "\"] is invalid for the target audiences [\"",
                       absl::StrJoin(asked, "\" \""), "\"]]");
    } else {
      const std::vector<std::string> parts =
          absl::StrSplit(account->username, ':');
      status["authenticated"] = true;
      status["user"] = {{"username", account->username},
                        {"uid", absl::StrCat("uid-", account->username.size())},
                        {"groups",
                         {"system:serviceaccounts",
                          absl::StrCat("system:serviceaccounts:",
                                       parts.size() == 4 ? parts[2] : ""),
                          "system:authenticated"}}};
      status["audiences"] =
          asked.empty() ? json(account->audiences) : json(valid);
    }
  }
  json answer = {{"kind", "TokenReview"},
                 {"apiVersion", "authentication.k8s.io/v1"},
                 {"metadata", {{"creationTimestamp", nullptr}}},
                 {"spec", review["spec"]},
                 {"status", status}};
  Reply(call, 201, answer);
}

}  // namespace codeexec::fake_kube
