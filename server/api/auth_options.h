// Options of the gRPC port's security (config sections server.tls and
// server.auth): read by the config, used by main (credentials) and the
// service (CallerAuth).
#ifndef CODEEXEC_SERVER_API_AUTH_OPTIONS_H_
#define CODEEXEC_SERVER_API_AUTH_OPTIONS_H_

#include <string>
#include <vector>

#include "absl/time/time.h"

namespace codeexec {

// TLS on the gRPC port (server.tls).
struct TlsOptions {
  // PEM certificate chain and private key; both set turns TLS on: the gRPC
  // port then speaks TLS only. Empty = plaintext.
  std::string cert_file;
  std::string key_file;
  // PEM CA bundle: a client certificate is asked for and, when given,
  // verified against it (mTLS; server.auth.mode mtls requires one). Empty =
  // no client certificates.
  std::string client_ca_file;
  // How often the three files are read again, so a rotated certificate
  // (e.g. a cert-manager Secret) is served without a restart.
  absl::Duration reload_interval = absl::Seconds(60);
};

// Bearer tokens (server.auth.token): Kubernetes ServiceAccount tokens, each
// checked once with the API server's TokenReview.
struct TokenAuthOptions {
  // The audience a caller's token must be minted for (a projected token's
  // `audience`). A token for another audience (the API server's own, say)
  // is refused, so a token stolen from this service opens nothing else and
  // a pod's default token does not open this service.
  std::string audience = "code-executor";
  // A review's verdict is reused for the same token until the token
  // expires, at most this long: a deleted pod's token stops working within
  // it. Refusals are remembered for 10 s.
  absl::Duration cache_ttl = absl::Minutes(5);
  // Verdicts remembered at once (by the token's sha256); the one expiring
  // first is forgotten first.
  int cache_size = 10000;
  // TokenReviews waiting or in flight at once; a call that needs one more
  // is UNAVAILABLE (a flood of made-up tokens cannot queue API calls
  // without bound).
  int max_pending_reviews = 64;
};

// Who may call (server.auth).
struct AuthOptions {
  // "none": anyone who reaches the port. "mtls": the caller is the client
  // certificate's subject alternative name (URI, else DNS). "token": the
  // caller is the username of a Kubernetes ServiceAccount token sent as
  // `authorization: Bearer <token>` ("system:serviceaccount:<ns>:<name>").
  // A call without an identity is UNAUTHENTICATED, one not in
  // allowed_identities PERMISSION_DENIED.
  std::string mode = "none";
  // The identities allowed. An entry ending in ":*" or "/*" allows every
  // identity that starts with what comes before the "*"
  // ("system:serviceaccount:team-a:*" = every service account of namespace
  // team-a). With mtls, empty = any certificate the client CA signed; with
  // token it is required (any pod may mint a token for any audience).
  std::vector<std::string> allowed_identities;
  TokenAuthOptions token;
};

// Per-caller quotas (server.quotas), by the identity server.auth gives a
// call (with mode none every caller is one caller, ""). 0 = no quota. Over
// a quota a call is RESOURCE_EXHAUSTED naming it, with nothing queued.
struct QuotaOptions {
  // Executions (cells included) of one caller queued or running at once.
  int concurrent_executions = 0;
  // Executions (cells included) one caller may start in any 60 s.
  int executions_per_minute = 0;
  // Sessions of one caller open or starting at once.
  int open_sessions = 0;
};

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_API_AUTH_OPTIONS_H_
