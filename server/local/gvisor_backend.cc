#include "server/local/gvisor_backend.h"

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
#include "server/launcher/python_prestart.h"
#include "server/local/container_start_watcher.h"
#include "server/local/fs_util.h"
#include "server/local/io_pump.h"
#include "server/local/oci_bundle.h"
#include "server/local/run_outcome.h"
#include "server/local/state_dir.h"

namespace codeexec {
namespace {

constexpr char kCgroupRoot[] = "/sys/fs/cgroup";

}  // namespace

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
    LocalBackendOptions options, SandboxShape warm_shape,
    prometheus::Registry* registry, std::optional<ExecutionSpec> default_run) {
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
  std::unique_ptr<GvisorBackend> backend(
      new GvisorBackend(std::move(options), std::move(state), std::move(runsc),
                        *std::move(cgroups),
                        std::move(start_watcher).value_or(nullptr), registry));
  backend->RemoveLeftovers();
  backend->StartWarmPool(std::move(warm_shape), default_run);
  return backend;
}

GvisorBackend::GvisorBackend(
    LocalBackendOptions options, StateDir state, RunscCli runsc,
    CgroupLayout cgroups, std::unique_ptr<ContainerStartWatcher> start_watcher,
    prometheus::Registry* registry)
    : options_(std::move(options)),
      state_(std::move(state)),
      runsc_(std::move(runsc)),
      cgroups_(std::move(cgroups)),
      start_watcher_(std::move(start_watcher)),
      setup_(options_, state_, runsc_, cgroups_),
      driver_(runsc_, options_.kill_grace),
      warm_metrics_(registry, kGvisorLocalBackendName) {}

void GvisorBackend::StartWarmPool(
    SandboxShape shape, const std::optional<ExecutionSpec>& default_run) {
  if (options_.warm_pool.size <= 0) return;
  if (start_watcher_ == nullptr) {
    LogWarning(kGvisorLocalBackendName,
               "local.warmPool is off: it needs inotify to see a warm "
               "sandbox boot");
    return;
  }
  std::string prestart;
  std::optional<Starter> starter = default_run.has_value()
                                       ? StarterFor(default_run->language)
                                       : std::nullopt;
  if (starter.has_value()) {
    absl::StatusOr<std::string> request =
        BuildPrestartRequest(*default_run, *starter,
                             RunAs{options_.run_as_uid, options_.run_as_gid});
    if (request.ok()) prestart = *std::move(request);
  }
  warm_sandboxes_ = std::make_unique<WarmSandboxes>(
      setup_, runsc_, *start_watcher_, std::move(shape), std::move(prestart),
      options_.kill_grace);
  WarmPool::Hooks hooks;
  hooks.start = [this] { return warm_sandboxes_->Start(); };
  hooks.retire = [this](std::unique_ptr<WarmSandbox> sandbox) {
    warm_sandboxes_->Retire(std::move(sandbox));
  };
  warm_metrics_.Observe(hooks);
  warm_pool_ = std::make_unique<WarmPool>(options_.warm_pool, std::move(hooks));
}

GvisorBackend::~GvisorBackend() {
  warm_pool_.reset();
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
    return SandboxErrorResult(absl::StrCat("internal error: execution id \"",
                                           spec.execution_id,
                                           "\" cannot name a sandbox"));
  }
  if (std::optional<ExecutionResult> warm = RunWarm(spec, sink, cancel)) {
    return *std::move(warm);
  }
  SandboxResources resources;
  resources.id = spec.execution_id;
  ExecutionResult result;
  absl::Duration cleanup_time;
  {
    // Runs on every path, exceptions included.
    absl::Cleanup clean_up = [&] {
      const absl::Time cleanup_start = absl::Now();
      setup_.TearDown(resources);
      cleanup_time = absl::Now() - cleanup_start;
    };
    result = RunCold(spec, sink, cancel, resources);
  }
  result.timings.cleanup = cleanup_time;
  return result;
}

absl::StatusOr<std::unique_ptr<SandboxSession>> GvisorBackend::StartSession(
    const ExecutionSpec& shape, std::string_view session_id,
    absl::Duration /*max_lifetime*/) {
  const std::string id(session_id);
  if (!IsValidSandboxId(id)) {
    return absl::InternalError(
        absl::StrCat("session id \"", id, "\" cannot name a sandbox"));
  }
  if (start_watcher_ == nullptr) {
    return absl::FailedPreconditionError(
        "gvisor-local sessions need inotify to see their sandbox boot");
  }
  LocalSession::Parts parts{
      .setup = &setup_,
      .runsc = &runsc_,
      .driver = &driver_,
      .start_watcher = start_watcher_.get(),
      .kill_grace = options_.kill_grace,
      .run_as = RunAs{options_.run_as_uid, options_.run_as_gid}};
  absl::StatusOr<std::unique_ptr<LocalSession>> session =
      LocalSession::Start(parts, ShapeOf(shape, options_),
                          KernelFor(shape.language), std::string(session_id));
  if (!session.ok()) return session.status();
  return std::unique_ptr<SandboxSession>(*std::move(session));
}

