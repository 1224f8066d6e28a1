// What one local sandbox needs on the host before `runsc run` and leaves
// after it: a cgroup with its limits, an OCI bundle (config.json) and the
// launcher's bundle (the static launcher, plus the request when the run is
// known at start), all named by the sandbox id; and their removal.
#ifndef CODEEXEC_SERVER_LOCAL_SANDBOX_SETUP_H_
#define CODEEXEC_SERVER_LOCAL_SANDBOX_SETUP_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "server/exec/execution_spec.h"
#include "server/local/local_backend_options.h"
#include "server/local/runsc_cli.h"
#include "server/local/sandbox_cgroup.h"
#include "server/local/state_dir.h"

namespace codeexec {

// What a sandbox is fixed to before it knows its program: a warm sandbox
// serves a run only if the run's shape is the sandbox's.
struct SandboxShape {
  std::string rootfs;
  int64_t memory_limit_bytes = 0;
  int64_t cpu_limit_millis = 0;

  bool operator==(const SandboxShape&) const = default;
};

// The shape of a run of `language` with `resources`: the language's rootfs
// (else options.rootfs) and the memory and CPU limits.
SandboxShape ShapeOf(const LanguageProfile& language,
                     const ResourceLimits& resources,
                     const LocalBackendOptions& options);
inline SandboxShape ShapeOf(const ExecutionSpec& spec,
                            const LocalBackendOptions& options) {
  return ShapeOf(spec.language, spec.resources, options);
}

// Paths and objects of one sandbox, for its removal.
struct SandboxResources {
  std::string id;
  std::string bundle_dir;
  std::optional<SandboxCgroup> cgroup;
};

class SandboxSetup {
 public:
  // All must outlive this.
  SandboxSetup(const LocalBackendOptions& options, const StateDir& state,
               const RunscCli& runsc, const CgroupLayout& cgroups);

  // Creates the cgroup and the bundles of sandbox `resources.id` (filling
  // in `resources` as it goes, so TearDown removes what was made). With a
  // request, the launcher reads it from its bundle; without, it is started
  // with --wait and reads it from stdin, or (session) with --session and
  // reads one cell's request after another. Errors say which part failed.
  absl::Status Prepare(const SandboxShape& shape,
                       std::optional<absl::string_view> request,
                       SandboxResources& resources, bool session = false) const;

  // Removes the container's runsc state (if any), the bundles and the
  // cgroup; logs what it could not remove. The sandbox must have exited.
  void TearDown(const SandboxResources& resources) const;

 private:
  const LocalBackendOptions& options_;
  const StateDir& state_;
  const RunscCli& runsc_;
  const CgroupLayout& cgroups_;
};

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_LOCAL_SANDBOX_SETUP_H_
