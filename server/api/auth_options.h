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

// Who may call (server.auth).
struct AuthOptions {
  // "none": anyone who reaches the port. "mtls": the caller is the client
  // certificate's subject alternative name (URI, else DNS); a call without
  // one is UNAUTHENTICATED, one not in allowed_identities PERMISSION_DENIED.
  std::string mode = "none";
  // With mtls: the identities allowed; empty = any certificate the client
  // CA signed.
  std::vector<std::string> allowed_identities;
};

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_API_AUTH_OPTIONS_H_
