#include "tests/server_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/health_check_service_interface.h"
#include "nlohmann/json.hpp"

extern char** environ;

namespace codeexec::testing {
namespace {

namespace fs = std::filesystem;
using ::codeexecutor::v1::CodeExecutor;
using ::codeexecutor::v1::ExecuteRequest;
using ::codeexecutor::v1::ExecuteResponse;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

bool WaitForHealth(const std::string& target, absl::Duration timeout) {
  auto channel =
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  auto stub = grpc::health::v1::Health::NewStub(channel);
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(1));
    grpc::health::v1::HealthCheckRequest request;
    request.set_service("codeexecutor.v1.CodeExecutor");
    grpc::health::v1::HealthCheckResponse response;
    if (stub->Check(&context, request, &response).ok() &&
        response.status() == grpc::health::v1::HealthCheckResponse::SERVING) {
      return true;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  return false;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(
    std::vector<std::string> args) {
  std::unique_ptr<ServerProcess> server(new ServerProcess());
  char work_template[] = "/tmp/codeexec-test-XXXXXX";
  if (mkdtemp(work_template) == nullptr) {
    return absl::InternalError("mkdtemp failed");
  }
  server->work_dir_ = work_template;
  server->state_dir_ = server->work_dir_ + "/state";
  const std::string ports_file = server->work_dir_ + "/ports.json";
  const std::string log_file = server->work_dir_ + "/server.log";

  // A benchmark may compare another build: CODE_EXECUTOR_SERVER_BINARY.
  const char* binary = std::getenv("CODE_EXECUTOR_SERVER_BINARY");
  std::vector<std::string> argv = {
      binary != nullptr && *binary != '\0' ? binary : CODE_EXECUTOR_SERVER_PATH,
      "--listen_address=127.0.0.1:0",
      "--metrics_address=127.0.0.1:0",
      "--ports_file=" + ports_file,
      "--set",
      "local.stateDir=" + server->state_dir_};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> c_argv;
  for (auto& arg : argv) c_argv.push_back(arg.data());
  c_argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, log_file.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t empty;
  sigemptyset(&empty);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  // Each test process is its own kubernetes replica (the janitor of one
  // never takes another's warm pods for orphans), servers it restarts the
  // same one: POD_NAME names it, unless the environment already does.
  std::vector<std::string> env_storage;
  std::vector<char*> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    env.push_back(*entry);
  }
  if (std::getenv("POD_NAME") == nullptr) {
    env_storage.push_back(absl::StrCat("POD_NAME=codeexec-test-", getpid()));
    env.push_back(env_storage.back().data());
  }
  env.push_back(nullptr);
  int rc = posix_spawn(&server->pid_, c_argv[0], &actions, &attr, c_argv.data(),
                       env.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    return absl::InternalError(
        absl::StrCat("cannot start ", c_argv[0], ": ", strerror(rc)));
  }

  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (!fs::exists(ports_file)) {
    int status = 0;
    if (waitpid(server->pid_, &status, WNOHANG) == server->pid_) {
      server->exited_ = true;
      return absl::FailedPreconditionError(
          absl::StrCat("server exited at start-up: ", ReadFile(log_file)));
    }
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("server wrote no ports file: ", ReadFile(log_file)));
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  nlohmann::json ports = nlohmann::json::parse(ReadFile(ports_file));
  server->grpc_port_ = ports.at("grpc").get<int>();
  server->metrics_port_ = ports.at("metrics").get<int>();
  server->health_port_ = ports.value("health", 0);
  // With server.healthAddress (a TLS port's plaintext twin), health is there.
  if (!WaitForHealth(server->health_port_ > 0
                         ? absl::StrCat("127.0.0.1:", server->health_port_)
                         : server->target(),
                     absl::Seconds(30))) {
    return absl::DeadlineExceededError("server never reported SERVING");
  }
  return server;
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0 && !exited_) {
    if (!SignalAndWait(SIGTERM, absl::Seconds(60)).ok()) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  std::error_code ignored;
  if (!work_dir_.empty()) fs::remove_all(work_dir_, ignored);
}

std::string ServerProcess::Log() const {
  return ReadFile(work_dir_ + "/server.log");
}

std::unique_ptr<CodeExecutor::Stub> ServerProcess::NewStub() const {
  return CodeExecutor::NewStub(
      grpc::CreateChannel(target(), grpc::InsecureChannelCredentials()));
}

absl::StatusOr<int> ServerProcess::SignalAndWait(int signal,
                                                 absl::Duration timeout) {
  if (exited_) return absl::FailedPreconditionError("already exited");
  kill(pid_, signal);
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      exited_ = true;
      return status;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::DeadlineExceededError("server did not exit in time");
}

ExecuteOutcome Execute(CodeExecutor::Stub& stub, const ExecuteRequest& request,
                       absl::Duration deadline) {
  ExecuteOutcome outcome;
  grpc::ClientContext context;
  if (deadline > absl::ZeroDuration()) {
    context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  }
  auto reader = stub.Execute(&context, request);
  ExecuteResponse response;
  while (reader->Read(&response)) {
    outcome.received_at.push_back(absl::Now());
    if (response.has_started()) {
      outcome.started = response.started();
      outcome.has_started = true;
    } else if (response.has_output()) {
      (response.output().stream() == codeexecutor::v1::Output::STDOUT
           ? outcome.stdout_text
           : outcome.stderr_text) += response.output().data();
    } else if (response.has_finished()) {
      outcome.finished = response.finished();
      outcome.has_finished = true;
    }
    outcome.events.push_back(response);
  }
  outcome.status = reader->Finish();
  return outcome;
}

ExecuteRequest MakeRequest(std::string code, std::string language) {
  ExecuteRequest request;
  request.set_code(std::move(code));
  request.set_language(std::move(language));
  return request;
}

std::string FirstThenSecondProgram(double sleep_seconds) {
  return absl::StrCat("import time\nprint('first', flush=True)\ntime.sleep(",
                      sleep_seconds,
                      ")\nprint('second at', repr(time.time()), flush=True)\n");
}

absl::Status CheckFirstLineStreamed(const ExecuteOutcome& run) {
  absl::Time first_received = absl::InfiniteFuture();
  for (size_t i = 0; i < run.events.size(); ++i) {
    if (run.events[i].has_output() &&
        absl::StartsWith(run.events[i].output().data(), "first")) {
      first_received = run.received_at[i];
      break;
    }
  }
  const size_t at = run.stdout_text.find("second at ");
  double second_printed = 0;
  if (at == std::string::npos ||
      !absl::SimpleAtod(absl::StripAsciiWhitespace(
                            absl::string_view(run.stdout_text).substr(at + 10)),
                        &second_printed)) {
    return absl::InvalidArgumentError("unexpected output: " + run.stdout_text);
  }
  if (absl::ToUnixMicros(first_received) >=
      static_cast<int64_t>(second_printed * 1e6)) {
    return absl::FailedPreconditionError(
        "the first line was not received before the second was printed");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ScrapeMetrics(int port) {
  return HttpGet(port, "/metrics");
}

absl::StatusOr<std::string> HttpGet(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return absl::UnavailableError(
        absl::StrCat("cannot connect to 127.0.0.1:", port));
  }
  const std::string request =
      absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
  if (write(fd, request.data(), request.size()) !=
      static_cast<ssize_t>(request.size())) {
    close(fd);
    return absl::InternalError("short write");
  }
  std::string response;
  char buffer[8192];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof(buffer))) > 0) response.append(buffer, n);
  close(fd);
  const size_t body = response.find("\r\n\r\n");
  if (!absl::StartsWith(response, "HTTP/1.") || body == std::string::npos) {
    return absl::InternalError("not an HTTP response: " + response);
  }
  const std::string status_line = response.substr(0, response.find("\r\n"));
  if (status_line.size() < 10 || status_line[9] != '2') {
    return absl::UnavailableError(
        absl::StrCat(status_line, ": ", response.substr(body + 4, 500)));
  }
  return response.substr(body + 4);
}

