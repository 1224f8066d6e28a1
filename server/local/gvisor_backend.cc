#include "server/local/gvisor_backend.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/base/child_process.h"
#include "server/exec/json_log.h"
#include "server/exec/quantity.h"
#include "server/launcher/launcher_bundle.h"
#include "server/launcher/launcher_output.h"
#include "server/launcher/launcher_source.h"
#include "server/local/container_start_watcher.h"
#include "server/local/fs_util.h"
#include "server/local/io_pump.h"
#include "server/local/oci_bundle.h"
#include "server/local/run_outcome.h"
#include "server/local/state_dir.h"

namespace codeexec {
namespace {

constexpr char kCgroupRoot[] = "/sys/fs/cgroup";
// After SIGKILLing a wedged `runsc run`, how long to keep draining before a
// blocking wait.
constexpr absl::Duration kAfterSigkillWait = absl::Seconds(2);
// At the timeout, how long the program has after SIGTERM before the sandbox
// is killed.
constexpr absl::Duration kTimeoutTermGrace = absl::Seconds(1);
// How often `runsc kill` is retried while the container is being created.
constexpr absl::Duration kKillRetryInterval = absl::Milliseconds(50);

ExecutionResult SandboxError(std::string message) {
  ExecutionResult result;
  result.outcome = Outcome::kSandboxError;
  result.message = std::move(message);
  return result;
}

}  // namespace

struct GvisorBackend::RunResources {
  std::string id;
  std::string bundle_dir;
  std::optional<SandboxCgroup> cgroup;
};

absl::Status CheckSandboxRootfs(absl::string_view key,
                                const std::string& path) {
  struct stat info;
  if (stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode)) {
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(absl::StrCat(
      key, ": the sandbox rootfs ", path,
      " is not a directory; scripts/setup installs the built-in ones "
      "(scripts/install-sandbox-rootfs python|bash|javascript), or set ",
      key, " to a root filesystem made for sandboxes"));
}

absl::StatusOr<std::unique_ptr<GvisorBackend>> GvisorBackend::Create(
    LocalBackendOptions options) {
  absl::StatusOr<std::string> runsc_path =
      ResolveExecutable(options.runsc_path);
  if (!runsc_path.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "runsc not found at ", options.runsc_path, " (",
        runsc_path.status().message(),
        "); install it with `apt-get install runsc` (scripts/setup does)"));
  }
  if (!IsValidCgroupParent(options.cgroup_parent)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the gvisor-local cgroup_parent \"", options.cgroup_parent,
        "\" must be a relative cgroup path such as \"code-executor\""));
  }
  options.cgroup_parent = ServerCgroupParent(options);
  if (options.run_as_uid == 0 || options.run_as_gid == 0) {
    return absl::InvalidArgumentError(
        "the gvisor-local runAsUid and runAsGid must not be 0: the program "
        "must not share the launcher's root");
  }
  if (options.workspace_bytes <= 0 || options.tmp_bytes <= 0 ||
      options.max_processes <= 0 || options.host_pids_limit <= 0) {
    return absl::InvalidArgumentError(
        "the gvisor-local workspace_bytes, tmp_bytes, max_processes and "
        "host_pids_limit must be positive");
  }
  StateDir state(options.state_dir);
  RunscCli runsc(*runsc_path, state.RunscRoot(), options.platform,
                 options.extra_runsc_flags);
  absl::StatusOr<std::string> version = runsc.Version();
  if (!version.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "runsc at ", *runsc_path, " does not run (", version.status().message(),
        "); reinstall it with `apt-get install runsc` (scripts/setup does)"));
  }
  if (geteuid() != 0) {
    return absl::FailedPreconditionError(
        "the gvisor-local backend needs root (runsc creates sandboxes and "
        "cgroups); run as root or use the kubernetes backend");
  }
  if (absl::Status status = CheckSandboxRootfs("local.rootfs", options.rootfs);
      !status.ok()) {
    return status;
  }
  absl::StatusOr<CgroupLayout> cgroups = CgroupLayout::Detect(kCgroupRoot);
  if (!cgroups.ok()) return cgroups.status();

  absl::Status prepared = state.Prepare();
  if (!prepared.ok()) return prepared;
  absl::StatusOr<std::unique_ptr<ContainerStartWatcher>> start_watcher =
      ContainerStartWatcher::Create(state.RunscRoot());
  if (!start_watcher.ok()) {
    LogWarning(
        kGvisorLocalBackendName,
        absl::StrCat("timings.start will include the programs' start-up: ",
                     start_watcher.status().message()));
  }
  std::unique_ptr<GvisorBackend> backend(new GvisorBackend(
      std::move(options), std::move(state), std::move(runsc),
      *std::move(cgroups), std::move(start_watcher).value_or(nullptr)));
  backend->RemoveLeftovers();
  return backend;
}

