#include "server/local/warm_sandboxes.h"

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/exec/json_log.h"
#include "server/local/fs_util.h"

namespace codeexec {
namespace {

// How long a warm sandbox may take to boot before its start counts as
// failed (a cold boot takes ~0.2 s here; a loaded host much longer).
constexpr absl::Duration kBootTimeout = absl::Seconds(30);
// How often a boot wait looks whether runsc has exited instead.
constexpr absl::Duration kBootPollInterval = absl::Milliseconds(50);

// What runsc wrote to its stderr so far (non-blocking), for error messages.
std::string ReadAvailable(UniqueFd& fd) {
  std::string text;
  char buffer[4096];
  ssize_t n;
  while (fd.valid() && text.size() < 16 * 1024 &&
         (n = read(fd.get(), buffer, sizeof(buffer))) > 0) {
    text.append(buffer, static_cast<size_t>(n));
  }
  return text;
}

// Waits up to `timeout` for `child` to exit; true if it was reaped.
bool WaitForExit(ChildProcess& child, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!child.TryReap()) {
    if (absl::Now() >= deadline) return false;
    struct pollfd exited = {
        .fd = child.exit_fd(), .events = POLLIN, .revents = 0};
    poll(&exited, child.exit_fd() < 0 ? 0 : 1,
         std::min(PollTimeoutMillis(deadline), 20));
  }
  return true;
}

}  // namespace

absl::Status DeliverRequest(ChildProcess& child, absl::string_view request,
                            absl::Time deadline, bool close_stdin) {
  // A launcher that is gone makes the write fail with EPIPE; SIGPIPE stays
  // blocked (and a pending one is consumed) so it never ends the server.
  sigset_t pipe_signal, old_mask;
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_signal, &old_mask);
  absl::Status status = absl::OkStatus();
  const int fd = child.stdin_fd().get();
  while (!request.empty()) {
    const ssize_t n = write(fd, request.data(), request.size());
    if (n > 0) {
      request.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      if (absl::Now() >= deadline) {
        status = absl::DeadlineExceededError(
            "the warm sandbox did not read its request before the timeout");
        break;
      }
      struct pollfd writable = {.fd = fd, .events = POLLOUT, .revents = 0};
      poll(&writable, 1, std::min(PollTimeoutMillis(deadline), 100));
      continue;
    }
    status = absl::FailedPreconditionError(
        absl::StrCat("the warm sandbox was gone before its request: ",
                     ErrnoError(n < 0 ? errno : EPIPE, "").message()));
    break;
  }
  const struct timespec no_wait = {0, 0};
  while (sigtimedwait(&pipe_signal, nullptr, &no_wait) == SIGPIPE) {
  }
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  if (close_stdin) child.stdin_fd().reset();
  return status;
}

WarmSandboxes::WarmSandboxes(const SandboxSetup& setup, const RunscCli& runsc,
                             ContainerStartWatcher& start_watcher,
                             SandboxShape shape, std::string prestart,
                             absl::Duration kill_grace)
    : setup_(setup),
      runsc_(runsc),
      start_watcher_(start_watcher),
      shape_(std::move(shape)),
      prestart_(std::move(prestart)),
      kill_grace_(kill_grace) {}

absl::Status BootStreamSandbox(const SandboxSetup& setup, const RunscCli& runsc,
                               ContainerStartWatcher& start_watcher,
                               const SandboxShape& shape, bool session,
                               absl::Duration kill_grace,
                               SandboxResources& resources,
                               std::optional<ChildProcess>& child) {
  absl::Status prepared =
      setup.Prepare(shape, std::nullopt, resources, session);
  if (!prepared.ok()) {
    setup.TearDown(resources);
    return prepared;
  }
  WatchedContainer boot(start_watcher, resources.id);
  absl::StatusOr<ChildProcess> spawned =
      ChildProcess::Spawn(runsc.RunArgv(resources.bundle_dir, resources.id),
                          ChildProcess::Stdio::kPipes);
  if (!spawned.ok()) {
    setup.TearDown(resources);
    return absl::UnavailableError(
        absl::StrCat("cannot start runsc: ", spawned.status().message()));
  }
  child.emplace(*std::move(spawned));
  const absl::Time give_up = absl::Now() + kBootTimeout;
  while (!boot.WaitRunning(std::min(give_up, absl::Now() + kBootPollInterval))
              .has_value()) {
    if (child->TryReap() || absl::Now() >= give_up) {
      const std::string said = ReadAvailable(child->stderr_fd());
      const std::string why =
          child->reaped() ? absl::StrCat("runsc exited with ",
                                         ShellExitCode(child->wait_status()))
                          : absl::StrCat("not running after ",
                                         absl::FormatDuration(kBootTimeout));
      EndStreamSandbox(setup, runsc, kill_grace, resources, *child);
      child.reset();
      return absl::UnavailableError(absl::StrCat(
          "the sandbox did not start: ", why, said.empty() ? "" : ": ", said));
    }
  }
  return absl::OkStatus();
}

void EndStreamSandbox(const SandboxSetup& setup, const RunscCli& runsc,
                      absl::Duration kill_grace,
                      const SandboxResources& resources, ChildProcess& child) {
  child.stdin_fd().reset();
  if (!WaitForExit(child, kill_grace)) {
    absl::Status killed = runsc.Kill(resources.id);
    if (!killed.ok() || !WaitForExit(child, kill_grace)) {
      child.Kill();
      child.WaitBlocking();
    }
  }
  setup.TearDown(resources);
}

absl::StatusOr<std::unique_ptr<WarmSandbox>> WarmSandboxes::Start() {
  auto sandbox = std::make_unique<LocalWarmSandbox>();
  sandbox->resources.id = absl::StrCat("warm-", next_number_.fetch_add(1));
  absl::Status booted = BootStreamSandbox(
      setup_, runsc_, start_watcher_, shape_,
      /*session=*/false, kill_grace_, sandbox->resources, sandbox->child);
  if (!booted.ok()) {
    return absl::UnavailableError(
        absl::StrCat("warm sandbox: ", booted.message()));
  }
  if (!prestart_.empty()) {
    absl::Status sent =
        DeliverRequest(*sandbox->child, prestart_, absl::Now() + kBootTimeout,
                       /*close_stdin=*/false);
    if (!sent.ok()) {
      Discard(*sandbox);
      return absl::UnavailableError(
          absl::StrCat("warm sandbox took no prestart: ", sent.message()));
    }
  }
  return sandbox;
}

void WarmSandboxes::Discard(LocalWarmSandbox& sandbox) const {
  EndStreamSandbox(setup_, runsc_, kill_grace_, sandbox.resources,
                   *sandbox.child);
}

void WarmSandboxes::Retire(std::unique_ptr<WarmSandbox> sandbox) const {
  Discard(static_cast<LocalWarmSandbox&>(*sandbox));
}

}  // namespace codeexec
