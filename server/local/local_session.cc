#include "server/local/local_session.h"

#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/launcher/launcher_output.h"
#include "server/launcher/request_format.h"
#include "server/local/io_pump.h"
#include "server/local/run_outcome.h"
#include "server/local/warm_sandboxes.h"

namespace codeexec {
namespace {

ExecutionResult Failed(std::string message, bool session_ended) {
  ExecutionResult result = SandboxErrorResult(std::move(message));
  result.session_ended = session_ended;
  return result;
}

}  // namespace

absl::StatusOr<std::unique_ptr<LocalSession>> LocalSession::Start(
    const Parts& parts, const SandboxShape& shape,
    std::optional<Starter> kernel, std::string id) {
  std::unique_ptr<LocalSession> session(
      new LocalSession(parts, std::move(kernel)));
  session->resources_.id = std::move(id);
  absl::Status booted = BootStreamSandbox(
      *parts.setup, *parts.runsc, *parts.start_watcher, shape,
      /*session=*/true, parts.kill_grace, session->resources_, session->child_);
  if (!booted.ok()) {
    session->ended_ = true;  // nothing left to end
    return booted;
  }
  return session;
}

LocalSession::LocalSession(const Parts& parts, std::optional<Starter> kernel)
    : parts_(parts), kernel_(std::move(kernel)) {}

LocalSession::~LocalSession() {
  if (!child_.has_value()) return;
  // Closing the stream ends the launcher between cells; one that does not
  // exit is killed. Then everything of the sandbox goes.
  EndStreamSandbox(*parts_.setup, *parts_.runsc, parts_.kill_grace, resources_,
                   *child_);
}

bool LocalSession::Interrupt() {
  const char interrupt = CE_REQ_INTERRUPT;
  return DeliverRequest(*child_, absl::string_view(&interrupt, 1),
                        absl::Now() + kInterruptGrace,
                        /*close_stdin=*/false)
      .ok();
}

absl::StatusOr<ExecutionResult> LocalSession::RunCell(
    const ExecutionSpec& spec, OutputSink& sink, const Cancellation& cancel) {
  if (ended_ || child_->TryReap()) {
    ended_ = true;
    return Failed("the session's sandbox has ended", true);
  }
  absl::StatusOr<std::string> request = BuildCellRequest(
      spec, kernel_, RunAs{parts_.run_as.uid, parts_.run_as.gid});
  if (!request.ok()) {
    return Failed(absl::StrCat("cannot write the code and input files: ",
                               request.status().message()),
                  false);
  }
  const absl::Time start = absl::Now();
  absl::Status delivered =
      DeliverRequest(*child_, *request, start + spec.timeout,
                     /*close_stdin=*/false);
  if (!delivered.ok()) {
    ended_ = true;
    return Failed(
        absl::StrCat("the session's sandbox is gone: ", delivered.message()),
        true);
  }
  const absl::Time delivered_time = absl::Now();

  // Cancellation wakes the pump through an eventfd (as SandboxDriver's).
  UniqueFd wakeup(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  const int wakeup_fd = wakeup.get();
  const Cancellation::CallbackId callback = cancel.AddCallback([wakeup_fd] {
    const uint64_t one = 1;
    if (wakeup_fd >= 0) {
      ssize_t ignored = write(wakeup_fd, &one, sizeof(one));
      (void)ignored;
    }
  });
  absl::Cleanup remove_callback = [&] { cancel.RemoveCallback(callback); };

  LauncherOutput output(spec, sink);
  IoPump pump(*child_, output, sink, IoPump::Mode::kSessionCell);
  StopReason stop_reason = StopReason::kNone;
  switch (pump.Run(start + spec.timeout, wakeup_fd)) {
    case IoPump::Stop::kExitRecord:
    case IoPump::Stop::kExited:
      break;
    case IoPump::Stop::kDeadline:
      stop_reason = StopReason::kTimeout;
      break;
    case IoPump::Stop::kWakeup:
      stop_reason = StopReason::kCancelled;
      break;
    case IoPump::Stop::kOutputLimit:
      stop_reason = StopReason::kOutputLimit;
      break;
  }
  bool killed = false;
  if (stop_reason != StopReason::kNone && !output.exit_code().has_value() &&
      !child_->reaped()) {
    // The cell, not the session, is stopped: an interrupt, then the grace.
    const bool sent = Interrupt();
    if (!sent || pump.Run(absl::Now() + kInterruptGrace, -1) !=
                     IoPump::Stop::kExitRecord) {
      parts_.driver->StopSandbox(resources_.id, *child_, pump);
      killed = true;
    }
  }
  const absl::Time end_time = absl::Now();

  ExecutionResult result = ResultOfRun(
      spec, stop_reason, child_->reaped() ? child_->wait_status() : 0, output,
      pump, *resources_.cgroup, cancel);
  result.timings.create = delivered_time - start;
  result.timings.run = end_time - delivered_time;
  if (killed) {
    MarkEnded(result, EndCause::kKilled);
  } else if (output.session_ended()) {
    MarkEnded(result, EndCause::kInterpreterExit);
  } else if (child_->reaped() || child_->TryReap()) {
    MarkEnded(result, EndCause::kSandboxEnded);
  }
  ended_ = result.session_ended;
  return result;
}

}  // namespace codeexec
