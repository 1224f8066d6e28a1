#include "server/base/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace codeexec {
namespace {

constexpr char kDefaultPath[] =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
constexpr size_t kMaxCommandOutput = 64 * 1024;

struct Pipe {
  UniqueFd read_end;
  UniqueFd write_end;
};

absl::StatusOr<Pipe> MakePipe() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return ErrnoError(errno, "creating a pipe");
  return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

void SetNonBlocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags >= 0) fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

}  // namespace

int ShellExitCode(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return -1;
}

int PollTimeoutMillis(absl::Time deadline) {
  if (deadline == absl::InfiniteFuture()) return -1;
  absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  // Round up so we do not spin just before the deadline.
  return static_cast<int>(std::min<int64_t>(
      absl::ToInt64Milliseconds(left + absl::Microseconds(999)), 86400000));
}

absl::StatusOr<ChildProcess> ChildProcess::Spawn(
    const std::vector<std::string>& argv, Stdio stdio,
    const std::optional<std::vector<std::string>>& environment) {
  if (argv.empty() || argv[0].empty() || argv[0][0] != '/') {
    return absl::InvalidArgumentError(
        "internal error: spawn needs an absolute path");
  }
  ChildProcess child;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  absl::Cleanup destroy_actions = [&] {
    posix_spawn_file_actions_destroy(&actions);
  };
  // The child ends; closed in the parent when this returns.
  std::vector<UniqueFd> child_ends;
  if (stdio == Stdio::kPipes) {
    absl::StatusOr<Pipe> in = MakePipe();
    if (!in.ok()) return in.status();
    absl::StatusOr<Pipe> out = MakePipe();
    if (!out.ok()) return out.status();
    absl::StatusOr<Pipe> err = MakePipe();
    if (!err.ok()) return err.status();
    posix_spawn_file_actions_adddup2(&actions, in->read_end.get(), 0);
    posix_spawn_file_actions_adddup2(&actions, out->write_end.get(), 1);
    posix_spawn_file_actions_adddup2(&actions, err->write_end.get(), 2);
    child.stdin_fd_ = std::move(in->write_end);
    child.stdout_fd_ = std::move(out->read_end);
    child.stderr_fd_ = std::move(err->read_end);
    child_ends.push_back(std::move(in->read_end));
    child_ends.push_back(std::move(out->write_end));
    child_ends.push_back(std::move(err->write_end));
  } else {
    absl::StatusOr<Pipe> out = MakePipe();
    if (!out.ok()) return out.status();
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out->write_end.get(), 1);
    if (stdio == Stdio::kSeparateOutput) {
      absl::StatusOr<Pipe> err = MakePipe();
      if (!err.ok()) return err.status();
      posix_spawn_file_actions_adddup2(&actions, err->write_end.get(), 2);
      child.stderr_fd_ = std::move(err->read_end);
      child_ends.push_back(std::move(err->write_end));
    } else {
      posix_spawn_file_actions_adddup2(&actions, out->write_end.get(), 2);
    }
    child.stdout_fd_ = std::move(out->read_end);
    child_ends.push_back(std::move(out->write_end));
  }
  // Whatever else the server has open stays out of the sandbox's reach.
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);

  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  absl::Cleanup destroy_attributes = [&] {
    posix_spawnattr_destroy(&attributes);
  };
  sigset_t signals;
  sigemptyset(&signals);
  posix_spawnattr_setsigmask(&attributes, &signals);
  // The server may ignore SIGPIPE; ignored signals would survive exec.
  sigfillset(&signals);
  posix_spawnattr_setsigdefault(&attributes, &signals);
  posix_spawnattr_setpgroup(&attributes, 0);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK |
                                            POSIX_SPAWN_SETSIGDEF |
                                            POSIX_SPAWN_SETPGROUP);

  std::vector<char*> raw_argv;
  for (const std::string& arg : argv) {
    raw_argv.push_back(const_cast<char*>(arg.c_str()));
  }
  raw_argv.push_back(nullptr);
  std::vector<std::string> env_entries = environment.value_or(
      std::vector<std::string>{absl::StrCat("PATH=", kDefaultPath)});
  std::vector<char*> envp;
  for (std::string& entry : env_entries) envp.push_back(entry.data());
  envp.push_back(nullptr);

  pid_t pid = -1;
  int error = posix_spawn(&pid, argv[0].c_str(), &actions, &attributes,
                          raw_argv.data(), envp.data());
  if (error != 0) return ErrnoError(error, "starting ", argv[0]);
  child.pid_ = pid;
  child.exit_fd_.reset(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  for (UniqueFd* fd :
       {&child.stdin_fd_, &child.stdout_fd_, &child.stderr_fd_}) {
    if (fd->valid()) SetNonBlocking(fd->get());
  }
  return child;
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      reaped_(other.reaped_),
      wait_status_(other.wait_status_),
      exit_fd_(std::move(other.exit_fd_)),
      stdin_fd_(std::move(other.stdin_fd_)),
      stdout_fd_(std::move(other.stdout_fd_)),
      stderr_fd_(std::move(other.stderr_fd_)) {}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !reaped_) {
    Kill();
    WaitBlocking();
  }
}

