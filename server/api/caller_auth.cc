#include "server/api/caller_auth.h"

#include <grpc/grpc_security_constants.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace codeexec {
namespace {

std::string FirstProperty(const grpc::AuthContext& context, const char* name) {
  for (const grpc::string_ref& value : context.FindPropertyValues(name)) {
    return std::string(value.data(), value.size());
  }
  return "";
}

}  // namespace

CallerAuth::CallerAuth(const AuthOptions& options)
    : mtls_(options.mode == "mtls"),
      allowed_(options.allowed_identities.begin(),
               options.allowed_identities.end()) {}

absl::StatusOr<std::string> CallerAuth::Authenticate(
    const grpc::AuthContext* context) const {
  if (!mtls_) return std::string();
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
  if (!allowed_.empty() && !allowed_.contains(identity)) {
    return absl::PermissionDeniedError(
        absl::StrCat("caller \"", identity,
                     "\" is not allowed (server.auth.allowedIdentities)"));
  }
  return identity;
}

}  // namespace codeexec
