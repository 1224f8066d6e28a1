// The OCI bundle (config.json) that `runsc run` starts one execution from.
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

// Where the workspace tmpfs appears inside the sandbox; also the program's
// working directory.
inline constexpr char kSandboxWorkspaceDir[] = "/workspace";

struct OciBundleConfig {
  // argv of the program (LanguageProfile::command).
  std::vector<std::string> args;
  // Program environment, applied after the fixed base environment (PATH,
  // HOME, LANG); later entries win.
  EnvVars env;
  uint32_t uid = 65534;
  uint32_t gid = 65534;
  // RLIMIT_NPROC inside the sandbox.
  int max_processes = 64;
  // Size of the sandbox-internal tmpfs at /tmp.
  int64_t tmp_bytes = int64_t{64} << 20;
  // Host directory used as the read-only root filesystem.
  std::string rootfs = "/";
  // Host directory bind-mounted read-write at /workspace.
  std::string workspace_dir;
  // linux.cgroupsPath: a cgroup runsc creates (and removes) below the
  // per-run cgroup that carries the limits.
  std::string cgroups_path;
};

// The environment of the program as "KEY=VALUE" strings: PATH, HOME=/tmp and
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