absl::StatusOr<double> MetricValue(const std::string& page,
                                   const std::string& sample) {
  for (absl::string_view line : absl::StrSplit(page, '\n')) {
    if (absl::StartsWith(line, sample + " ")) {
      double value;
      if (absl::SimpleAtod(line.substr(sample.size() + 1), &value)) {
        return value;
      }
    }
  }
  return absl::NotFoundError(absl::StrCat("no sample ", sample));
}

double WaitForMetric(int port, const std::string& sample, double value,
                     absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    absl::StatusOr<std::string> page = ScrapeMetrics(port);
    const double seen = page.ok() ? MetricValue(*page, sample).value_or(0) : -1;
    if (seen == value || absl::Now() >= deadline) return seen;
    absl::SleepFor(absl::Milliseconds(50));
  }
}

std::vector<pid_t> ProcessesMatching(const std::string& needle) {
  std::vector<pid_t> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    pid_t pid;
    if (!absl::SimpleAtoi(entry.path().filename().string(), &pid)) continue;
    std::string cmdline = ReadFile(entry.path().string() + "/cmdline");
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (absl::StrContains(cmdline, needle)) found.push_back(pid);
  }
  return found;
}

absl::Status WaitNothingLeft(const ServerProcess& server, const std::string& id,
                             absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    std::vector<std::string> left;
    if (!ProcessesMatching(id).empty()) left.push_back("a process");
    for (const char* dir : {"/bundles/"}) {
      if (fs::exists(server.state_dir() + dir + id)) {
        left.push_back(server.state_dir() + dir + id);
      }
    }
    for (const char* controller : {"memory", "pids", "cpu"}) {
      std::error_code ec;
      const std::string parent =
          absl::StrCat("/sys/fs/cgroup/", controller, "/code-executor");
      for (const auto& server_level : fs::directory_iterator(parent, ec)) {
        const std::string cgroup = server_level.path().string() + "/" + id;
        if (fs::exists(cgroup)) left.push_back(cgroup);
      }
    }
    if (left.empty()) return absl::OkStatus();
    if (absl::Now() > deadline) {
      return absl::FailedPreconditionError(
          absl::StrCat("left behind by ", id, ": ", absl::StrJoin(left, ", ")));
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
}

std::vector<std::string> ListDir(const std::string& path) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(path, ec)) {
    names.push_back(entry.path().filename().string());
  }
  return names;
}

}  // namespace codeexec::testing
