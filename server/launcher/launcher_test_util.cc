#include "server/launcher/launcher_test_util.h"

#include <fcntl.h>
#include <openssl/sha.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "server/launcher/frame_parser.h"
#include "server/launcher/launcher_source.h"

extern char** environ;

namespace codeexec::launcher_testing {

namespace fs = std::filesystem;
using Kind = LauncherEvent::Kind;

LaunchResult Decode(std::string raw, int returncode) {
  LaunchResult run;
  run.raw = std::move(raw);
  run.returncode = returncode;
  run.lines = absl::StrSplit(run.raw, '\n');
  EXPECT_EQ(run.lines.back(), "") << "output must end with a newline";
  run.lines.pop_back();
  for (const std::string& line : run.lines) {
    EXPECT_EQ(run.exit_frames, 0) << "x must be the last frame";
    const LauncherEvent e = FrameParser::ParseFrame(line);
    switch (e.kind) {
      case Kind::kStdout:
        run.stdout_data += e.data;
        ++run.o_frames;
        break;
      case Kind::kStderr:
        run.stderr_data += e.data;
        break;
      case Kind::kFile:
        run.files[e.path] = e.data;
        run.file_order.push_back(e.path);
        break;
      case Kind::kFilesTruncated:
        run.truncated = true;
        break;
      case Kind::kExit:
        run.exit_code = e.exit_code;
        ++run.exit_frames;
        break;
      case Kind::kForeign:
        absl::StrAppend(&run.foreign, line, "\n");
        break;
    }
  }
  if (returncode == CE_EXIT_BAD_REQUEST && run.exit_frames == 0) {
    // A refused request: its reason as one plain line, no frame.
    EXPECT_EQ(run.lines.size(), 1u) << run.raw.substr(0, 1000);
    EXPECT_EQ(run.foreign, run.raw);
    return run;
  }
  EXPECT_EQ(run.foreign, "") << "lines that are not frames";
  EXPECT_EQ(run.exit_frames, 1) << "exactly one x frame";
  return run;
}

std::string Digest(absl::string_view data) {
  unsigned char hash[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(),
         hash);
  return absl::StrCat(data.size(), " bytes, sha256 ",
                      absl::BytesToHexString(absl::string_view(
                          reinterpret_cast<const char*>(hash), sizeof(hash))));
}

LauncherProcess::LauncherProcess(const std::vector<std::string>& argv,
                                 const std::vector<std::string>& extra_env,
                                 std::optional<std::string> input,
                                 bool keep_stdin_open,
                                 bool nonblocking_stdout) {
  int out[2], in[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(in, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe";
    return;
  }
  if (nonblocking_stdout) fcntl(out[1], F_SETFL, O_NONBLOCK);
  std::vector<std::string> env_strings(extra_env);
  for (char** e = environ; *e != nullptr; ++e) env_strings.push_back(*e);
  std::vector<char*> env, args;
  for (std::string& s : env_strings) env.push_back(s.data());
  env.push_back(nullptr);
  std::vector<std::string> argv_copy(argv);
  for (std::string& s : argv_copy) args.push_back(s.data());
  args.push_back(nullptr);
  pid_ = fork();
  if (pid_ == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    execve(args[0], args.data(), env.data());
    _exit(126);
  }
  close(out[1]);
  close(in[0]);
  stdout_fd_ = out[0];
  stdin_fd_ = in[1];
  if (input.has_value()) Write(*input);
  if (!keep_stdin_open) CloseStdin();
}

void LauncherProcess::Write(absl::string_view data) {
  // A blocking write: the launcher reads its whole request first.
  while (!data.empty() && stdin_fd_ >= 0) {
    const ssize_t n = write(stdin_fd_, data.data(), data.size());
    if (n <= 0) break;
    data.remove_prefix(n);
  }
}

void LauncherProcess::CloseStdin() {
  if (stdin_fd_ >= 0) close(stdin_fd_);
  stdin_fd_ = -1;
}

LauncherProcess::~LauncherProcess() {
  if (stdout_fd_ >= 0) close(stdout_fd_);
  if (stdin_fd_ >= 0) close(stdin_fd_);
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

std::string LauncherProcess::ReadLine() {
  size_t newline;
  while ((newline = buffered_.find('\n')) == std::string::npos) {
    char buffer[4096];
    const ssize_t n = read(stdout_fd_, buffer, sizeof(buffer));
    if (n <= 0) return std::exchange(buffered_, "");
    buffered_.append(buffer, n);
  }
  std::string line = buffered_.substr(0, newline + 1);
  buffered_.erase(0, newline + 1);
  return line;
}

LaunchResult LauncherProcess::Finish(int timeout_seconds, int pause_ms) {
  std::string raw;
  const int code = ReadToExit(raw, timeout_seconds, pause_ms);
  return Decode(std::move(raw), code);
}

int LauncherProcess::ReadToExit(std::string& raw, int timeout_seconds,
                                int pause_ms) {
  raw = std::exchange(buffered_, "");
  const absl::Time deadline = absl::Now() + absl::Seconds(timeout_seconds);
  for (;;) {
    const int64_t left = absl::ToInt64Milliseconds(deadline - absl::Now());
    pollfd p = {stdout_fd_, POLLIN, 0};
    if (left <= 0 || poll(&p, 1, static_cast<int>(left)) == 0) {
      ADD_FAILURE() << "launcher still running after " << timeout_seconds
                    << " s";
      kill(pid_, SIGKILL);
      break;
    }
    char buffer[65536];
    if (pause_ms > 0) usleep(pause_ms * 1000);
    const ssize_t n =
        read(stdout_fd_, buffer, pause_ms > 0 ? 512 : sizeof(buffer));
    if (n <= 0) break;
    raw.append(buffer, n);
  }
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

void LauncherProcess::Signal(int signum) { kill(pid_, signum); }

std::string LauncherTest::launcher_path_;

void LauncherTest::SetUpTestSuite() {
  if (!launcher_path_.empty()) return;
  std::string tmpl = (fs::path(testing::TempDir()) / "ce-launcher-XXXXXX");
  ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
  chmod(tmpl.c_str(), 0755);
  launcher_path_ = tmpl + "/launcher";
  std::ofstream(launcher_path_, std::ios::binary) << LauncherSource();
  ASSERT_EQ(chmod(launcher_path_.c_str(), 0755), 0);
}

void LauncherTest::SetUp() {
  std::string tmpl = (fs::path(testing::TempDir()) / "ce-launch-XXXXXX");
  ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
  dir_ = tmpl;
  workspace_ = dir_ + "/workspace";
  fs::create_directory(workspace_);
  spec_.execution_id = "ce-00000000abcd";
  spec_.language = {"main.py", {"python3", "main.py"}, "", {}, ""};
  spec_.max_output_files = 32;
  spec_.max_output_file_bytes = int64_t{2} << 20;
  spec_.max_output_bytes = 0;
}

void LauncherTest::TearDown() {
  if (!dir_.empty()) fs::remove_all(dir_);
}

void LauncherTest::Program(std::string code) { spec_.code = std::move(code); }

std::string LauncherTest::Request() {
  absl::StatusOr<std::string> request =
      BuildRequest(spec_, run_as_, workspace_);
  EXPECT_TRUE(request.ok()) << request.status();
  return request.ok() ? *request : "";
}

std::unique_ptr<LauncherProcess> LauncherTest::Start(
    const std::string& request, const std::vector<std::string>& extra_env) {
  const std::string path = dir_ + "/request";
  fs::remove(path);
  std::ofstream(path, std::ios::binary) << request;
  return std::make_unique<LauncherProcess>(
      std::vector<std::string>{launcher_path_, path}, extra_env);
}

LaunchResult LauncherTest::RunLauncher(
    const std::vector<std::string>& extra_env) {
  return Start(Request(), extra_env)->Finish();
}

LaunchResult LauncherTest::RunRequest(const std::string& request) {
  return Start(request)->Finish();
}

LaunchResult LauncherTest::RunWaiting(const std::string& input,
                                      bool keep_stdin_open) {
  LauncherProcess process({launcher_path_, "--wait"}, {}, input,
                          keep_stdin_open);
  return process.Finish();
}

std::vector<std::string> LauncherTest::WorkspaceEntries() const {
  std::vector<std::string> entries;
  for (const auto& entry : fs::directory_iterator(workspace_)) {
    entries.push_back(entry.path().filename());
  }
  return entries;
}

}  // namespace codeexec::launcher_testing
