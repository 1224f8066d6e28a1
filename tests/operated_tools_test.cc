// The server operated with the tools people already use, each real: a
// Prometheus server (Debian's, scripts/install-prometheus) scrapes the
// metrics port and a PromQL query returns the executions counter; grpcurl
// (its Go module, scripts/install-grpcurl) lists and describes the services
// through reflection and calls Execute, whose streamed bytes (every byte
// value, invalid UTF-8) come back exact. Everything listens on 127.0.0.1.
// Without a tool the test is skipped, unless $CI is set: then it fails.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/fake_kube/fake_kube_apiserver.h"
#include "tests/integrity_checks.h"
#include "tests/server_process.h"

extern char** environ;

namespace codeexec::testing {
namespace {

using ::testing::HasSubstr;

// $ENV_NAME, else ~/.cache/code-executor/bin/<name>; "" if not executable.
std::string ToolPath(const char* env_name, const std::string& name) {
  std::string path =
      absl::StrCat(std::getenv("HOME") ? std::getenv("HOME") : "/root",
                   "/.cache/code-executor/bin/", name);
  if (const char* env = std::getenv(env_name); env != nullptr) path = env;
  return access(path.c_str(), X_OK) == 0 ? path : "";
}

#define REQUIRE_TOOL(path, script)                                      \
  if ((path).empty()) {                                                 \
    if (std::getenv("CI") != nullptr) FAIL() << "no tool: run " script; \
    GTEST_SKIP() << "no tool (" script ")";                             \
  }

// Runs `command` (sh -c) and returns its stdout; the exit code in *code.
std::string Capture(const std::string& command, int* code) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    *code = -1;
    return out;
  }
  char buffer[8192];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0)
    out.append(buffer, n);
  const int status = pclose(pipe);
  *code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

// A port free on 127.0.0.1 right now.
int FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &size) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

// The JSON values printed one after another (grpcurl's stream of messages).
std::vector<nlohmann::json> JsonSequence(const std::string& text) {
  std::vector<nlohmann::json> values;
  int depth = 0;
  bool in_string = false, escaped = false;
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{') {
      if (depth++ == 0) start = i;
    } else if (c == '}' && --depth == 0) {
      values.push_back(nlohmann::json::parse(text.substr(start, i + 1 - start),
                                             nullptr,
                                             /*allow_exceptions=*/false));
    }
  }
  return values;
}

class OperatedToolsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = ServerProcess::Start({});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    stub_ = server_->NewStub();
    dir_ = absl::StrCat("/tmp/codeexec-tools-", getpid());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    if (prometheus_pid_ > 0) {
      kill(prometheus_pid_, SIGTERM);
      int status;
      waitpid(prometheus_pid_, &status, 0);
    }
    std::filesystem::remove_all(dir_);
  }

  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<codeexecutor::v1::CodeExecutor::Stub> stub_;
  std::string dir_;
  pid_t prometheus_pid_ = -1;
};