GvisorBackend::GvisorBackend(
    LocalBackendOptions options, StateDir state, RunscCli runsc,
    CgroupLayout cgroups, std::unique_ptr<ContainerStartWatcher> start_watcher)
    : options_(std::move(options)),
      state_(std::move(state)),
      runsc_(std::move(runsc)),
      cgroups_(std::move(cgroups)),
      start_watcher_(std::move(start_watcher)) {}

GvisorBackend::~GvisorBackend() {
  absl::Status released = state_.ReleaseRunscNullNetns();
  if (!released.ok()) LogWarning(kGvisorLocalBackendName, released.message());
}

void GvisorBackend::RemoveLeftovers() const {
  absl::StatusOr<std::vector<std::string>> ids = runsc_.List();
  if (!ids.ok()) LogWarning(kGvisorLocalBackendName, ids.status().message());
  for (const std::string& id : ids.value_or(std::vector<std::string>())) {
    absl::Status deleted = runsc_.DeleteForce(id);
    if (!deleted.ok()) LogWarning(kGvisorLocalBackendName, deleted.message());
  }
  for (const absl::Status& problem : state_.RemoveLeftoverFiles()) {
    LogWarning(kGvisorLocalBackendName, problem.message());
  }
  absl::Status cgroups_removed =
      RemoveLeftoverCgroups(cgroups_, options_.cgroup_parent);
  if (!cgroups_removed.ok())
    LogWarning(kGvisorLocalBackendName, cgroups_removed.message());
}

std::string ServerCgroupParent(const LocalBackendOptions& options) {
  // A level of this server's own, derived from its state dir (stable across
  // restarts): start-up cleanup then removes only what this server left,
  // never the live cgroups of another server (or test) on the same host.
  uint32_t state_dir_hash = 2166136261u;  // FNV-1a
  for (unsigned char c : options.state_dir) {
    state_dir_hash = (state_dir_hash ^ c) * 16777619u;
  }
  return absl::StrCat(options.cgroup_parent, "/server-",
                      absl::Hex(state_dir_hash, absl::kZeroPad8));
}

absl::StatusOr<ExecutionResult> GvisorBackend::Run(const ExecutionSpec& spec,
                                                   OutputSink& sink,
                                                   const Cancellation& cancel) {
  if (!IsValidSandboxId(spec.execution_id)) {
    return SandboxError(absl::StrCat("internal error: execution id \"",
                                     spec.execution_id,
                                     "\" cannot name a sandbox"));
  }
  RunResources resources;
  resources.id = spec.execution_id;
  resources.bundle_dir = state_.BundleDir(spec.execution_id);
  ExecutionResult result;
  absl::Duration cleanup_time;
  {
    // Runs on every path, exceptions included.
    absl::Cleanup clean_up = [&] {
      const absl::Time cleanup_start = absl::Now();
      CleanUp(resources);
      cleanup_time = absl::Now() - cleanup_start;
    };
    result = Execute(spec, sink, cancel, resources);
  }
  result.timings.cleanup = cleanup_time;
  return result;
}

