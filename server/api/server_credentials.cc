#include "server/api/server_credentials.h"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <fstream>
#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace codeexec {
namespace {

// The file at `path` (config key `key`) holds a PEM block whose type ends
// with `kind` ("CERTIFICATE", "PRIVATE KEY").
absl::Status CheckPemFile(const std::string& key, const std::string& path,
                          const std::string& kind) {
  std::ifstream in(path);
  if (!in) {
    return absl::FailedPreconditionError(
        absl::StrCat(key, ": cannot read \"", path, "\""));
  }
  std::stringstream text;
  text << in.rdbuf();
  const std::string content = text.str();
  const size_t begin = content.find("-----BEGIN ");
  const size_t end = begin == std::string::npos
                         ? std::string::npos
                         : content.find("-----", begin + 11);
  if (end == std::string::npos ||
      !absl::EndsWith(content.substr(begin + 11, end - begin - 11), kind)) {
    return absl::FailedPreconditionError(
        absl::StrCat(key, ": \"", path, "\" holds no PEM ", kind));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFor(
    const TlsOptions& tls) {
  if (tls.cert_file.empty()) return grpc::InsecureServerCredentials();
  const std::pair<const char*, std::pair<std::string, const char*>> files[] = {
      {"server.tls.certFile", {tls.cert_file, "CERTIFICATE"}},
      {"server.tls.keyFile", {tls.key_file, "PRIVATE KEY"}},
      {"server.tls.clientCaFile", {tls.client_ca_file, "CERTIFICATE"}},
  };
  for (const auto& [key, file] : files) {
    if (file.first.empty()) continue;
    if (absl::Status ok = CheckPemFile(key, file.first, file.second);
        !ok.ok()) {
      return ok;
    }
  }
  const unsigned int refresh =
      static_cast<unsigned int>(absl::ToInt64Seconds(tls.reload_interval));
  auto provider =
      tls.client_ca_file.empty()
          ? std::make_shared<
                grpc::experimental::FileWatcherCertificateProvider>(
                tls.key_file, tls.cert_file, refresh)
          : std::make_shared<
                grpc::experimental::FileWatcherCertificateProvider>(
                tls.key_file, tls.cert_file, tls.client_ca_file, refresh);
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (tls.client_ca_file.empty()) {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  } else {
    options.watch_root_certs();
    // Asked for and verified when given; a call without one is refused by
    // CallerAuth with UNAUTHENTICATED (a handshake failure says nothing).
    options.set_cert_request_type(
        GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

namespace {

class WithoutReflectionOption : public grpc::ServerBuilderOption {
 public:
  void UpdateArguments(grpc::ChannelArguments*) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>*
                         plugins) override {
    std::erase_if(*plugins, [](const auto& plugin) {
      return plugin->name() == "proto_server_reflection";
    });
  }
};

}  // namespace

std::unique_ptr<grpc::ServerBuilderOption> WithoutReflection() {
  return std::make_unique<WithoutReflectionOption>();
}

}  // namespace codeexec
