// Per-run host cgroups that carry a sandbox's memory, CPU and pids limits.
//
// Measured with Debian's runsc 0.0~20221219 on cgroup v1: when the cgroup
// named in linux.cgroupsPath already exists, runsc joins it and applies no
// limits; when runsc creates it, it also removes it when the sandbox exits
// (but not the intermediate directories it created on the way, in every
// hierarchy). So for each run we create <parent>/<id> ourselves with the
// limits and point runsc at <parent>/<id>/sandbox: the limits apply to the
// whole sandbox hierarchically, and we remove <parent>/<id> afterwards in
// every hierarchy.
#ifndef CODEEXEC_SERVER_LOCAL_SANDBOX_CGROUP_H_
#define CODEEXEC_SERVER_LOCAL_SANDBOX_CGROUP_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace codeexec {

enum class CgroupVersion { kV1, kV2 };

// Zero or negative means unlimited.
struct CgroupLimits {
  int64_t memory_bytes = 0;
  int64_t cpu_millis = 0;
  int64_t pids = 0;
};

// One control file write: `controller` is the v1 hierarchy ("memory", ...)
// and empty on v2.
struct CgroupSetting {
  std::string controller;
  std::string file;
  std::string value;
};

// The control file writes that impose `limits`, in the order to apply them.
std::vector<CgroupSetting> LimitSettings(CgroupVersion version,
                                         const CgroupLimits& limits);

// What the kernel recorded about a cgroup's memory, to recognise an OOM kill.
struct CgroupMemoryEvents {
  // v1 memory.failcnt / v2 memory.events "max": times usage hit the limit.
  int64_t limit_hits = 0;
  // v1 memory.max_usage_in_bytes / v2 memory.peak (0 when unknown).
  int64_t peak_bytes = 0;
  // memory.oom_control / memory.events "oom_kill".
  int64_t oom_kills = 0;
};

// Parses memory.oom_control (v1) or memory.events (v2) style "key value"
// lines; returns the value of `key` or 0.
int64_t ParseFlatKeyedValue(absl::string_view text, absl::string_view key);

// Where this host's cgroups are.
class CgroupLayout {
 public:
  // Finds cgroup v2 (cgroup.controllers at `root`) or v1 with the memory,
  // cpu and pids controllers mounted under `root`. Errors say what is
  // missing.
  static absl::StatusOr<CgroupLayout> Detect(std::string root);

  CgroupLayout(CgroupVersion version, std::string root)
      : version_(version), root_(std::move(root)) {}

  CgroupVersion version() const { return version_; }
  const std::string& root() const { return root_; }

  // Directory of cgroup `relative` ("a/b") in `controller`'s hierarchy (v1)
  // or the unified hierarchy (v2, `controller` ignored).
  std::string Dir(absl::string_view controller,
                  absl::string_view relative) const;

  // Root directories of every hierarchy runsc may create cgroups in: on v1
  // each mounted hierarchy (not the symlinks such as cpu -> cpu,cpuacct), on
  // v2 the root.
  std::vector<std::string> Hierarchies() const;

 private:
  CgroupVersion version_;
  std::string root_;
};

// The cgroup <parent>/<id> of one run.
class SandboxCgroup {
 public:
  // Creates <parent>/<id> (and <parent> if needed) and writes the limits.
  // On error nothing of <id> is left.
  static absl::StatusOr<SandboxCgroup> Create(const CgroupLayout& layout,
                                              std::string parent,
                                              std::string id,
                                              const CgroupLimits& limits);

  // linux.cgroupsPath for the OCI spec: "/<parent>/<id>/sandbox".
  std::string OciCgroupsPath() const;
  // "<parent>/<id>".
  std::string RelativePath() const { return parent_ + "/" + id_; }

  CgroupMemoryEvents ReadMemoryEvents() const;

  // Removes <parent>/<id>/sandbox and <parent>/<id> in every hierarchy,
  // retrying briefly while the kernel still reports them busy. Missing
  // directories are fine.
  absl::Status Remove() const;

 private:
  SandboxCgroup(const CgroupLayout& layout, std::string parent, std::string id)
      : layout_(layout), parent_(std::move(parent)), id_(std::move(id)) {}

  CgroupLayout layout_;
  std::string parent_;
  std::string id_;
};

// Removes every per-run cgroup (and its children) under `parent` in every
// hierarchy: what a crashed server left. `parent` itself stays.
absl::Status RemoveLeftoverCgroups(const CgroupLayout& layout,
                                   const std::string& parent);

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_LOCAL_SANDBOX_CGROUP_H_
