#include "server/api/caller_auth.h"

#include <grpc/grpc_security_constants.h>

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace codeexec {
namespace {

std::string FirstProperty(const grpc::AuthContext& context, const char* name) {
  for (const grpc::string_ref& value : context.FindPropertyValues(name)) {
    return std::string(value.data(), value.size());
  }
  return "";
}

// The token of the one "authorization: Bearer <token>" header ("" if none
// or more than one: which of two would count is not defined).
std::string BearerToken(const grpc::CallbackServerContext& context) {
  const auto& metadata = context.client_metadata();
  if (metadata.count("authorization") != 1) return "";
  auto it = metadata.find("authorization");
  const std::string value(it->second.data(), it->second.size());
  constexpr absl::string_view kScheme = "bearer ";
  if (value.size() <= kScheme.size() ||
      !absl::StartsWithIgnoreCase(value, kScheme)) {
    return "";
  }
  return std::string(absl::StripAsciiWhitespace(
      absl::string_view(value).substr(kScheme.size())));
}

}  // namespace

bool IdentityAllowed(const std::vector<std::string>& allowed,
                     const std::string& identity) {
  for (const std::string& entry : allowed) {
    if (absl::EndsWith(entry, ":*") || absl::EndsWith(entry, "/*")) {
      const absl::string_view prefix =
          absl::string_view(entry).substr(0, entry.size() - 1);
      if (identity.size() > prefix.size() &&
          absl::StartsWith(identity, prefix)) {
        return true;
      }
    } else if (entry == identity) {
      return true;
    }
  }
  return false;
}

CallerAuth::CallerAuth(const AuthOptions& options, TokenAuthenticator* tokens)
    : mode_(options.mode),
      allowed_(options.allowed_identities),
      audience_(options.token.audience),
      tokens_(tokens) {}

void CallerAuth::Authenticate(const grpc::CallbackServerContext& context,
                              Done done) const {
  if (mode_ == "mtls") {
    done(Allow(CertificateIdentity(context.auth_context().get())));
    return;
  }
  if (mode_ != "token" || tokens_ == nullptr) {
    done(std::string());
    return;
  }
  const std::string token = BearerToken(context);
  if (token.empty()) {
    done(absl::UnauthenticatedError(absl::StrCat(
        "one bearer token is required (metadata \"authorization: Bearer "
        "<token>\", a Kubernetes service account token with audience \"",
        audience_, "\")")));
    return;
  }
  tokens_->Authenticate(
      token, [this, done = std::move(done)](absl::StatusOr<std::string> id) {
        done(Allow(std::move(id)));
      });
}

absl::StatusOr<std::string> CallerAuth::CertificateIdentity(
    const grpc::AuthContext* context) const {
  std::string identity;
  if (context != nullptr && context->IsPeerAuthenticated()) {
    identity = FirstProperty(*context, GRPC_PEER_URI_PROPERTY_NAME);
    if (identity.empty())
      identity = FirstProperty(*context, GRPC_PEER_DNS_PROPERTY_NAME);
  }
  if (identity.empty()) {
    return absl::UnauthenticatedError(
        "a client certificate signed by the server's client CA "
        "(server.tls.clientCaFile), with a URI or DNS subject alternative "
        "name, is required");
  }
  return identity;
}

absl::StatusOr<std::string> CallerAuth::Allow(
    absl::StatusOr<std::string> identity) const {
  if (!identity.ok()) return identity;
  if (!allowed_.empty() && !IdentityAllowed(allowed_, *identity)) {
    return absl::PermissionDeniedError(
        absl::StrCat("caller \"", *identity,
                     "\" is not allowed (server.auth.allowedIdentities)"));
  }
  return identity;
}

}  // namespace codeexec
