#include "server/local/sandbox_driver.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <string>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/exec/json_log.h"
#include "server/launcher/launcher_output.h"
#include "server/local/fs_util.h"
#include "server/local/run_outcome.h"

namespace codeexec {
namespace {

// After SIGKILLing a wedged `runsc run`, how long to keep draining before a
// blocking wait.
constexpr absl::Duration kAfterSigkillWait = absl::Seconds(2);
// At the timeout, how long the program has after SIGTERM before the sandbox
// is killed.
constexpr absl::Duration kTimeoutTermGrace = absl::Seconds(1);
// How often `runsc kill` is retried while the container is being created.
constexpr absl::Duration kKillRetryInterval = absl::Milliseconds(50);

}  // namespace

SandboxDriver::SandboxDriver(const RunscCli& runsc, absl::Duration kill_grace)
    : runsc_(runsc), kill_grace_(kill_grace) {}

ExecutionResult SandboxDriver::Drive(
    const StartedSandbox& sandbox, const ExecutionSpec& spec, OutputSink& sink,
    const Cancellation& cancel, std::optional<absl::Time>* first_output) const {
  ChildProcess& child = *sandbox.child;
  // Cancellation wakes the poll loop through an eventfd. The callback is
  // removed before the eventfd is closed (reverse declaration order).
  UniqueFd wakeup(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wakeup.valid()) {
    const int error = errno;
    child.Kill();
    child.WaitBlocking();
    return SandboxErrorResult(absl::StrCat("cannot create an eventfd: ",
                                           ErrnoError(error, "").message()));
  }
  const int wakeup_fd = wakeup.get();
  const Cancellation::CallbackId callback = cancel.AddCallback([wakeup_fd] {
    const uint64_t one = 1;
    ssize_t ignored = write(wakeup_fd, &one, sizeof(one));
    (void)ignored;
  });
  absl::Cleanup remove_callback = [&] { cancel.RemoveCallback(callback); };

  LauncherOutput output(spec, sink);
  IoPump pump(child, output, sink);
  StopReason stop_reason = StopReason::kNone;
  switch (pump.Run(sandbox.clock_start + spec.timeout, wakeup_fd)) {
    case IoPump::Stop::kExited:
    case IoPump::Stop::kExitRecord:  // not in Mode::kRun
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
  if (stop_reason == StopReason::kTimeout && !child.reaped() &&
      runsc_.Kill(sandbox.id, "TERM").ok()) {
    // The launcher forwards SIGTERM to the program, then still returns the
    // files it wrote before the timeout; a program that ignores it is
    // killed with the sandbox after the grace.
    pump.Run(absl::Now() + kTimeoutTermGrace, -1);
  }
  if (stop_reason != StopReason::kNone && !child.reaped()) {
    StopSandbox(sandbox.id, child, pump);
  }
  const absl::Time end_time = absl::Now();
  std::optional<absl::Time> running_time;
  if (sandbox.boot_watch != nullptr) running_time = sandbox.boot_watch->Stop();
  const absl::Time start_end =
      sandbox.booted ? sandbox.clock_start
                     : BootEndTime(running_time, pump.first_output_time(),
                                   sandbox.clock_start, end_time);

  ExecutionResult result = ResultOfRun(spec, stop_reason, child.wait_status(),
                                       output, pump, *sandbox.cgroup, cancel);
  result.timings.start = start_end - sandbox.clock_start;
  result.timings.run = end_time - start_end;
  if (first_output != nullptr) *first_output = pump.first_output_time();
  return result;
}

ExecutionResult ResultOfRun(const ExecutionSpec& spec, StopReason stop_reason,
                            int wait_status, LauncherOutput& output,
                            const IoPump& pump, const SandboxCgroup& cgroup,
                            const Cancellation& cancel) {
  RunFacts facts;
  facts.stop_reason = stop_reason;
  facts.wait_status = wait_status;
  facts.exit_record = output.exit_code();
  facts.sandbox_messages = pump.runsc_stderr();
  if (!output.diagnostics().empty()) {
    absl::StrAppend(&facts.sandbox_messages,
                    facts.sandbox_messages.empty() ? "" : "\n",
                    output.diagnostics());
  }
  facts.output_truncated = output.output_limit_reached();
  facts.memory = cgroup.ReadMemoryEvents();
  facts.memory_limit_bytes = spec.resources.memory_limit_bytes;
  facts.timeout = spec.timeout;
  facts.max_output_bytes = spec.max_output_bytes;
  if (stop_reason == StopReason::kCancelled) {
    facts.cancel_reason = cancel.Reason();
  }
  RunVerdict verdict = ClassifyRun(facts);

  ExecutionResult result;
  result.outcome = verdict.outcome;
  result.exit_code = verdict.exit_code;
  result.message = std::move(verdict.message);
  result.truncated = verdict.truncated;
  output.TakeFiles(result);
  return result;
}

void SandboxDriver::StopSandbox(const std::string& id, ChildProcess& child,
                                IoPump& pump) const {
  // `runsc kill` fails while the container is still being created (its
  // state does not exist yet), so retry it until runsc exits or kill_grace
  // is over.
  const absl::Time grace_end = absl::Now() + kill_grace_;
  absl::Status killed = runsc_.Kill(id);
  while (true) {
    const absl::Time wake =
        killed.ok() ? grace_end
                    : std::min(grace_end, absl::Now() + kKillRetryInterval);
    if (pump.Run(wake, -1) == IoPump::Stop::kExited) return;
    if (absl::Now() >= grace_end) break;
    if (!killed.ok()) killed = runsc_.Kill(id);
  }
  if (!killed.ok()) LogWarning(kGvisorLocalBackendName, killed.message());
  // runsc did not react: kill it; the sandbox dies with it (runsc starts it
  // attached), and the caller's clean-up deletes what is left of the
  // container.
  child.Kill();
  pump.Run(absl::Now() + kAfterSigkillWait, -1);
  child.WaitBlocking();
}

}  // namespace codeexec
