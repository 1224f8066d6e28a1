#include "server/local/io_pump.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>

#include "absl/strings/match.h"
#include "absl/time/clock.h"

namespace codeexec {
namespace {

// How runsc's own failures begin (measured with 0.0~20221219): a missing
// executable gives "running container: starting container: ...", a bad
// bundle "reading spec: ...".
constexpr absl::string_view kRunscErrorPrefixes[] = {
    "running container:", "creating container:", "starting container:",
    "reading spec:",      "loading container",   "creating sandbox:",
};
// Held stderr beyond this is delivered regardless: runsc errors are short.
constexpr size_t kMaxHeldStderr = 16 * 1024;
// After runsc exits, how long to wait for the pipes to reach EOF (only
// matters if something else still holds them open).
constexpr absl::Duration kDrainAfterExit = absl::Seconds(1);
constexpr size_t kReadChunk = 64 * 1024;
// While the sink has no room, how often the loop still looks at exit,
// deadline and wake-up.
constexpr absl::Duration kRoomRecheck = absl::Milliseconds(100);

// Whether `text` could still grow into a runsc error (it is a prefix of one
// of the known beginnings, or starts with one).
bool MayBeRunscError(absl::string_view text) {
  for (absl::string_view prefix : kRunscErrorPrefixes) {
    if (absl::StartsWith(text, prefix) || absl::StartsWith(prefix, text)) {
      return true;
    }
  }
  return false;
}

}  // namespace

bool LooksLikeRunscError(absl::string_view text) {
  for (absl::string_view prefix : kRunscErrorPrefixes) {
    if (absl::StartsWith(text, prefix)) return true;
  }
  return false;
}

IoPump::IoPump(ChildProcess& child, std::string_view stdin_data,
               int64_t output_limit, OutputSink& sink)
    : child_(child),
      stdin_pending_(stdin_data),
      output_limit_(output_limit),
      sink_(sink) {
  if (stdin_pending_.empty()) CloseStdin();
}

void IoPump::CloseStdin() {
  child_.stdin_fd().reset();
  stdin_pending_ = {};
}

void IoPump::Deliver(OutputStream stream, std::string_view data) {
  if (output_limit_reached_ || data.empty()) return;
  const int64_t room = std::max<int64_t>(0, output_limit_ - delivered_bytes_);
  if (static_cast<int64_t>(data.size()) > room) {
    data = data.substr(0, static_cast<size_t>(room));
    output_limit_reached_ = true;
  }
  if (data.empty()) return;
  delivered_bytes_ += static_cast<int64_t>(data.size());
  sink_.OnOutput(stream, data);
}

void IoPump::ReleaseHeldStderr() {
  stderr_gate_open_ = true;
  std::string held = std::move(held_stderr_);
  held_stderr_.clear();
  Deliver(OutputStream::kStderr, held);
}

void IoPump::OnStdout(std::string_view data) {
  // Output on stdout means the program runs: what stderr held is its own.
  if (!stderr_gate_open_) ReleaseHeldStderr();
  Deliver(OutputStream::kStdout, data);
}

void IoPump::OnStderr(std::string_view data) {
  if (stderr_gate_open_) {
    Deliver(OutputStream::kStderr, data);
    return;
  }
  held_stderr_.append(data);
  if (!MayBeRunscError(held_stderr_) || held_stderr_.size() > kMaxHeldStderr) {
    ReleaseHeldStderr();
  }
}

void IoPump::ReadFrom(UniqueFd& fd, OutputStream stream) {
  char buffer[kReadChunk];
  // A few reads per wake-up keep the loop cheap for bulk output without
  // starving the other descriptors.
  for (int i = 0; i < 4 && fd.valid(); ++i) {
    ssize_t got = read(fd.get(), buffer, sizeof(buffer));
    if (got > 0) {
      if (!first_output_time_) first_output_time_ = absl::Now();
      std::string_view data(buffer, static_cast<size_t>(got));
      if (stream == OutputStream::kStdout) {
        OnStdout(data);
      } else {
        OnStderr(data);
      }
      if (static_cast<size_t>(got) < sizeof(buffer)) return;
    } else if (got == 0) {
      fd.reset();
    } else if (errno == EAGAIN || errno == EINTR) {
      return;
    } else {
      fd.reset();
    }
  }
}

void IoPump::WriteStdin() {
  if (!child_.stdin_fd().valid()) return;
  // A program that closes its stdin early must not take the server down
  // with SIGPIPE: block it around the write and swallow a pending one.
  sigset_t sigpipe_only, previous;
  sigemptyset(&sigpipe_only);
  sigaddset(&sigpipe_only, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &sigpipe_only, &previous);
  ssize_t written = write(child_.stdin_fd().get(), stdin_pending_.data(),
                          std::min(stdin_pending_.size(), kReadChunk));
  const int write_errno = errno;
  if (written < 0 && write_errno == EPIPE) {
    timespec no_wait = {0, 0};
    sigtimedwait(&sigpipe_only, nullptr, &no_wait);
  }
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  if (written > 0) {
    stdin_pending_.remove_prefix(static_cast<size_t>(written));
    if (stdin_pending_.empty()) CloseStdin();
  } else if (written < 0 && write_errno != EAGAIN && write_errno != EINTR) {
    CloseStdin();  // EPIPE: the program does not read any more.
  }
}

IoPump::Stop IoPump::Run(absl::Time deadline, int wakeup_fd) {
  while (true) {
    if (output_limit_reached_ && !output_limit_reported_) {
      output_limit_reported_ = true;
      return Stop::kOutputLimit;
    }
    const bool reading =
        child_.stdout_fd().valid() || child_.stderr_fd().valid();
    if (child_.reaped() && (!reading || absl::Now() >= drain_deadline_)) {
      child_.stdout_fd().reset();
      child_.stderr_fd().reset();
      return Stop::kExited;
    }
    if (!child_.reaped() && absl::Now() >= deadline) return Stop::kDeadline;

    // Backpressure: while the sink (the client) has no room, stdout/stderr
    // are left unread, so the program blocks on its next write. Once the
    // program has exited, what is left in the pipes is drained regardless
    // (at most a pipe buffer), so a finished run does not wait for its
    // client; output past the limit is dropped anyway.
    bool paused = false;
    absl::Time paused_until = absl::InfinitePast();
    if (!child_.reaped() && !output_limit_reached_) {
      paused_until = std::min(deadline, absl::Now() + kRoomRecheck);
      paused = !sink_.WaitForRoom(paused_until);
    }

    enum Slot { kOut, kErr, kIn, kExit, kWake, kSlots };
    pollfd fds[kSlots];
    fds[kOut] = {paused ? -1 : child_.stdout_fd().get(), POLLIN, 0};
    fds[kErr] = {paused ? -1 : child_.stderr_fd().get(), POLLIN, 0};
    fds[kIn] = {child_.stdin_fd().get(), POLLOUT, 0};
    fds[kExit] = {child_.reaped() ? -1 : child_.exit_fd(), POLLIN, 0};
    fds[kWake] = {wakeup_fd, POLLIN, 0};
    // poll() ignores negative descriptors, so absent ones just sit there.
    int timeout_ms = PollTimeoutMillis(
        child_.reaped() ? drain_deadline_
                        : std::min(deadline, drain_deadline_));
    if (!child_.reaped() && child_.exit_fd() < 0) {
      timeout_ms = timeout_ms < 0 ? 10 : std::min(timeout_ms, 10);
    }
    if (paused) {
      // Look again for room when the recheck interval is over (at once if
      // WaitForRoom already waited it out).
      const int room_ms = PollTimeoutMillis(paused_until);
      timeout_ms = timeout_ms < 0 ? room_ms : std::min(timeout_ms, room_ms);
    }
    int ready = poll(fds, kSlots, timeout_ms);
    if (ready < 0 && errno != EINTR) {
      // Should not happen; avoid spinning.
      absl::SleepFor(absl::Milliseconds(10));
    }
    if (ready > 0) {
      if (fds[kOut].fd >= 0 && fds[kOut].revents != 0) {
        ReadFrom(child_.stdout_fd(), OutputStream::kStdout);
      }
      if (fds[kErr].fd >= 0 && fds[kErr].revents != 0) {
        ReadFrom(child_.stderr_fd(), OutputStream::kStderr);
      }
      if (fds[kIn].fd >= 0 && fds[kIn].revents != 0) WriteStdin();
      if (fds[kWake].fd >= 0 && fds[kWake].revents != 0) return Stop::kWakeup;
    }
    if (!child_.reaped() && child_.TryReap()) {
      CloseStdin();
      drain_deadline_ = absl::Now() + kDrainAfterExit;
    }
  }
}

}  // namespace codeexec
