#include "server/local/io_pump.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string_view>
#include <vector>

#include "absl/time/clock.h"

namespace codeexec {
namespace {

// After runsc exits, how long to wait for the pipes to reach EOF (only
// matters if something else still holds them open).
constexpr absl::Duration kDrainAfterExit = absl::Seconds(1);
// While the sink has no room, how often the loop still looks at the exit,
// the deadline and the wake-up descriptor.
constexpr absl::Duration kRoomPollInterval = absl::Milliseconds(100);
constexpr size_t kReadChunk = 64 * 1024;

}  // namespace

IoPump::IoPump(ChildProcess& child, LauncherOutput& output, OutputSink& sink,
               Mode mode)
    : child_(child), mode_(mode), output_(output), sink_(sink) {
  // A run's launcher has its request (bundle or stdin) already.
  if (mode_ == Mode::kRun) child_.stdin_fd().reset();
}

void IoPump::ReadFrames() {
  UniqueFd& fd = child_.stdout_fd();
  char buffer[kReadChunk];
  ssize_t got = read(fd.get(), buffer, sizeof(buffer));
  if (got < 0 && (errno == EAGAIN || errno == EINTR)) return;
  std::vector<LauncherEvent> events;
  if (got > 0) {
    if (!first_output_time_) first_output_time_ = absl::Now();
    events = parser_.Feed(absl::string_view(buffer, static_cast<size_t>(got)));
  } else {
    fd.reset();  // EOF or error
    events = parser_.Finish();
  }
  for (LauncherEvent& event : events) {
    // Past the cap everything is dropped; kOutputLimit stops the run.
    if (!output_.output_limit_reached()) output_.Consume(event);
  }
}

void IoPump::ReadStderr() {
  UniqueFd& fd = child_.stderr_fd();
  char buffer[4096];
  ssize_t got = read(fd.get(), buffer, sizeof(buffer));
  if (got < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (got <= 0) {
    fd.reset();
    return;
  }
  const size_t room =
      kMaxStderrBytes - std::min(kMaxStderrBytes, stderr_.size());
  stderr_.append(buffer, std::min(room, static_cast<size_t>(got)));
}

IoPump::Stop IoPump::Run(absl::Time deadline, int wakeup_fd) {
  while (true) {
    if (output_.output_limit_reached() && !output_limit_reported_) {
      output_limit_reported_ = true;
      return Stop::kOutputLimit;
    }
    if (mode_ == Mode::kSessionCell && output_.exit_code().has_value()) {
      return Stop::kExitRecord;
    }
    const bool reading =
        child_.stdout_fd().valid() || child_.stderr_fd().valid();
    if (child_.reaped() && (!reading || absl::Now() >= drain_deadline_)) {
      child_.stdout_fd().reset();
      child_.stderr_fd().reset();
      for (LauncherEvent& event : parser_.Finish()) output_.Consume(event);
      return Stop::kExited;
    }
    if (!child_.reaped() && absl::Now() >= deadline) return Stop::kDeadline;

    // Backpressure: frames stay in the pipe while the client is behind, so
    // the launcher and then the program block on their next write. Once
    // runsc has exited, what is left is at most one pipe buffer: drained
    // regardless, so a client that stops reading never holds the worker.
    const bool room =
        output_.output_limit_reached() || child_.reaped() ||
        sink_.WaitForRoom(std::min(deadline, absl::Now() + kRoomPollInterval));
    enum Slot { kOut, kErr, kExit, kWake, kSlots };
    pollfd fds[kSlots];
    fds[kOut] = {room ? child_.stdout_fd().get() : -1, POLLIN, 0};
    fds[kErr] = {child_.stderr_fd().get(), POLLIN, 0};
    fds[kExit] = {child_.reaped() ? -1 : child_.exit_fd(), POLLIN, 0};
    fds[kWake] = {wakeup_fd, POLLIN, 0};
    // poll() ignores negative descriptors, so absent ones just sit there.
    int timeout_ms = PollTimeoutMillis(
        child_.reaped() ? drain_deadline_
                        : std::min(deadline, drain_deadline_));
    if (!room || (!child_.reaped() && child_.exit_fd() < 0)) {
      timeout_ms = timeout_ms < 0 ? 10 : std::min(timeout_ms, 10);
    }
    int ready = poll(fds, kSlots, timeout_ms);
    if (ready < 0 && errno != EINTR) {
      // Should not happen; avoid spinning.
      absl::SleepFor(absl::Milliseconds(10));
    }
    if (ready > 0) {
      if (fds[kOut].fd >= 0 && fds[kOut].revents != 0) ReadFrames();
      if (fds[kErr].fd >= 0 && fds[kErr].revents != 0) ReadStderr();
      if (fds[kWake].fd >= 0 && fds[kWake].revents != 0) return Stop::kWakeup;
    }
    if (!child_.reaped() && child_.TryReap()) {
      drain_deadline_ = absl::Now() + kDrainAfterExit;
    }
  }
}

}  // namespace codeexec
