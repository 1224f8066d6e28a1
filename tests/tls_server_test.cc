// Whole-binary tests of the gRPC port's security (server.tls, server.auth):
// certificates made with the openssl CLI for each test (a CA, the server's
// for 127.0.0.1, clients' with SPIFFE-style URI SANs), real gRPC clients.
// TLS only on the port, health reachable in plaintext on its own port; mTLS
// names the caller (in the execution's log line), refuses a call without a
// certificate as UNAUTHENTICATED and one outside the allow-list as
// PERMISSION_DENIED, queueing nothing, and a session is found only by the
// caller who created it; a rotated server certificate is served to new
// connections without a restart.
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpc/grpc_security_constants.h"
#include "gtest/gtest.h"
#include "tests/integrity_checks.h"
#include "tests/server_process.h"
#include "tests/session_calls.h"

namespace codeexec::testing {
namespace {

using ::codeexecutor::v1::CodeExecutor;
using ::codeexecutor::v1::Finished;
using ::testing::HasSubstr;

constexpr char kAllowed[] = "spiffe://test.local/ns/agents/sa/allowed";
constexpr char kOther[] = "spiffe://test.local/ns/agents/sa/other";

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class TlsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat("/tmp/codeexec-tls-", getpid());
    std::filesystem::create_directories(dir_);
    // A CA; the server's certificate (127.0.0.1); two clients'.
    const std::string script = absl::StrCat(
        "set -e; cd ", dir_, "\n",
        "key() { openssl genpkey -algorithm EC -pkeyopt "
        "ec_paramgen_curve:P-256 -out $1.key 2>/dev/null; }\n",
        "cert() {  # NAME SAN\n"
        "  key $1\n"
        "  openssl req -new -key $1.key -subj /CN=$1 -out $1.csr\n"
        "  printf 'subjectAltName=%s\\n' \"$2\" > $1.ext\n"
        "  openssl x509 -req -in $1.csr -CA ca.crt -CAkey ca.key "
        "-CAcreateserial -days 1 -extfile $1.ext -out $1.crt 2>/dev/null\n"
        "}\n",
        "key ca\n",
        "openssl req -x509 -new -key ca.key -subj /CN=test-ca -days 1 "
        "-out ca.crt\n",
        "cert server IP:127.0.0.1\n", "cert server-two IP:127.0.0.1\n",
        "cert allowed URI:", kAllowed, "\n", "cert other URI:", kOther, "\n");
    std::ofstream(dir_ + "/make.sh") << script;
    ASSERT_EQ(std::system(absl::StrCat("sh ", dir_, "/make.sh").c_str()), 0);
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::string File(const std::string& name) { return dir_ + "/" + name; }

