// Runs the embedded static launcher on the host as a subprocess, the way a
// sandbox runs it, and decodes its frames with FrameParser: the fixture of
// the launcher's own tests (launcher_*_test.cc).
#ifndef CODEEXEC_SERVER_LAUNCHER_LAUNCHER_TEST_UTIL_H_
#define CODEEXEC_SERVER_LAUNCHER_LAUNCHER_TEST_UTIL_H_

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "server/exec/execution_spec.h"
#include "server/launcher/launcher_bundle.h"
#include "server/launcher/request_format.h"

namespace codeexec::launcher_testing {

// What one launcher run wrote, decoded.
struct LaunchResult {
  std::string raw;
  std::vector<std::string> lines;
  std::string stdout_data, stderr_data;
  std::string foreign;  // lines that are not frames: only a refusal's

  std::map<std::string, std::string> files;
  std::vector<std::string> file_order;
  bool truncated = false;
  int exit_code = -1;   // the x frame's
  int exit_frames = 0;  // must be 1, and last
  int o_frames = 0;
  int returncode = -1;  // the launcher's own exit code (signal N: 128 + N)
};

// Decodes raw launcher output. A test failure: a frame after x, an
// unterminated last line, a line that is not a frame, or not exactly one x
// frame -- unless the launcher refused the request (returncode
// CE_EXIT_BAD_REQUEST, no frame, its reason as one plain line in `foreign`).
LaunchResult Decode(std::string raw, int returncode);

// "<size> bytes, sha256 <hex>": compares big byte strings readably.
std::string Digest(absl::string_view data);

// A running launcher: its stdout is ours to read.
class LauncherProcess {
 public:
  // argv[0] is the launcher; `input` (if any) is written to its stdin, which
  // is then closed unless keep_stdin_open. With nonblocking_stdout its
  // stdout pipe is O_NONBLOCK (its writes may then fail with EAGAIN).
  LauncherProcess(const std::vector<std::string>& argv,
                  const std::vector<std::string>& extra_env,
                  std::optional<std::string> input = std::nullopt,
                  bool keep_stdin_open = false,
                  bool nonblocking_stdout = false);
  ~LauncherProcess();
  // One line of stdout, '\n' included ("" at EOF).
  std::string ReadLine();
  // More input on its stdin (kept open), and its end.
  void Write(absl::string_view data);
  void CloseStdin();
  // Reads to EOF and waits (SIGKILL after `timeout_seconds`); with
  // pause_ms, sleeps that long before each read of at most 512 bytes.
  LaunchResult Finish(int timeout_seconds = 60, int pause_ms = 0);
  // The same without decoding: the rest of stdout into `raw`; returns the
  // launcher's exit code.
  int ReadToExit(std::string& raw, int timeout_seconds = 60, int pause_ms = 0);
  void Signal(int signum);
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  int stdin_fd_ = -1;
  std::string buffered_;
};

class LauncherTest : public testing::Test {
 protected:
  static void SetUpTestSuite();
  void SetUp() override;
  void TearDown() override;

  // A Python program (run by python3 as main.py) with the default caps.
  void Program(std::string code);
  // The request for spec_ (run_as_ if set) with the workspace under dir_.
  std::string Request();
  // Writes `request` to a file and starts the launcher on it.
  std::unique_ptr<LauncherProcess> Start(
      const std::string& request,
      const std::vector<std::string>& extra_env = {});
  LaunchResult RunLauncher(const std::vector<std::string>& extra_env = {});
  LaunchResult RunRequest(const std::string& request);
  // launcher --wait with `input` on its stdin.
  LaunchResult RunWaiting(const std::string& input,
                          bool keep_stdin_open = false);
  std::vector<std::string> WorkspaceEntries() const;

  static std::string launcher_path_;
  std::string dir_, workspace_;
  ExecutionSpec spec_;
  std::optional<RunAs> run_as_;
};

}  // namespace codeexec::launcher_testing

#endif  // CODEEXEC_SERVER_LAUNCHER_LAUNCHER_TEST_UTIL_H_
