// Starting and reaping child processes (runsc, kubeconfig exec plugins) from
// a multi-threaded server: posix_spawn (no code of ours runs between fork and
// exec), pipes for stdio, every other descriptor closed in the child, a pidfd
// to poll for exit.
#ifndef CODEEXEC_SERVER_BASE_CHILD_PROCESS_H_
#define CODEEXEC_SERVER_BASE_CHILD_PROCESS_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/base/unique_fd.h"

namespace codeexec {

// Shell convention: the exit code, or 128 + signal number when killed.
int ShellExitCode(int wait_status);

// Milliseconds for poll() until `deadline` (at least 0, at most a day);
// InfiniteFuture gives -1.
int PollTimeoutMillis(absl::Time deadline);

class ChildProcess {
 public:
  enum class Stdio {
    // stdin, stdout and stderr are three pipes; our ends are non-blocking.
    kPipes,
    // stdin is /dev/null; stdout and stderr share one pipe (stdout_fd()).
    kCombinedOutput,
    // stdin is /dev/null; stdout and stderr are two pipes.
    kSeparateOutput,
  };

  // Starts argv[0], which must be an absolute path, with default signal
  // dispositions, an empty signal mask and its own process group. The
  // environment is `environment` ("NAME=value" entries) if given, else a
  // minimal one (PATH only).
  static absl::StatusOr<ChildProcess> Spawn(
      const std::vector<std::string>& argv, Stdio stdio,
      const std::optional<std::vector<std::string>>& environment =
          std::nullopt);

  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&&) = delete;
  // Kills (SIGKILL) and reaps the process if that has not happened yet.
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  // Becomes readable when the process exits; -1 if pidfds are unavailable
  // (then poll with a short timeout and call TryReap).
  int exit_fd() const { return exit_fd_.get(); }
  UniqueFd& stdin_fd() { return stdin_fd_; }
  UniqueFd& stdout_fd() { return stdout_fd_; }
  UniqueFd& stderr_fd() { return stderr_fd_; }

  // Reaps the process if it has exited; true once reaped.
  bool TryReap();
  bool reaped() const { return reaped_; }
  // Valid once reaped.
  int wait_status() const { return wait_status_; }

  // SIGKILL (unless already reaped).
  void Kill();
  // SIGKILL to the process's whole group (its descendants too, unless they
  // left it), unless already reaped.
  void KillGroup();
  // Blocks until the process has exited and reaps it.
  void WaitBlocking();

 private:
  ChildProcess() = default;

  pid_t pid_ = -1;
  bool reaped_ = false;
  int wait_status_ = 0;
  UniqueFd exit_fd_;
  UniqueFd stdin_fd_;
  UniqueFd stdout_fd_;
  UniqueFd stderr_fd_;
};

struct CommandResult {
  int exit_code = -1;      // ShellExitCode of the process
  std::string output;      // stdout and stderr interleaved, at most 64 KiB
  bool timed_out = false;  // killed after `timeout`
};

// Runs a short command (argv[0] absolute) with stdin from /dev/null to
// completion, capturing its output; kills it after `timeout`.
absl::StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                         absl::Duration timeout);

// `name` if it contains a '/', else the first executable `name` in $PATH
// (or a default PATH). NotFound if there is none.
absl::StatusOr<std::string> ResolveExecutable(const std::string& name);

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_BASE_CHILD_PROCESS_H_
