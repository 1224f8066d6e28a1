// Test harness: starts the real code_executor_server binary on free ports
// with a private state directory, waits until its health service says
// SERVING, and talks to it with a real gRPC client.
#ifndef CODEEXEC_TESTS_SERVER_PROCESS_H_
#define CODEEXEC_TESTS_SERVER_PROCESS_H_

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "codeexecutor/v1/code_executor.grpc.pb.h"

namespace codeexec::testing {

class ServerProcess {
 public:
  // `args` are extra command-line arguments (e.g. {"--set",
  // "dispatcher.workers=1"}). Listens on 127.0.0.1:0 for gRPC and metrics.
  // Runs this build's server, or the binary $CODE_EXECUTOR_SERVER_BINARY
  // names (a benchmark comparing two builds side by side).
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(
      std::vector<std::string> args = {});
  // SIGTERM, then SIGKILL if it has not exited after 60 s; removes the state
  // directory.
  ~ServerProcess();

  std::string target() const {
    return "127.0.0.1:" + std::to_string(grpc_port_);
  }
  int metrics_port() const { return metrics_port_; }
  // server.healthAddress's port; 0 without one.
  int health_port() const { return health_port_; }
  pid_t pid() const { return pid_; }
  const std::string& state_dir() const { return state_dir_; }
  // What the server wrote to stderr so far (JSON log lines).
  std::string Log() const;

  std::unique_ptr<codeexecutor::v1::CodeExecutor::Stub> NewStub() const;
  // Sends `signal` and waits for exit; returns the wait status, or an error
  // if it did not exit within `timeout`.
  absl::StatusOr<int> SignalAndWait(int signal, absl::Duration timeout);

 private:
  ServerProcess() = default;
  pid_t pid_ = -1;
  bool exited_ = false;
  int grpc_port_ = 0;
  int metrics_port_ = 0;
  int health_port_ = 0;
  std::string work_dir_;   // ports file, log
  std::string state_dir_;  // the server's local.stateDir
};

// Everything one Execute call returned, in order, with receive times.
struct ExecuteOutcome {
  grpc::Status status;
  std::vector<codeexecutor::v1::ExecuteResponse> events;
  std::vector<absl::Time> received_at;
  codeexecutor::v1::Started started;
  codeexecutor::v1::Finished finished;
  bool has_started = false;
  bool has_finished = false;
  std::string stdout_text;
  std::string stderr_text;
};

// Runs one Execute call to completion. `timeout` (if non-zero) becomes the
// call's deadline.
ExecuteOutcome Execute(codeexecutor::v1::CodeExecutor::Stub& stub,
                       const codeexecutor::v1::ExecuteRequest& request,
                       absl::Duration deadline = absl::ZeroDuration());

// Request for `code` in `language` (default python).
codeexecutor::v1::ExecuteRequest MakeRequest(std::string code,
                                             std::string language = "");

// A program that prints "first", sleeps `sleep_seconds`, then prints "second
// at <its wall-clock time>"; and the check that the client received "first"
// before the program printed the second line (i.e. output is streamed, not
// delivered at the end). The check's error says what was seen.
std::string FirstThenSecondProgram(double sleep_seconds);
absl::Status CheckFirstLineStreamed(const ExecuteOutcome& run);

// GET http://127.0.0.1:port<path> (plain socket HTTP/1.0): the body of a
// 2xx response, else an error with the status line.
absl::StatusOr<std::string> HttpGet(int port, const std::string& path);
// HttpGet(port, "/metrics").
absl::StatusOr<std::string> ScrapeMetrics(int port);
// Value of one sample line, e.g.
// `codeexec_executions_total{backend="gvisor-local",outcome="ok"}`; labels
// must be written in the order the exposition prints them. NotFound if absent.
absl::StatusOr<double> MetricValue(const std::string& page,
                                   const std::string& sample);
// The sample's value (0 if absent, -1 if unreachable) once it is `value`,
// else the last one seen after `timeout`: for what is counted after the
// clean-up a test already waited for.
double WaitForMetric(int port, const std::string& sample, double value,
                     absl::Duration timeout = absl::Seconds(10));

// Waits (up to `timeout`) until nothing of execution `id` is left: no process
// mentions it, no bundle directory, no cgroup; else says what
// is left.
absl::Status WaitNothingLeft(const ServerProcess& server, const std::string& id,
                             absl::Duration timeout = absl::Seconds(10));

// Processes whose command line contains `needle` (scans /proc).
std::vector<pid_t> ProcessesMatching(const std::string& needle);
// Entries of a directory (empty if it does not exist).
std::vector<std::string> ListDir(const std::string& path);

}  // namespace codeexec::testing

#endif  // CODEEXEC_TESTS_SERVER_PROCESS_H_
