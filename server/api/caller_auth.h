// Who is calling (server.auth): the identity a call's transport proves, and
// whether it may run code. Checked first in Execute, CreateSession and
// CloseSession, so that a refused call queues nothing; health and
// reflection stay open (probes and discovery).
#ifndef CODEEXEC_SERVER_API_CALLER_AUTH_H_
#define CODEEXEC_SERVER_API_CALLER_AUTH_H_

#include <grpcpp/grpcpp.h>

#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "server/api/auth_options.h"

namespace codeexec {

class CallerAuth {
 public:
  explicit CallerAuth(const AuthOptions& options);

  // The caller's identity: "" with mode none; with mtls the client
  // certificate's first URI SAN, else its first DNS SAN.
  // UNAUTHENTICATED without a verified certificate (or one without such a
  // SAN), PERMISSION_DENIED naming the identity when allowed_identities is
  // set and does not hold it. `context` may be null (no transport security).
  absl::StatusOr<std::string> Authenticate(
      const grpc::AuthContext* context) const;

 private:
  const bool mtls_;
  const std::set<std::string> allowed_;
};

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_API_CALLER_AUTH_H_
