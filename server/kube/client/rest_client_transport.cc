#include "server/kube/client/rest_client_transport.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace codeexec::kube::rest_internal {
namespace {

// Text of an error code: OpenSSL errors arrive as plain ints that
// system_category cannot name.
std::string ErrorCodeText(const std::error_code& code) {
  std::string text = code.message();
  if (absl::StartsWith(text, "Unknown error")) {
    const char* reason =
        ERR_reason_error_string(static_cast<unsigned long>(code.value()));
    if (reason != nullptr) text = reason;
  }
  return text;
}

}  // namespace

// Applies the connection's CA, client certificate and minimum TLS version to
// a fresh context; returns what is wrong, empty when fine.
std::string ConfigureTls(const ClusterConnection& connection,
                         boost::asio::ssl::context& context) {
  SSL_CTX_set_min_proto_version(context.native_handle(), TLS1_2_VERSION);
  boost::system::error_code error;
  if (!connection.ca_pem.empty()) {
    // Only the configured CA is trusted (as client-go does), not system roots.
    SSL_CTX_set_cert_store(context.native_handle(), X509_STORE_new());
    context.add_certificate_authority(
        boost::asio::buffer(connection.ca_pem.data(), connection.ca_pem.size()),
        error);
    if (error) return "the CA certificate is not valid PEM: " + error.message();
  }
  if (!connection.client_cert_pem.empty()) {
    context.use_certificate_chain(
        boost::asio::buffer(connection.client_cert_pem.data(),
                            connection.client_cert_pem.size()),
        error);
    if (error)
      return "the client certificate is not valid PEM: " + error.message();
    context.use_private_key(
        boost::asio::buffer(connection.client_key_pem.data(),
                            connection.client_key_pem.size()),
        boost::asio::ssl::context::pem, error);
    if (error && absl::StrContains(error.message(), "mismatch")) {
      return "the client key does not match the client certificate";
    }
    if (error) return "the client key is not valid PEM: " + error.message();
    if (SSL_CTX_check_private_key(context.native_handle()) != 1) {
      return "the client key does not match the client certificate";
    }
  }
  return "";
}

// cpprestsdk's text plus the system error, if it adds anything.
std::string TransportErrorText(const std::exception& e) {
  std::string text = e.what();
  const auto* http = dynamic_cast<const web::http::http_exception*>(&e);
  if (http == nullptr) return text;
  if (absl::StrContains(text, "Failed to connect")) {
    // cpprestsdk reports a refused connection as "host unreachable".
    return text + " (connection refused or host unreachable)";
  }
  const std::string code_text = ErrorCodeText(http->error_code());
  if (http->error_code() && !absl::StrContains(text, code_text)) {
    absl::StrAppend(&text, ": ", code_text);
  }
  if (absl::StrContains(text, "SSL handshake")) {
    absl::StrAppend(&text,
                    " (TLS handshake failed: the server certificate is not "
                    "signed by the configured CA or does not name the "
                    "server's host, or the server rejected our client "
                    "certificate)");
  }
  return text;
}

bool IsTransportErrorBeforeSend(absl::string_view what) {
  return absl::StrContains(what, "resolv") ||
         absl::StrContains(what, "Failed to connect") ||
         absl::StrContains(what, "SSL handshake");
}

bool LineAssembler::Feed(absl::string_view data,
                         const std::function<bool(absl::string_view)>& on_line,
                         bool* too_long) {
  while (!data.empty()) {
    const size_t newline = data.find('\n');
    const absl::string_view piece = data.substr(0, newline);
    line_.append(piece.data(), piece.size());
    if (line_.size() > max_line_bytes_) {
      *too_long = true;
      return false;
    }
    if (newline == absl::string_view::npos) return true;
    data.remove_prefix(newline + 1);
    if (!line_.empty() && line_.back() == '\r') line_.pop_back();
    const bool more = on_line(line_);
    line_.clear();
    if (!more) return false;
  }
  return true;
}

void LineAssembler::Finish(
    const std::function<bool(absl::string_view)>& on_line) {
  if (!line_.empty()) on_line(line_);
  line_.clear();
}

}  // namespace codeexec::kube::rest_internal