TEST_F(OperatedToolsTest, PrometheusScrapesTheExecutionsCounter) {
  const std::string prometheus = ToolPath("PROMETHEUS", "prometheus");
  REQUIRE_TOOL(prometheus, "scripts/install-prometheus");
  for (const char* code : {"print(1)", "import sys\nsys.exit(3)"}) {
    ASSERT_TRUE(Execute(*stub_, MakeRequest(code)).status.ok());
  }
  const int port = FreeLoopbackPort();
  ASSERT_GT(port, 0);
  std::ofstream(dir_ + "/prometheus.yml") << absl::StrCat(
      "global: {scrape_interval: 1s}\n"
      "scrape_configs:\n"
      "- job_name: code-executor\n"
      "  static_configs: [{targets: ['127.0.0.1:",
      server_->metrics_port(), "']}]\n");
  const std::vector<std::string> args = {
      prometheus, absl::StrCat("--config.file=", dir_, "/prometheus.yml"),
      absl::StrCat("--storage.tsdb.path=", dir_, "/data"),
      absl::StrCat("--web.listen-address=127.0.0.1:", port),
      "--log.level=warn"};
  std::vector<char*> argv;
  for (const std::string& arg : args)
    argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, (dir_ + "/log").c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  ASSERT_EQ(posix_spawn(&prometheus_pid_, prometheus.c_str(), &actions, nullptr,
                        argv.data(), environ),
            0);
  posix_spawn_file_actions_destroy(&actions);

  // The counter by outcome, summed, as an operator would ask for it.
  const std::string query =
      "/api/v1/query?query=sum%20by%20(outcome)%20(codeexec_executions_total)";
  nlohmann::json result;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (absl::Now() < deadline) {
    absl::StatusOr<std::string> body = HttpGet(port, query);
    if (body.ok()) {
      nlohmann::json page = nlohmann::json::parse(*body, nullptr, false);
      if (page.value("status", "") == "success" &&
          page["data"]["result"].size() >= 2) {
        result = page["data"]["result"];
        break;
      }
    }
    absl::SleepFor(absl::Milliseconds(250));
  }
  std::string log;
  std::getline(std::ifstream(dir_ + "/log"), log, '\0');
  ASSERT_TRUE(result.is_array()) << "no result from Prometheus; its log:\n"
                                 << log;
  std::map<std::string, std::string> by_outcome;
  for (const auto& series : result) {
    by_outcome[series["metric"].value("outcome", "")] =
        series["value"][1].get<std::string>();
  }
  EXPECT_EQ(by_outcome, (std::map<std::string, std::string>{
                            {"nonzero_exit", "1"}, {"ok", "1"}}));
  absl::StatusOr<std::string> up = HttpGet(port, "/api/v1/query?query=up");
  ASSERT_TRUE(up.ok()) << up.status();
  EXPECT_THAT(*up, HasSubstr(absl::StrCat("\"instance\":\"127.0.0.1:",
                                          server_->metrics_port(), "\"")));
  EXPECT_THAT(*up, HasSubstr("\"1\"]"));
}

TEST_F(OperatedToolsTest, GrpcurlListsDescribesAndCallsExecuteByReflection) {
  const std::string grpcurl = ToolPath("GRPCURL", "grpcurl");
  REQUIRE_TOOL(grpcurl, "scripts/install-grpcurl");
  const std::string base = absl::StrCat(grpcurl, " -plaintext ");
  const std::string target = server_->target();
  int code = 0;
  const std::string services = Capture(base + target + " list", &code);
  EXPECT_EQ(code, 0) << services;
  EXPECT_THAT(services, HasSubstr("codeexecutor.v1.CodeExecutor\n"));
  EXPECT_THAT(services, HasSubstr("grpc.health.v1.Health\n"));

  const std::string described =
      Capture(base + target + " describe codeexecutor.v1.CodeExecutor", &code);
  EXPECT_EQ(code, 0) << described;
  EXPECT_THAT(
      described,
      HasSubstr("rpc Execute ( .codeexecutor.v1.ExecuteRequest ) "
                "returns ( stream .codeexecutor.v1.ExecuteResponse );"));
  EXPECT_THAT(described, HasSubstr("rpc CreateSession"));

  // Every byte value and invalid UTF-8 on stdout, a line on stderr.
  const nlohmann::json request = {
      {"code",
       "import sys\n"
       "sys.stdout.buffer.write(bytes(range(256)) * 64 + b'\\xff\\xfe')\n"
       "print('to stderr', file=sys.stderr)\n"}};
  std::ofstream(dir_ + "/request.json") << request.dump();
  const std::string streamed =
      Capture(absl::StrCat(base, "-d @ ", target,
                           " codeexecutor.v1.CodeExecutor/Execute < ", dir_,
                           "/request.json"),
              &code);
  EXPECT_EQ(code, 0) << streamed;
  std::string out, err, outcome;
  bool started = false;
  for (const nlohmann::json& message : JsonSequence(streamed)) {
    if (message.contains("started")) started = true;
    if (message.contains("output")) {
      std::string data;
      ASSERT_TRUE(absl::Base64Unescape(
          message["output"].value("data", std::string()), &data));
      (message["output"].value("stream", "") == "STDERR" ? err : out) += data;
    }
    if (message.contains("finished")) {
      outcome = message["finished"].value("outcome", "");
    }
  }
  std::string expected;
  for (int i = 0; i < 64; ++i) {
    for (int b = 0; b < 256; ++b) expected.push_back(static_cast<char>(b));
  }
  expected += "\xff\xfe";
  EXPECT_TRUE(started) << streamed;
  EXPECT_EQ(out.size(), expected.size());
  EXPECT_EQ(Digest(out), Digest(expected));
  EXPECT_EQ(err, "to stderr\n");
  EXPECT_EQ(outcome, "OK") << streamed;
}