  void StartServer(std::vector<std::string> extra) {
    std::vector<std::string> args = {
        "--set", absl::StrCat("server.tls.certFile=", File("server.crt")),
        "--set", absl::StrCat("server.tls.keyFile=", File("server.key")),
        "--set", "server.healthAddress=127.0.0.1:0"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto server = ServerProcess::Start(args);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }
  // A TLS channel trusting the test CA, with client `name`'s certificate
  // ("" = none).
  std::shared_ptr<grpc::Channel> TlsChannel(const std::string& name) {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = ReadText(File("ca.crt"));
    if (!name.empty()) {
      options.pem_private_key = ReadText(File(name + ".key"));
      options.pem_cert_chain = ReadText(File(name + ".crt"));
    }
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a new connection
    return grpc::CreateCustomChannel(server_->target(),
                                     grpc::SslCredentials(options), args);
  }
  ExecuteOutcome Run(std::shared_ptr<grpc::Channel> channel,
                     const std::string& code) {
    auto stub = CodeExecutor::NewStub(std::move(channel));
    return Execute(*stub, MakeRequest(code), absl::Seconds(60));
  }
  double Executions() {
    absl::StatusOr<std::string> page = ScrapeMetrics(server_->metrics_port());
    if (!page.ok()) return -1;
    double total = 0;
    for (const char* outcome : {"ok", "nonzero_exit"}) {
      total += MetricValue(*page, absl::StrCat("codeexec_executions_total{"
                                               "backend=\"gvisor-local\","
                                               "outcome=\"",
                                               outcome, "\"}"))
                   .value_or(0);
    }
    return total;
  }

  std::string dir_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(TlsServerTest, TheGrpcPortSpeaksTlsOnlyAndHealthStaysPlain) {
  StartServer({});
  // Every byte value through the TLS channel, exact.
  ExecuteOutcome run =
      Run(TlsChannel(""),
          "import sys\nsys.stdout.buffer.write(bytes(range(256)) * 512)\n");
  ASSERT_TRUE(run.status.ok()) << run.status.error_message();
  EXPECT_EQ(run.finished.outcome(), Finished::OK) << run.finished.message();
  std::string expected;
  for (int i = 0; i < 512; ++i) {
    for (int b = 0; b < 256; ++b) expected.push_back(static_cast<char>(b));
  }
  EXPECT_EQ(run.stdout_text.size(), expected.size());
  EXPECT_EQ(Digest(run.stdout_text), Digest(expected));
  // Plaintext to the TLS port: no call gets through.
  ExecuteOutcome plain =
      Run(grpc::CreateChannel(server_->target(),
                              grpc::InsecureChannelCredentials()),
          "print(1)");
  EXPECT_EQ(plain.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Executions(), 1);
  // The health port answers in plaintext and serves nothing else.
  ASSERT_GT(server_->health_port(), 0);
  auto on_health_port = CodeExecutor::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->health_port()),
                          grpc::InsecureChannelCredentials()));
  EXPECT_EQ(
      Execute(*on_health_port, MakeRequest("print(1)")).status.error_code(),
      grpc::StatusCode::UNIMPLEMENTED);
}