// Writes the launcher's bundle (the launcher and its request: code, inputs,
// stdin) into `dir`, read-only for everyone: the sandbox sees it at
// /opt/code-executor.
static absl::Status WriteLauncherBundle(const std::string& dir,
                                        const ExecutionSpec& spec,
                                        RunAs run_as) {
  absl::StatusOr<std::string> request = BuildRequest(spec, run_as);
  if (!request.ok()) return request.status();
  if (mkdir(dir.c_str(), 0755) != 0) {
    return ErrnoError(errno, "creating the launcher bundle ", dir);
  }
  for (const BundleEntry& entry : BundleEntries(*request, LauncherSource())) {
    absl::Status written =
        WriteNewFile(absl::StrCat(dir, "/", entry.key), entry.content,
                     entry.executable ? 0555 : 0444);
    if (!written.ok()) return written;
  }
  return absl::OkStatus();
}

ExecutionResult GvisorBackend::Execute(const ExecutionSpec& spec,
                                       OutputSink& sink,
                                       const Cancellation& cancel,
                                       RunResources& resources) const {
  const absl::Time create_start = absl::Now();
  // Limits, then the bundle that points runsc below them: config.json and,
  // in launcher/, what the launcher reads.
  CgroupLimits limits;
  limits.memory_bytes = spec.resources.memory_limit_bytes;
  limits.cpu_millis = spec.resources.cpu_limit_millis;
  limits.pids = options_.host_pids_limit;
  absl::StatusOr<SandboxCgroup> cgroup = SandboxCgroup::Create(
      cgroups_, options_.cgroup_parent, spec.execution_id, limits);
  if (!cgroup.ok()) return SandboxError(std::string(cgroup.status().message()));
  resources.cgroup = *std::move(cgroup);

  OciBundleConfig bundle;
  bundle.args = LauncherCommand();
  bundle.env = LauncherEnv();
  bundle.max_processes = options_.max_processes;
  bundle.tmp_bytes = options_.tmp_bytes;
  bundle.workspace_bytes = options_.workspace_bytes;
  bundle.rootfs =
      spec.language.rootfs.empty() ? options_.rootfs : spec.language.rootfs;
  bundle.launcher_bundle_dir = resources.bundle_dir + "/launcher";
  bundle.cgroups_path = resources.cgroup->OciCgroupsPath();
  absl::Status status = WriteOciBundle(resources.bundle_dir, bundle);
  if (!status.ok()) {
    return SandboxError(
        absl::StrCat("cannot write the sandbox config: ", status.message()));
  }
  status = WriteLauncherBundle(bundle.launcher_bundle_dir, spec,
                               RunAs{options_.run_as_uid, options_.run_as_gid});
  if (!status.ok()) {
    return SandboxError(absl::StrCat("cannot write the code and input files: ",
                                     status.message()));
  }
  const absl::Time spawn_time = absl::Now();
  const absl::Duration create_time = spawn_time - create_start;
  if (cancel.IsCancelled()) {
    ExecutionResult result;
    result.outcome = Outcome::kCancelled;
    result.message = cancel.Reason();
    result.timings.create = create_time;
    return result;
  }

  // Cancellation wakes the poll loop through an eventfd. The callback is
  // removed before the eventfd is closed (reverse declaration order).
  UniqueFd wakeup(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wakeup.valid()) {
    return SandboxError(absl::StrCat("cannot create an eventfd: ",
                                     ErrnoError(errno, "").message()));
  }
  const int wakeup_fd = wakeup.get();
  const Cancellation::CallbackId callback = cancel.AddCallback([wakeup_fd] {
    const uint64_t one = 1;
    ssize_t ignored = write(wakeup_fd, &one, sizeof(one));
    (void)ignored;
  });
  absl::Cleanup remove_callback = [&] { cancel.RemoveCallback(callback); };

  // Notices the end of the sandbox's boot (timings.start).
  std::optional<WatchedContainer> start_watch;
  if (start_watcher_ != nullptr) {
    start_watch.emplace(*start_watcher_, spec.execution_id);
  }
  absl::StatusOr<ChildProcess> child = ChildProcess::Spawn(
      runsc_.RunArgv(resources.bundle_dir, spec.execution_id),
      ChildProcess::Stdio::kPipes);
  if (!child.ok()) {
    return SandboxError(
        absl::StrCat("cannot start runsc: ", child.status().message()));
  }
  LauncherOutput output(spec, sink);
  IoPump pump(*child, output, sink);
  StopReason stop_reason = StopReason::kNone;
  switch (pump.Run(spawn_time + spec.timeout, wakeup_fd)) {
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
  if (stop_reason == StopReason::kTimeout && !child->reaped() &&
      runsc_.Kill(spec.execution_id, "TERM").ok()) {
    // The launcher forwards SIGTERM to the program, then still returns the
    // files it wrote before the timeout; a program that ignores it is
    // killed with the sandbox after the grace.
    pump.Run(absl::Now() + kTimeoutTermGrace, -1);
  }
  if (stop_reason != StopReason::kNone && !child->reaped()) {
    StopSandbox(spec.execution_id, *child, pump);
  }
  const absl::Time end_time = absl::Now();
  std::optional<absl::Time> running_time;
  if (start_watch) running_time = start_watch->Stop();
  const absl::Time start_end =
      BootEndTime(running_time, pump.first_output_time(), spawn_time, end_time);

  RunFacts facts;
  facts.stop_reason = stop_reason;
  facts.wait_status = child->wait_status();
  facts.exit_record = output.exit_code();
  facts.sandbox_messages = pump.runsc_stderr();
  if (!output.diagnostics().empty()) {
    absl::StrAppend(&facts.sandbox_messages,
                    facts.sandbox_messages.empty() ? "" : "\n",
                    output.diagnostics());
  }
  facts.output_truncated = output.output_limit_reached();
  facts.memory = resources.cgroup->ReadMemoryEvents();
  facts.memory_limit_bytes = spec.resources.memory_limit_bytes;
  facts.timeout = spec.timeout;
  facts.max_output_bytes = spec.max_output_bytes;
  if (stop_reason == StopReason::kCancelled)
    facts.cancel_reason = cancel.Reason();
  RunVerdict verdict = ClassifyRun(facts);

  ExecutionResult result;
  result.outcome = verdict.outcome;
  result.exit_code = verdict.exit_code;
  result.message = std::move(verdict.message);
  result.truncated = verdict.truncated;
  result.timings.create = create_time;
  result.timings.start = start_end - spawn_time;
  result.timings.run = end_time - start_end;
  output.TakeFiles(result);
  return result;
}

void GvisorBackend::StopSandbox(const std::string& id, ChildProcess& child,
                                IoPump& pump) const {
  // `runsc kill` fails while the container is still being created (its
  // state does not exist yet), so retry it until runsc exits or kill_grace
  // is over.
  const absl::Time grace_end = absl::Now() + options_.kill_grace;
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
  // attached), and CleanUp deletes what is left of the container.
  child.Kill();
  pump.Run(absl::Now() + kAfterSigkillWait, -1);
  child.WaitBlocking();
}

void GvisorBackend::CleanUp(const RunResources& resources) const {
  // The container first: its processes must be gone before the cgroups can
  // be removed. A normal run leaves no runsc state, so this costs nothing.
  if (runsc_.HasState(resources.id)) {
    absl::Status deleted = runsc_.DeleteForce(resources.id);
    if (!deleted.ok()) LogWarning(kGvisorLocalBackendName, deleted.message());
    runsc_.RemoveStateFiles(resources.id);
  }
  absl::Status status = RemoveTree(resources.bundle_dir);
  if (!status.ok()) LogWarning(kGvisorLocalBackendName, status.message());
  if (resources.cgroup) {
    status = resources.cgroup->Remove();
    if (!status.ok()) LogWarning(kGvisorLocalBackendName, status.message());
  }
}

}  // namespace codeexec
