#include "server/local/sandbox_setup.h"

#include <sys/stat.h>

#include <cerrno>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/exec/backend_names.h"
#include "server/exec/json_log.h"
#include "server/launcher/launcher_bundle.h"
#include "server/launcher/launcher_source.h"
#include "server/local/fs_util.h"
#include "server/local/oci_bundle.h"

namespace codeexec {
namespace {

// Writes the launcher's bundle into `dir`, read-only for everyone: the
// sandbox sees it at /opt/code-executor.
absl::Status WriteLauncherBundle(const std::string& dir,
                                 std::optional<absl::string_view> request) {
  if (mkdir(dir.c_str(), 0755) != 0) {
    return ErrnoError(errno, "creating the launcher bundle ", dir);
  }
  for (const BundleEntry& entry :
       BundleEntries(request.value_or(""), LauncherSource())) {
    if (!request && entry.key == kRequestKey) continue;
    absl::Status written =
        WriteNewFile(absl::StrCat(dir, "/", entry.key), entry.content,
                     entry.executable ? 0555 : 0444);
    if (!written.ok()) return written;
  }
  return absl::OkStatus();
}

}  // namespace

SandboxShape ShapeOf(const LanguageProfile& language,
                     const ResourceLimits& resources,
                     const LocalBackendOptions& options) {
  return SandboxShape{
      .rootfs = language.rootfs.empty() ? options.rootfs : language.rootfs,
      .memory_limit_bytes = resources.memory_limit_bytes,
      .cpu_limit_millis = resources.cpu_limit_millis};
}

SandboxSetup::SandboxSetup(const LocalBackendOptions& options,
                           const StateDir& state, const RunscCli& runsc,
                           const CgroupLayout& cgroups)
    : options_(options), state_(state), runsc_(runsc), cgroups_(cgroups) {}

absl::Status SandboxSetup::Prepare(const SandboxShape& shape,
                                   std::optional<absl::string_view> request,
                                   SandboxResources& resources,
                                   bool session) const {
  resources.bundle_dir = state_.BundleDir(resources.id);
  // Limits, then the bundle that points runsc below them: config.json and,
  // in launcher/, what the launcher reads.
  CgroupLimits limits;
  limits.memory_bytes = shape.memory_limit_bytes;
  limits.cpu_millis = shape.cpu_limit_millis;
  limits.pids = options_.host_pids_limit;
  absl::StatusOr<SandboxCgroup> cgroup = SandboxCgroup::Create(
      cgroups_, options_.cgroup_parent, resources.id, limits);
  if (!cgroup.ok()) return cgroup.status();
  resources.cgroup = *std::move(cgroup);

  OciBundleConfig bundle;
  bundle.args = request   ? LauncherCommand()
                : session ? LauncherSessionCommand()
                          : LauncherWaitCommand();
  bundle.env = LauncherEnv();
  bundle.max_processes = options_.max_processes;
  bundle.tmp_bytes = options_.tmp_bytes;
  bundle.workspace_bytes = options_.workspace_bytes;
  bundle.rootfs = shape.rootfs;
  bundle.launcher_bundle_dir = resources.bundle_dir + "/launcher";
  bundle.cgroups_path = resources.cgroup->OciCgroupsPath();
  absl::Status status = WriteOciBundle(resources.bundle_dir, bundle);
  if (!status.ok()) {
    return absl::Status(
        status.code(),
        absl::StrCat("cannot write the sandbox config: ", status.message()));
  }
  status = WriteLauncherBundle(bundle.launcher_bundle_dir, request);
  if (!status.ok()) {
    return absl::Status(status.code(),
                        absl::StrCat("cannot write the code and input files: ",
                                     status.message()));
  }
  return absl::OkStatus();
}

void SandboxSetup::TearDown(const SandboxResources& resources) const {
  // The container first: its processes must be gone before the cgroups can
  // be removed. A normal run leaves no runsc state, so this costs nothing.
  if (runsc_.HasState(resources.id)) {
    absl::Status deleted = runsc_.DeleteForce(resources.id);
    if (!deleted.ok()) LogWarning(kGvisorLocalBackendName, deleted.message());
    runsc_.RemoveStateFiles(resources.id);
  }
  if (!resources.bundle_dir.empty()) {
    absl::Status status = RemoveTree(resources.bundle_dir);
    if (!status.ok()) LogWarning(kGvisorLocalBackendName, status.message());
  }
  if (resources.cgroup) {
    absl::Status status = resources.cgroup->Remove();
    if (!status.ok()) LogWarning(kGvisorLocalBackendName, status.message());
  }
}

}  // namespace codeexec
