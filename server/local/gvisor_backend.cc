#include "server/local/gvisor_backend.h"

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
#include "server/exec/quantity.h"
#include "server/local/container_start_watcher.h"
#include "server/local/fs_util.h"
#include "server/local/io_pump.h"
#include "server/local/oci_bundle.h"
#include "server/local/run_outcome.h"
#include "server/local/runsc_process.h"
#include "server/local/state_dir.h"
#include "server/local/workspace.h"

namespace codeexec {
namespace {

constexpr char kCgroupRoot[] = "/sys/fs/cgroup";
// After SIGKILLing a wedged `runsc run`, how long to keep draining before a
// blocking wait.
constexpr absl::Duration kAfterSigkillWait = absl::Seconds(2);
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
  std::string workspace_dir;
  std::string bundle_dir;
  std::optional<SandboxCgroup> cgroup;
};

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
  struct stat rootfs_info;
  if (stat(options.rootfs.c_str(), &rootfs_info) != 0 ||
      !S_ISDIR(rootfs_info.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the sandbox rootfs ", options.rootfs,
        " is not a directory; set the gvisor-local rootfs to a root "
        "filesystem (\"/\" uses the host's, read-only)"));
  }
  absl::StatusOr<CgroupLayout> cgroups = CgroupLayout::Detect(kCgroupRoot);
  if (!cgroups.ok()) return cgroups.status();

  absl::Status prepared = state.Prepare();
  if (!prepared.ok()) return prepared;
  absl::StatusOr<std::unique_ptr<ContainerStartWatcher>> start_watcher =
      ContainerStartWatcher::Create(state.RunscRoot());
  if (!start_watcher.ok()) {
    LogWarning(
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

void GvisorBackend::RemoveLeftovers() const {
  absl::StatusOr<std::vector<std::string>> ids = runsc_.List();
  if (!ids.ok()) LogWarning(ids.status().message());
  for (const std::string& id : ids.value_or(std::vector<std::string>())) {
    absl::Status deleted = runsc_.DeleteForce(id);
    if (!deleted.ok()) LogWarning(deleted.message());
  }
  for (const absl::Status& problem : state_.RemoveLeftoverFiles()) {
    LogWarning(problem.message());
  }
  absl::Status cgroups_removed =
      RemoveLeftoverCgroups(cgroups_, options_.cgroup_parent);
  if (!cgroups_removed.ok()) LogWarning(cgroups_removed.message());
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

ExecutionResult GvisorBackend::Run(const ExecutionSpec& spec, OutputSink& sink,
                                   const Cancellation& cancel) {
  if (!IsValidSandboxId(spec.execution_id)) {
    return SandboxError(absl::StrCat("internal error: execution id \"",
                                     spec.execution_id,
                                     "\" cannot name a sandbox"));
  }
  RunResources resources;
  resources.id = spec.execution_id;
  resources.workspace_dir = state_.WorkspaceDir(spec.execution_id);
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

ExecutionResult GvisorBackend::Execute(const ExecutionSpec& spec,
                                       OutputSink& sink,
                                       const Cancellation& cancel,
                                       RunResources& resources) const {
  const absl::Time create_start = absl::Now();
  // Workspace with the code and input files.
  absl::Status status =
      MountWorkspace(resources.workspace_dir, options_.workspace_bytes,
                     options_.run_as_uid, options_.run_as_gid);
  if (!status.ok()) {
    return SandboxError(
        absl::StrCat("cannot prepare the workspace: ", status.message()));
  }
  std::map<std::string, absl::string_view, std::less<>> inputs;
  status =
      WriteWorkspaceFile(resources.workspace_dir, spec.language.file_name,
                         spec.code, options_.run_as_uid, options_.run_as_gid);
  for (const WorkspaceFile& file : spec.input_files) {
    if (!status.ok()) break;
    status =
        WriteWorkspaceFile(resources.workspace_dir, file.path, file.content,
                           options_.run_as_uid, options_.run_as_gid);
    inputs.emplace(file.path, file.content);
  }
  if (!status.ok()) {
    if (absl::IsResourceExhausted(status)) {  // ENOSPC
      return SandboxError(absl::StrCat(
          "the code and input files do not fit in the ",
          FormatBytes(options_.workspace_bytes),
          " workspace; send smaller files or raise the gvisor-local "
          "workspace_bytes"));
    }
    return SandboxError(absl::StrCat("cannot write the code and input files: ",
                                     status.message()));
  }
  // Limits, then the bundle that points runsc below them.
  CgroupLimits limits;
  limits.memory_bytes = spec.resources.memory_limit_bytes;
  limits.cpu_millis = spec.resources.cpu_limit_millis;
  limits.pids = options_.host_pids_limit;
  absl::StatusOr<SandboxCgroup> cgroup = SandboxCgroup::Create(
      cgroups_, options_.cgroup_parent, spec.execution_id, limits);
  if (!cgroup.ok()) return SandboxError(std::string(cgroup.status().message()));
  resources.cgroup = *std::move(cgroup);

  OciBundleConfig bundle;
  bundle.args = spec.language.command;
  bundle.env = spec.env;
  bundle.uid = options_.run_as_uid;
  bundle.gid = options_.run_as_gid;
  bundle.max_processes = options_.max_processes;
  bundle.tmp_bytes = options_.tmp_bytes;
  bundle.rootfs = options_.rootfs;
  bundle.workspace_dir = resources.workspace_dir;
  bundle.cgroups_path = resources.cgroup->OciCgroupsPath();
  status = WriteOciBundle(resources.bundle_dir, bundle);
  if (!status.ok()) {
    return SandboxError(
        absl::StrCat("cannot write the sandbox config: ", status.message()));
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
  IoPump pump(*child, spec.stdin_data, spec.max_output_bytes, sink);
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
  facts.held_stderr = pump.held_stderr();
  facts.memory = resources.cgroup->ReadMemoryEvents();
  facts.memory_limit_bytes = spec.resources.memory_limit_bytes;
  facts.timeout = spec.timeout;
  facts.max_output_bytes = spec.max_output_bytes;
  if (stop_reason == StopReason::kCancelled)
    facts.cancel_reason = cancel.Reason();
  RunVerdict verdict = ClassifyRun(facts);
  if (verdict.program_ran) {
    // What stderr held back was the program's after all.
    pump.ReleaseHeldStderr();
    if (pump.output_limit_reached() && stop_reason == StopReason::kNone) {
      facts.output_truncated = true;
      verdict = ClassifyRun(facts);
    }
  }

  ExecutionResult result;
  result.outcome = verdict.outcome;
  result.exit_code = verdict.exit_code;
  result.message = std::move(verdict.message);
  result.truncated = verdict.truncated;
  result.timings.create = create_time;
  result.timings.start = start_end - spawn_time;
  result.timings.run = end_time - start_end;
  if (verdict.program_ran) {
    CollectedOutputFiles files = CollectOutputFiles(
        resources.workspace_dir, spec.language.file_name, inputs,
        {spec.max_output_files, spec.max_output_file_bytes});
    result.output_files = std::move(files.files);
    result.output_files_truncated = files.truncated;
  }
  return result;
}

void GvisorBackend::StopSandbox(const std::string& id, ChildProcess& child,
                                IoPump& pump) const {
  pump.CloseStdin();
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
  if (!killed.ok()) LogWarning(killed.message());
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
    if (!deleted.ok()) LogWarning(deleted.message());
    runsc_.RemoveStateFiles(resources.id);
  }
  absl::Status status = RemoveTree(resources.bundle_dir);
  if (!status.ok()) LogWarning(status.message());
  status = UnmountAndRemoveWorkspace(resources.workspace_dir);
  if (!status.ok()) LogWarning(status.message());
  if (resources.cgroup) {
    status = resources.cgroup->Remove();
    if (!status.ok()) LogWarning(status.message());
  }
}

}  // namespace codeexec
