// RestClient over TLS against a cpprestsdk https listener that requires a
// client certificate. Certificates are made with the openssl CLI per run.
// cpprestsdk's U() macro breaks gtest's templates.
#define _TURN_OFF_PLATFORM_STRING
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "cpprest/http_listener.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/kube/client/rest_client.h"

namespace codeexec::kube {
namespace {

using ::testing::HasSubstr;
namespace listener = web::http::experimental::listener;

std::string ReadText(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

class RestClientTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(
        absl::StrCat(::testing::TempDir(), "/kube_tls_", getpid()));
    std::filesystem::create_directories(*dir_);
    const std::string script = absl::StrCat(
        "set -e; cd '", *dir_, "'\n",
        "key() { openssl genpkey -algorithm EC -pkeyopt "
        "ec_paramgen_curve:P-256 -out $1.key 2>/dev/null; }\n",
        "key ca; openssl req -x509 -new -key ca.key -subj /CN=test-ca -days 2 "
        "-out ca.crt\n",
        "printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n'"
        " > server.ext\n",
        "printf 'extendedKeyUsage=clientAuth\\n' > client.ext\n",
        "for who in server client; do key $who; openssl req -new -key $who.key "
        "-subj /CN=$who -out $who.csr; openssl x509 -req -in $who.csr -CA "
        "ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile $who.ext -out "
        "$who.crt 2>/dev/null; done\n");
    ASSERT_EQ(std::system(
                  absl::StrCat("bash -c \"$(cat <<'EOS'\n", script, "EOS\n)\"")
                      .c_str()),
              0);
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete dir_;
  }

  void SetUp() override {
    port_ = FreePort();
    listener::http_listener_config config;
    const std::string dir = *dir_;
    config.set_ssl_context_callback([dir](boost::asio::ssl::context& context) {
      context.set_options(boost::asio::ssl::context::default_workarounds);
      context.use_certificate_chain_file(dir + "/server.crt");
      context.use_private_key_file(dir + "/server.key",
                                   boost::asio::ssl::context::pem);
      context.load_verify_file(dir + "/ca.crt");
      context.set_verify_mode(boost::asio::ssl::verify_peer |
                              boost::asio::ssl::verify_fail_if_no_peer_cert);
    });
    server_ = std::make_unique<listener::http_listener>(
        web::uri(absl::StrCat("https://127.0.0.1:", port_)), config);
    server_->support([](web::http::http_request request) {
      web::json::value reply;
      reply["authorization"] =
          web::json::value::string(request.headers().has("Authorization")
                                       ? request.headers()["Authorization"]
                                       : "");
      request.reply(web::http::status_codes::OK, reply);
    });
    server_->open().wait();
  }
  void TearDown() override { server_->close().wait(); }

  ClusterConnection Connection(bool with_ca, bool with_client_cert) const {
    ClusterConnection connection;
    connection.server = absl::StrCat("https://127.0.0.1:", port_);
    connection.description = "tls test";
    if (with_ca) connection.ca_pem = ReadText(*dir_ + "/ca.crt");
    if (with_client_cert) {
      connection.client_cert_pem = ReadText(*dir_ + "/client.crt");
      connection.client_key_pem = ReadText(*dir_ + "/client.key");
    }
    connection.token_source = std::make_shared<StaticTokenSource>("tls-token");
    return connection;
  }

  static absl::StatusOr<nlohmann::json> Get(
      const ClusterConnection& connection) {
    RestClientOptions options;
    options.max_attempts = 1;
    options.request_timeout = absl::Seconds(5);
    auto client = RestClient::Create(connection, options, nullptr);
    if (!client.ok()) return client.status();
    return (*client)->Call({"GET", "/version", std::nullopt, "version", "get"});
  }

  static std::string* dir_;
  int port_ = 0;
  std::unique_ptr<listener::http_listener> server_;
};

std::string* RestClientTlsTest::dir_ = nullptr;

TEST_F(RestClientTlsTest, MutualTlsWithConfiguredCaSucceeds) {
  absl::StatusOr<nlohmann::json> reply = Get(Connection(true, true));
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ((*reply)["authorization"], "Bearer tls-token");
}

TEST_F(RestClientTlsTest, ServerNotTrustedWithoutTheCa) {
  const absl::Status status = Get(Connection(false, true)).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("127.0.0.1"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("TLS handshake"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("certificate"));
}

TEST_F(RestClientTlsTest, InsecureSkipVerifyAcceptsAnyServer) {
  ClusterConnection connection = Connection(false, true);
  connection.insecure_skip_tls_verify = true;
  absl::StatusOr<nlohmann::json> reply = Get(connection);
  EXPECT_TRUE(reply.ok()) << reply.status();
}

TEST_F(RestClientTlsTest, ServerRejectsClientWithoutCertificate) {
  const absl::Status status = Get(Connection(true, false)).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
}

TEST_F(RestClientTlsTest, HostNameMustMatchTheServerCertificate) {
  ClusterConnection connection = Connection(true, true);
  connection.server = absl::StrCat("https://localhost:", port_);
  const absl::Status status = Get(connection).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
}

TEST_F(RestClientTlsTest, MismatchedClientKeyIsRejectedAtCreate) {
  ClusterConnection connection = Connection(true, true);
  connection.client_key_pem = ReadText(*dir_ + "/server.key");
  const absl::Status status =
      RestClient::Create(connection, {}, nullptr).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("does not match"));
}

}  // namespace
}  // namespace codeexec::kube
