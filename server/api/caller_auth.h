// Who is calling (server.auth): the identity a call's transport (mtls) or
// bearer token (token) proves, and whether it may run code. Checked first
// in Execute, CreateSession and CloseSession, so that a refused call queues
// nothing; health and reflection stay open (probes and discovery).
#ifndef CODEEXEC_SERVER_API_CALLER_AUTH_H_
#define CODEEXEC_SERVER_API_CALLER_AUTH_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/api/auth_options.h"
#include "server/api/token_authenticator.h"

namespace codeexec {

class CallerAuth {
 public:
  using Done = std::function<void(absl::StatusOr<std::string> caller)>;

  // `tokens` checks bearer tokens (mode token; null otherwise) and must
  // outlive this.
  CallerAuth(const AuthOptions& options, TokenAuthenticator* tokens);

  // Calls `done` with the caller's identity: "" with mode none; with mtls
  // the client certificate's first URI SAN, else its first DNS SAN; with
  // token the token's username. UNAUTHENTICATED without a verified
  // certificate / live token; PERMISSION_DENIED naming the identity when
  // allowed_identities does not allow it; UNAVAILABLE when a token could
  // not be checked. `done` runs before this returns, except for a token
  // whose verdict is not cached yet: then on a review thread, later (the
  // call's context stays valid: nothing has finished it).
  void Authenticate(const grpc::CallbackServerContext& context,
                    Done done) const;

 private:
  absl::StatusOr<std::string> CertificateIdentity(
      const grpc::AuthContext* context) const;
  absl::StatusOr<std::string> Allow(absl::StatusOr<std::string> identity) const;

  const std::string mode_;
  const std::vector<std::string> allowed_;
  const std::string audience_;
  TokenAuthenticator* const tokens_;
};

// Whether `allowed` (server.auth.allowedIdentities) admits `identity`: an
// equal entry, or one ending in ":*" / "/*" whose text before the "*" starts
// it.
bool IdentityAllowed(const std::vector<std::string>& allowed,
                     const std::string& identity);

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_API_CALLER_AUTH_H_