// With auth on, as the chart runs it (token mode, reflection off): grpcurl
// gets nothing without a token, and everything with an allowed one (the
// service described by the .proto file instead of reflection).
TEST_F(OperatedToolsTest, GrpcurlIsRefusedWithoutCredentialsWhenAuthIsOn) {
  const std::string grpcurl = ToolPath("GRPCURL", "grpcurl");
  REQUIRE_TOOL(grpcurl, "scripts/install-grpcurl");
  fake_kube::FakeKubeOptions options;
  options.kubelet.mode = fake_kube::KubeletMode::kInstant;
  auto fake = fake_kube::FakeKubeApiServer::Start(options);
  ASSERT_TRUE(fake.ok()) << fake.status();
  const std::string kubeconfig = dir_ + "/kubeconfig";
  std::ofstream(kubeconfig) << "apiVersion: v1\nkind: Config\n"
                            << "clusters:\n- name: f\n  cluster: {server: \""
                            << (*fake)->url() << "\"}\n"
                            << "users:\n- name: u\n  user: {token: t}\n"
                            << "contexts:\n- name: f\n  context: "
                            << "{cluster: f, user: u}\ncurrent-context: f\n";
  auto server = ServerProcess::Start(
      {"--set", "server.auth.mode=token", "--set",
       "server.auth.allowedIdentities=[\"system:serviceaccount:agents:*\"]",
       "--set", "server.reflection=false", "--set",
       "server.healthAddress=127.0.0.1:0", "--set",
       absl::StrCat("kubernetes.kubeconfigPath=", kubeconfig)});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string base = absl::StrCat(grpcurl, " -plaintext ");
  const std::string target = (*server)->target();
  int code = 0;
  const std::string listed = Capture(base + target + " list 2>&1", &code);
  EXPECT_NE(code, 0) << listed;
  EXPECT_THAT(listed, HasSubstr("does not support the reflection API"));
  // Nor does the plaintext health port (it serves health only).
  const std::string health_listed = Capture(
      absl::StrCat(base, "127.0.0.1:", (*server)->health_port(), " list 2>&1"),
      &code);
  EXPECT_NE(code, 0) << health_listed;
  EXPECT_THAT(health_listed, HasSubstr("does not support the reflection API"));

  const std::string proto =
      absl::StrCat("-import-path ", CODEEXEC_SOURCE_DIR,
                   "/proto -proto codeexecutor/v1/code_executor.proto ");
  std::ofstream(dir_ + "/hello.json")
      << nlohmann::json{{"code", "print('hello')"}}.dump();
  auto call = [&](const std::string& header) {
    return Capture(absl::StrCat(base, proto, header, " -d @ ", target,
                                " codeexecutor.v1.CodeExecutor/Execute < ",
                                dir_, "/hello.json 2>&1"),
                   &code);
  };
  const std::string anonymous = call("");
  EXPECT_NE(code, 0);
  EXPECT_THAT(anonymous, HasSubstr("Code: Unauthenticated"));
  EXPECT_THAT(anonymous, HasSubstr("bearer token is required"));

  const std::string intruder = (*fake)->MintServiceAccountToken(
      "intruders", "x", {"code-executor"}, absl::Hours(1));
  const std::string denied =
      call(absl::StrCat("-H 'authorization: Bearer ", intruder, "'"));
  EXPECT_NE(code, 0);
  EXPECT_THAT(denied, HasSubstr("Code: PermissionDenied"));

  const std::string agent = (*fake)->MintServiceAccountToken(
      "agents", "adk-agent", {"code-executor"}, absl::Hours(1));
  const std::string ran =
      call(absl::StrCat("-H 'authorization: Bearer ", agent, "'"));
  EXPECT_EQ(code, 0) << ran;
  std::string out, outcome;
  for (const nlohmann::json& message : JsonSequence(ran)) {
    if (message.contains("output")) {
      std::string data;
      ASSERT_TRUE(absl::Base64Unescape(
          message["output"].value("data", std::string()), &data));
      out += data;
    }
    if (message.contains("finished")) {
      outcome = message["finished"].value("outcome", "");
    }
  }
  EXPECT_EQ(out, "hello\n");
  EXPECT_EQ(outcome, "OK") << ran;
  server->reset();
  (*fake)->Stop();
}

}  // namespace
}  // namespace codeexec::testing