std::optional<ExecutionResult> GvisorBackend::RunWarm(
    const ExecutionSpec& spec, OutputSink& sink, const Cancellation& cancel) {
  if (warm_pool_ == nullptr) return std::nullopt;
  if (ShapeOf(spec, options_) != warm_sandboxes_->shape()) {
    warm_metrics_.RecordColdRun(ColdReason::kShape);
    return std::nullopt;
  }
  // A request the format cannot carry, or a run already cancelled, is
  // reported by the cold path as always, without using up a sandbox.
  absl::StatusOr<std::string> request =
      BuildRequest(spec, RunAs{options_.run_as_uid, options_.run_as_gid});
  if (!request.ok() || cancel.IsCancelled()) return std::nullopt;
  const absl::Time claim_start = absl::Now();
  std::unique_ptr<WarmSandbox> claimed = warm_pool_->Claim();
  if (claimed == nullptr) {
    warm_metrics_.RecordColdRun(ColdReason::kEmpty);
    return std::nullopt;
  }
  auto& sandbox = static_cast<LocalWarmSandbox&>(*claimed);
  absl::Status delivered =
      DeliverRequest(*sandbox.child, *request, claim_start + spec.timeout);
  if (!delivered.ok()) {
    warm_sandboxes_->Discard(sandbox);
    if (absl::IsFailedPrecondition(delivered)) {
      // Nothing of the run reached a program: it runs cold instead.
      warm_metrics_.RecordColdRun(ColdReason::kDead);
      return std::nullopt;
    }
    return SandboxErrorResult(std::string(delivered.message()));
  }
  const absl::Time delivered_time = absl::Now();
  warm_metrics_.RecordClaim();
  warm_metrics_.RecordClaimLatency(delivered_time - claim_start);

  StartedSandbox started{.id = sandbox.resources.id,
                         .child = &*sandbox.child,
                         .cgroup = &*sandbox.resources.cgroup,
                         .clock_start = claim_start,
                         .boot_watch = nullptr,
                         .booted = true};
  std::optional<absl::Time> first_output;
  ExecutionResult result;
  absl::Duration cleanup_time;
  {
    // Runs on every path, exceptions included.
    absl::Cleanup clean_up = [&] {
      const absl::Time cleanup_start = absl::Now();
      setup_.TearDown(sandbox.resources);
      cleanup_time = absl::Now() - cleanup_start;
    };
    result = driver_.Drive(started, spec, sink, cancel, &first_output);
  }
  if (first_output) {
    warm_metrics_.RecordFirstOutput(*first_output - claim_start);
  }
  result.timings.create = delivered_time - claim_start;
  result.timings.run -= result.timings.create;
  result.timings.cleanup = cleanup_time;
  return result;
}

ExecutionResult GvisorBackend::RunCold(const ExecutionSpec& spec,
                                       OutputSink& sink,
                                       const Cancellation& cancel,
                                       SandboxResources& resources) const {
  const absl::Time create_start = absl::Now();
  absl::StatusOr<std::string> request =
      BuildRequest(spec, RunAs{options_.run_as_uid, options_.run_as_gid});
  if (!request.ok()) {
    return SandboxErrorResult(absl::StrCat(
        "cannot write the code and input files: ", request.status().message()));
  }
  absl::Status prepared =
      setup_.Prepare(ShapeOf(spec, options_), *request, resources);
  if (!prepared.ok())
    return SandboxErrorResult(std::string(prepared.message()));
  const absl::Time spawn_time = absl::Now();
  const absl::Duration create_time = spawn_time - create_start;
  if (cancel.IsCancelled()) {
    ExecutionResult result;
    result.outcome = Outcome::kCancelled;
    result.message = cancel.Reason();
    result.timings.create = create_time;
    return result;
  }

  // Notices the end of the sandbox's boot (timings.start).
  std::optional<WatchedContainer> boot_watch;
  if (start_watcher_ != nullptr) {
    boot_watch.emplace(*start_watcher_, resources.id);
  }
  absl::StatusOr<ChildProcess> child =
      ChildProcess::Spawn(runsc_.RunArgv(resources.bundle_dir, resources.id),
                          ChildProcess::Stdio::kPipes);
  if (!child.ok()) {
    return SandboxErrorResult(
        absl::StrCat("cannot start runsc: ", child.status().message()));
  }
  StartedSandbox started{.id = resources.id,
                         .child = &*child,
                         .cgroup = &*resources.cgroup,
                         .clock_start = spawn_time,
                         .boot_watch = boot_watch ? &*boot_watch : nullptr,
                         .booted = false};
  ExecutionResult result = driver_.Drive(started, spec, sink, cancel);
  result.timings.create = create_time;
  return result;
}

}  // namespace codeexec
