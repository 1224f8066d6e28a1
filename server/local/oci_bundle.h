// The OCI bundle (config.json) that `runsc run` starts one execution from:
// the launcher as the sandbox's init (root inside the sandbox, with only the
// capabilities it needs to hand the program its own unprivileged user), the
// launcher's bundle read-only at /opt/code-executor, a private tmpfs
// workspace and /tmp, no network.
#ifndef CODEEXEC_SERVER_LOCAL_OCI_BUNDLE_H_
#define CODEEXEC_SERVER_LOCAL_OCI_BUNDLE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "server/exec/execution_spec.h"

namespace codeexec {

// The read-only root of a sandbox whose language profile names no rootfs,
// unless configured otherwise: a minimal tree made for sandboxes (Debian +
// python3), which scripts/setup installs with scripts/install-sandbox-rootfs.
inline constexpr char kDefaultSandboxRootfs[] = "/var/lib/code-executor/rootfs";

// What the launcher may do as the sandbox's root: write the inputs and hand
// them to the program's user (CHOWN), read whatever the program left to
// return it (DAC_READ_SEARCH), stop the program's processes (KILL), and
// start the program as its own user (SETUID, SETGID). The program gets none.
inline constexpr const char* kLauncherCapabilities[] = {
    "CAP_CHOWN", "CAP_DAC_READ_SEARCH", "CAP_KILL", "CAP_SETGID", "CAP_SETUID"};

struct OciBundleConfig {
  // argv of the sandbox's first process (the launcher).
  std::vector<std::string> args;
  // Its environment, applied after the fixed base environment (PATH, HOME,
  // LANG); later entries win.
  EnvVars env;
  // RLIMIT_NPROC inside the sandbox (counted per user: it bounds the
  // program, whose user has nothing else running).
  int max_processes = 64;
  // Size of the sandbox-internal tmpfs at /tmp.
  int64_t tmp_bytes = int64_t{64} << 20;
  // Size of the sandbox-internal tmpfs at /workspace.
  int64_t workspace_bytes = int64_t{64} << 20;
  // Host directory used as the read-only root filesystem.
  std::string rootfs;
  // Host directory bind-mounted read-only at /opt/code-executor (the
  // launcher's bundle).
  std::string launcher_bundle_dir;
  // linux.cgroupsPath: a cgroup runsc creates (and removes) below the
  // per-run cgroup that carries the limits.
  std::string cgroups_path;
};

// The environment of the sandbox's first process (the launcher) as
// "KEY=VALUE" strings: PATH, HOME=/tmp and
// LANG=C.UTF-8, then `env` in order. A key that is already present is
// replaced in place, so later entries win and no key appears twice.
// Empty keys and keys containing '=' or NUL are InvalidArgument.
absl::StatusOr<std::vector<std::string>> BuildSandboxEnv(const EnvVars& env);

// The config.json document for `config`.
absl::StatusOr<nlohmann::json> BuildOciConfig(const OciBundleConfig& config);

// Creates `bundle_dir` (mode 0700) and writes config.json into it.
absl::Status WriteOciBundle(const std::string& bundle_dir,
                            const OciBundleConfig& config);

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_LOCAL_OCI_BUNDLE_H_
