// The gRPC port's credentials from server.tls: plaintext, TLS, or TLS that
// asks for and verifies client certificates (mTLS). The files are watched
// by gRPC's FileWatcherCertificateProvider, read again every
// reload_interval, so a rotated certificate reaches new connections
// without a restart.
#ifndef CODEEXEC_SERVER_API_SERVER_CREDENTIALS_H_
#define CODEEXEC_SERVER_API_SERVER_CREDENTIALS_H_

#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/security/server_credentials.h>

#include <memory>

#include "absl/status/statusor.h"
#include "server/api/auth_options.h"

namespace codeexec {

// FailedPrecondition naming the key (server.tls.certFile, ...) for a file
// that cannot be read or holds no PEM block of the expected kind: checked
// at start, so that a bad file stops the server instead of every handshake.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFor(
    const TlsOptions& tls);

// A ServerBuilder option that leaves out gRPC reflection. Linking the
// reflection library registers its plugin with every ServerBuilder of the
// process, so a server without it (the health port; server.reflection
// false) has to take it out.
std::unique_ptr<grpc::ServerBuilderOption> WithoutReflection();

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_API_SERVER_CREDENTIALS_H_