TEST_F(TlsServerTest, MtlsNamesTheCallerAndTheAllowListDecides) {
  StartServer(
      {"--set", absl::StrCat("server.tls.clientCaFile=", File("ca.crt")),
       "--set", "server.auth.mode=mtls", "--set",
       absl::StrCat("server.auth.allowedIdentities=[\"", kAllowed, "\"]")});
  ExecuteOutcome allowed = Run(TlsChannel("allowed"), "print('hi')");
  ASSERT_TRUE(allowed.status.ok()) << allowed.status.error_message();
  EXPECT_EQ(allowed.stdout_text, "hi\n");
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!absl::StrContains(server_->Log(), "\"caller\"") &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_THAT(server_->Log(),
              HasSubstr(absl::StrCat("\"caller\":\"", kAllowed, "\"")));

  ExecuteOutcome other = Run(TlsChannel("other"), "print('hi')");
  EXPECT_EQ(other.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(other.status.error_message(), HasSubstr(kOther));
  EXPECT_TRUE(other.events.empty());

  ExecuteOutcome anonymous = Run(TlsChannel(""), "print('hi')");
  EXPECT_EQ(anonymous.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(anonymous.status.error_message(),
              HasSubstr("server.tls.clientCaFile"));
  // Sessions are refused the same way.
  auto other_stub = CodeExecutor::NewStub(TlsChannel("other"));
  EXPECT_EQ(CreateSession(*other_stub).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(
      CloseSession(*other_stub, "cs-000000000000000000000000").error_code(),
      grpc::StatusCode::PERMISSION_DENIED);
  // Only the allowed call ran; the refused ones (the session calls too)
  // are counted as refused.
  EXPECT_EQ(Executions(), 1);
  absl::StatusOr<std::string> page = ScrapeMetrics(server_->metrics_port());
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(MetricValue(*page,
                        "codeexec_rejected_total{reason=\"permission_denied\"}")
                .value_or(0),
            3);
  EXPECT_EQ(
      MetricValue(*page, "codeexec_rejected_total{reason=\"unauthenticated\"}")
          .value_or(0),
      1);
}

TEST_F(TlsServerTest, ASessionBelongsToTheCallerWhoCreatedIt) {
  // Any certificate the CA signed may call (no allow-list).
  StartServer({"--set",
               absl::StrCat("server.tls.clientCaFile=", File("ca.crt")),
               "--set", "server.auth.mode=mtls"});
  auto owner = CodeExecutor::NewStub(TlsChannel("allowed"));
  auto stranger = CodeExecutor::NewStub(TlsChannel("other"));
  absl::StatusOr<codeexecutor::v1::Session> session = CreateSession(*owner);
  ASSERT_TRUE(session.ok()) << session.status();
  EXPECT_EQ(
      RunCell(*owner, session->session_id(), "secret = 42").finished.outcome(),
      Finished::OK);
  // Another caller cannot tell it from a session that does not exist.
  ExecuteOutcome probe =
      RunCell(*stranger, session->session_id(), "print(secret)");
  EXPECT_EQ(probe.status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(probe.stdout_text, "");
  EXPECT_EQ(CloseSession(*stranger, session->session_id()).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(RunCell(*owner, session->session_id(), "print(secret)").stdout_text,
            "42\n");
  uint32_t cells = 0;
  EXPECT_TRUE(CloseSession(*owner, session->session_id(), &cells).ok());
  EXPECT_EQ(cells, 2u);
}

TEST_F(TlsServerTest, ARotatedCertificateIsServedWithoutARestart) {
  StartServer({"--set", "server.tls.reloadInterval=1s"});
  // The certificate a new connection is shown.
  auto served_cert = [&] {
    auto stub = CodeExecutor::NewStub(TlsChannel(""));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(30));
    codeexecutor::v1::CloseSessionRequest request;
    codeexecutor::v1::CloseSessionResponse response;
    stub->CloseSession(&context, request, &response);  // any call will do
    std::string pem;
    for (const grpc::string_ref& value :
         context.auth_context()->FindPropertyValues(
             GRPC_X509_PEM_CERT_PROPERTY_NAME)) {
      pem.assign(value.data(), value.size());
    }
    return pem;
  };
  EXPECT_EQ(served_cert(), ReadText(File("server.crt")));
  // cert-manager's way: new files appear in place (renamed over).
  std::filesystem::rename(File("server-two.key"), File("server.key.new"));
  std::filesystem::rename(File("server-two.crt"), File("server.crt.new"));
  const std::string rotated = ReadText(File("server.crt.new"));
  std::filesystem::rename(File("server.key.new"), File("server.key"));
  std::filesystem::rename(File("server.crt.new"), File("server.crt"));
  std::string seen;
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while ((seen = served_cert()) != rotated && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(250));
  }
  EXPECT_EQ(seen, rotated);
  ExecuteOutcome run = Run(TlsChannel(""), "print('after rotation')");
  EXPECT_EQ(run.stdout_text, "after rotation\n");
}

TEST_F(TlsServerTest, ABadFileStopsTheServerNamingItsKey) {
  std::ofstream(File("empty.crt")) << "not a certificate\n";
  auto server = ServerProcess::Start(
      {"--set", absl::StrCat("server.tls.certFile=", File("empty.crt")),
       "--set", absl::StrCat("server.tls.keyFile=", File("server.key"))});
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(std::string(server.status().message()),
              HasSubstr("server.tls.certFile"));
  auto mtls_without_ca = ServerProcess::Start(
      {"--set", absl::StrCat("server.tls.certFile=", File("server.crt")),
       "--set", absl::StrCat("server.tls.keyFile=", File("server.key")),
       "--set", "server.auth.mode=mtls"});
  ASSERT_FALSE(mtls_without_ca.ok());
  EXPECT_THAT(std::string(mtls_without_ca.status().message()),
              HasSubstr("server.tls.clientCaFile"));
}

}  // namespace
}  // namespace codeexec::testing
