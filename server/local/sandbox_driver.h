// From a started `runsc run` to its run's result, for both ways a local
// sandbox starts (cold, per run; warm, from the pool): pumps the launcher's
// frames into the sink, stops the sandbox at the timeout, on cancellation
// or at the output cap, and classifies the run from what only the sandbox
// could say (run_outcome.h).
#ifndef CODEEXEC_SERVER_LOCAL_SANDBOX_DRIVER_H_
#define CODEEXEC_SERVER_LOCAL_SANDBOX_DRIVER_H_

#include <optional>
#include <string>

#include "absl/time/time.h"
#include "server/base/child_process.h"
#include "server/exec/backend.h"
#include "server/exec/run_verdict.h"
#include "server/launcher/launcher_output.h"
#include "server/local/container_start_watcher.h"
#include "server/local/io_pump.h"
#include "server/local/runsc_cli.h"
#include "server/local/sandbox_cgroup.h"

namespace codeexec {

// One started sandbox as the driver sees it.
struct StartedSandbox {
  // The container (and sandbox) id runsc knows it by.
  std::string id;
  // `runsc run`, spawned with Stdio::kPipes; its launcher has the request
  // (in its bundle, or already written to its stdin).
  ChildProcess* child = nullptr;
  const SandboxCgroup* cgroup = nullptr;
  // Where the run's clock starts: the spawn (cold) or the claim (warm). The
  // timeout counts from here.
  absl::Time clock_start;
  // Cold: notices the end of the boot (null without inotify). Warm: null.
  WatchedContainer* boot_watch = nullptr;
  // Warm: the sandbox was running before clock_start (timings.start is 0).
  bool booted = false;
};

// A run's result from what its sandbox left: why it was stopped, runsc's
// wait status, the launcher's exit record, diagnostics and files, the
// cgroup's memory events (ClassifyRun). Timings are the caller's.
ExecutionResult ResultOfRun(const ExecutionSpec& spec, StopReason stop_reason,
                            int wait_status, LauncherOutput& output,
                            const IoPump& pump, const SandboxCgroup& cgroup,
                            const Cancellation& cancel);

class SandboxDriver {
 public:
  // `runsc` kills sandboxes; `kill_grace` as LocalBackendOptions::kill_grace.
  SandboxDriver(const RunscCli& runsc, absl::Duration kill_grace);

  // Runs `sandbox` to its end and returns the result of `spec`'s run, with
  // timings.start (the boot, from clock_start) and timings.run; the caller
  // adds create and cleanup. Never leaves `runsc run` running.
  // `first_output` (if given) gets when the sandbox first wrote a byte.
  ExecutionResult Drive(
      const StartedSandbox& sandbox, const ExecutionSpec& spec,
      OutputSink& sink, const Cancellation& cancel,
      std::optional<absl::Time>* first_output = nullptr) const;

  // Kills the running sandbox (runsc kill, then SIGKILL of runsc after
  // kill_grace) and waits for `runsc run` to exit, draining its output.
  void StopSandbox(const std::string& id, ChildProcess& child,
                   IoPump& pump) const;

 private:
  const RunscCli& runsc_;
  const absl::Duration kill_grace_;
};

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_LOCAL_SANDBOX_DRIVER_H_