bool ChildProcess::TryReap() {
  if (reaped_ || pid_ <= 0) return reaped_;
  int status = 0;
  pid_t got = waitpid(pid_, &status, WNOHANG);
  if (got == pid_) {
    reaped_ = true;
    wait_status_ = status;
  } else if (got < 0 && errno == ECHILD) {
    // Someone else reaped it (should not happen); treat as killed.
    reaped_ = true;
    wait_status_ = SIGKILL;
  }
  return reaped_;
}

void ChildProcess::Kill() {
  if (pid_ > 0 && !reaped_) kill(pid_, SIGKILL);
}

void ChildProcess::KillGroup() {
  if (pid_ <= 0 || reaped_) return;
  kill(-pid_, SIGKILL);
  kill(pid_, SIGKILL);  // in case it has left its group
}

void ChildProcess::WaitBlocking() {
  while (pid_ > 0 && !reaped_) {
    int status = 0;
    pid_t got = waitpid(pid_, &status, 0);
    if (got == pid_) {
      reaped_ = true;
      wait_status_ = status;
    } else if (got < 0 && errno != EINTR) {
      reaped_ = true;
      wait_status_ = SIGKILL;
    }
  }
}

absl::StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                         absl::Duration timeout) {
  absl::StatusOr<ChildProcess> child =
      ChildProcess::Spawn(argv, ChildProcess::Stdio::kCombinedOutput);
  if (!child.ok()) return child.status();
  CommandResult result;
  const absl::Time deadline = absl::Now() + timeout;
  // Once the process is gone, wait only briefly for descendants that might
  // still hold the pipe.
  absl::Time drain_deadline = absl::InfiniteFuture();
  char buffer[4096];
  while (child->stdout_fd().valid() || !child->reaped()) {
    pollfd fds[2];
    int count = 0;
    if (child->stdout_fd().valid()) {
      fds[count++] = {child->stdout_fd().get(), POLLIN, 0};
    }
    const bool watch_exit = child->exit_fd() >= 0 && !child->reaped();
    if (watch_exit) fds[count++] = {child->exit_fd(), POLLIN, 0};
    int timeout_ms = PollTimeoutMillis(std::min(deadline, drain_deadline));
    if (!watch_exit && !child->reaped()) {
      timeout_ms = timeout_ms < 0 ? 10 : std::min(timeout_ms, 10);
    }
    if (poll(fds, count, timeout_ms) < 0 && errno != EINTR) break;
    if (child->stdout_fd().valid() && fds[0].revents != 0) {
      ssize_t got = read(child->stdout_fd().get(), buffer, sizeof(buffer));
      if (got > 0) {
        size_t keep = std::min(static_cast<size_t>(got),
                               kMaxCommandOutput - result.output.size());
        result.output.append(buffer, keep);
      } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
        child->stdout_fd().reset();
      }
    }
    if (!child->reaped() && child->TryReap()) {
      drain_deadline = absl::Now() + absl::Milliseconds(100);
    }
    const absl::Time now = absl::Now();
    if (now >= drain_deadline) break;
    if (now >= deadline && !child->reaped()) {
      result.timed_out = true;
      child->Kill();
      break;
    }
  }
  child->WaitBlocking();
  result.exit_code = ShellExitCode(child->wait_status());
  return result;
}

absl::StatusOr<std::string> ResolveExecutable(const std::string& name) {
  if (name.empty()) return absl::NotFoundError("empty executable name");
  if (name.find('/') != std::string::npos) {
    std::string path = name;
    if (path[0] != '/') {
      char cwd[PATH_MAX];
      if (getcwd(cwd, sizeof(cwd)) == nullptr) {
        return ErrnoError(errno, "resolving ", name);
      }
      path = absl::StrCat(cwd, "/", name);
    }
    if (access(path.c_str(), X_OK) != 0) {
      return ErrnoError(errno, "no executable ", path);
    }
    return path;
  }
  const char* path_env = getenv("PATH");
  std::string search =
      path_env != nullptr && *path_env ? path_env : kDefaultPath;
  for (absl::string_view dir : absl::StrSplit(search, ':', absl::SkipEmpty())) {
    std::string candidate = absl::StrCat(dir, "/", name);
    if (candidate[0] == '/' && access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return absl::NotFoundError(
      absl::StrCat("no executable ", name, " in PATH ", search));
}

}  // namespace codeexec
