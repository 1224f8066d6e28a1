// Options of the gvisor-local backend (config section `local:`).
#ifndef CODEEXEC_SERVER_LOCAL_LOCAL_BACKEND_OPTIONS_H_
#define CODEEXEC_SERVER_LOCAL_LOCAL_BACKEND_OPTIONS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "server/exec/warm_pool.h"    // WarmPoolOptions
#include "server/local/oci_bundle.h"  // kDefaultSandboxRootfs
#include "server/local/runsc_cli.h"   // kDefaultRunscPath

namespace codeexec {

struct LocalBackendOptions {
  // runsc binary (a bare name is looked up in $PATH); by default the pinned
  // gVisor release scripts/setup installs.
  std::string runsc_path = kDefaultRunscPath;
  // Private state (mode 0700): runsc --root and the OCI bundles live here
  // and are removed after each run.
  std::string state_dir = "/run/code-executor";
  // Read-only root filesystem of the sandboxes of every language profile
  // without a rootfs of its own: a minimal tree made for sandboxes (Debian +
  // python3; scripts/setup installs it). Never the host's "/" unless
  // configured so: a program would read every world-readable host file.
  std::string rootfs = kDefaultSandboxRootfs;
  // gVisor platform (`runsc --platform`): systrap, ptrace or kvm (kvm needs
  // /dev/kvm and hangs where nested virtualization is missing).
  std::string platform = kDefaultRunscPlatform;
  // Size of the sandbox-internal tmpfs at /workspace (code, input and output
  // files; counts against memory).
  int64_t workspace_bytes = int64_t{64} << 20;
  // Size of the sandbox-internal tmpfs at /tmp (counts against memory).
  int64_t tmp_bytes = int64_t{64} << 20;
  // Processes the program may have inside the sandbox (RLIMIT_NPROC, which
  // gVisor enforces: fork fails with EAGAIN beyond it).
  int max_processes = 64;
  // pids limit of the sandbox's host cgroup. gVisor's own threads count
  // here and the sentry panics when it is hit, so it is a safety net well
  // above max_processes, not the program's limit.
  int host_pids_limit = 4096;
  // uid/gid the program runs as inside the sandbox (the launcher, its
  // parent, is the sandbox's root with a handful of capabilities).
  uint32_t run_as_uid = 65534;
  uint32_t run_as_gid = 65534;
  // Parent cgroup (under each v1 controller, or the v2 root) for per-run
  // cgroups that carry the memory, cpu and pids limits. Runs live at
  // <cgroup_parent>/server-<hash of state_dir>/<execution id>, so servers
  // with different state dirs never touch each other's cgroups.
  std::string cgroup_parent = "code-executor";
  // After `runsc kill`, how long to wait for `runsc run` to exit before it
  // is SIGKILLed and the container removed with `runsc delete --force`.
  absl::Duration kill_grace = absl::Seconds(2);
  // Extra global flags passed to runsc before the command (e.g. "--debug").
  std::vector<std::string> extra_runsc_flags;
  // Warm sandboxes of the default language and limits, started ahead so a
  // run skips the sandbox's boot (config `local.warmPool`). Runs of other
  // languages or limits start their own.
  WarmPoolOptions warm_pool;
};

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_LOCAL_LOCAL_BACKEND_OPTIONS_H_
