#include "server/local/sandbox_cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/local/fs_util.h"

namespace codeexec {
namespace {

constexpr char kSandboxChild[] = "sandbox";
// The v1 controllers we create per-run cgroups in (and need).
constexpr const char* kV1Controllers[] = {"memory", "cpu", "pids"};
constexpr int64_t kCfsPeriodMicros = 100000;
// The kernel refuses cfs quotas below 1 ms.
constexpr int64_t kMinCfsQuotaMicros = 1000;

bool Exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

absl::Status MakeDir(const std::string& path, bool exist_ok) {
  if (mkdir(path.c_str(), 0755) == 0) return absl::OkStatus();
  if (errno == EEXIST && exist_ok) return absl::OkStatus();
  return ErrnoError(errno, "creating cgroup ", path);
}

// mkdir -p below `root`: each of `relative`'s components in turn.
absl::Status MakeDirs(const std::string& root, absl::string_view relative) {
  std::string path = root;
  for (absl::string_view part : absl::StrSplit(relative, '/')) {
    absl::StrAppend(&path, "/", part);
    if (absl::Status made = MakeDir(path, true); !made.ok()) return made;
  }
  return absl::OkStatus();
}

// rmdir that waits out EBUSY (a cgroup whose last task is still exiting).
absl::Status RemoveCgroupDirRetrying(const std::string& path) {
  const absl::Time give_up = absl::Now() + absl::Seconds(2);
  while (rmdir(path.c_str()) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    if (errno != EBUSY || absl::Now() > give_up) {
      return ErrnoError(errno, "removing cgroup ", path,
                        " (processes may still be running in it)");
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::OkStatus();
}

// Removes the cgroup at `path` and every cgroup below it.
absl::Status RemoveCgroupTree(const std::string& path) {
  std::vector<std::string> children;
  if (DIR* dir = opendir(path.c_str())) {
    while (struct dirent* entry = readdir(dir)) {
      absl::string_view name = entry->d_name;
      if (entry->d_type == DT_DIR && name != "." && name != "..") {
        children.push_back(absl::StrCat(path, "/", name));
      }
    }
    closedir(dir);
  } else if (errno == ENOENT) {
    return absl::OkStatus();
  }
  absl::Status status;
  for (const std::string& child : children) {
    status.Update(RemoveCgroupTree(child));
  }
  status.Update(RemoveCgroupDirRetrying(path));
  return status;
}

}  // namespace

std::vector<CgroupSetting> LimitSettings(CgroupVersion version,
                                         const CgroupLimits& limits) {
  std::vector<CgroupSetting> settings;
  const bool v1 = version == CgroupVersion::kV1;
  if (limits.memory_bytes > 0) {
    settings.push_back({v1 ? "memory" : "",
                        v1 ? "memory.limit_in_bytes" : "memory.max",
                        absl::StrCat(limits.memory_bytes)});
  }
  if (limits.cpu_millis > 0) {
    const int64_t quota_micros = std::max(
        kMinCfsQuotaMicros, limits.cpu_millis * kCfsPeriodMicros / 1000);
    if (v1) {
      settings.push_back(
          {"cpu", "cpu.cfs_period_us", absl::StrCat(kCfsPeriodMicros)});
      settings.push_back(
          {"cpu", "cpu.cfs_quota_us", absl::StrCat(quota_micros)});
    } else {
      settings.push_back(
          {"", "cpu.max", absl::StrCat(quota_micros, " ", kCfsPeriodMicros)});
    }
  }
  if (limits.pids > 0) {
    settings.push_back(
        {v1 ? "pids" : "", "pids.max", absl::StrCat(limits.pids)});
  }
  return settings;
}

int64_t ParseFlatKeyedValue(absl::string_view text, absl::string_view key) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    std::pair<absl::string_view, absl::string_view> key_value =
        absl::StrSplit(line, absl::MaxSplits(' ', 1));
    int64_t value = 0;
    if (key_value.first == key &&
        absl::SimpleAtoi(absl::StripAsciiWhitespace(key_value.second),
                         &value)) {
      return value;
    }
  }
  return 0;
}

absl::StatusOr<CgroupLayout> CgroupLayout::Detect(std::string root) {
  if (Exists(root + "/cgroup.controllers")) {
    std::string controllers;
    absl::Status read =
        ReadSmallFile(root + "/cgroup.controllers", &controllers);
    if (!read.ok()) return read;
    std::vector<absl::string_view> available =
        absl::StrSplit(absl::StripAsciiWhitespace(controllers), ' ');
    std::vector<std::string> missing;
    for (const char* needed : kV1Controllers) {
      if (std::find(available.begin(), available.end(), needed) ==
          available.end()) {
        missing.push_back(needed);
      }
    }
    if (!missing.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cgroup v2 at ", root, " does not offer the ",
          absl::StrJoin(missing, ", "),
          " controller(s) the gvisor-local backend needs for sandbox limits; "
          "enable them in ",
          root, "/cgroup.subtree_control or use the kubernetes backend"));
    }
    return CgroupLayout(CgroupVersion::kV2, std::move(root));
  }
  std::vector<std::string> missing;
  for (const char* controller : kV1Controllers) {
    if (!Exists(absl::StrCat(root, "/", controller, "/cgroup.procs"))) {
      missing.push_back(controller);
    }
  }
  if (!missing.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no cgroup v2 and no cgroup v1 ", absl::StrJoin(missing, ", "),
        " controller(s) mounted under ", root,
        "; the gvisor-local backend needs memory, cpu and pids cgroups for "
        "sandbox limits (mount them, e.g. `mount -t cgroup -o pids cgroup ",
        root, "/pids`, or use the kubernetes backend)"));
  }
  return CgroupLayout(CgroupVersion::kV1, std::move(root));
}

std::string CgroupLayout::Dir(absl::string_view controller,
                              absl::string_view relative) const {
  if (version_ == CgroupVersion::kV2 || controller.empty()) {
    return absl::StrCat(root_, "/", relative);
  }
  return absl::StrCat(root_, "/", controller, "/", relative);
}

std::vector<std::string> CgroupLayout::Hierarchies() const {
  if (version_ == CgroupVersion::kV2) return {root_};
  std::vector<std::string> hierarchies;
  if (DIR* dir = opendir(root_.c_str())) {
    while (struct dirent* entry = readdir(dir)) {
      absl::string_view name = entry->d_name;
      if (name == "." || name == "..") continue;
      std::string path = absl::StrCat(root_, "/", name);
      struct stat info;
      // Symlinks such as cpu -> cpu,cpuacct name a hierarchy listed anyway.
      if (lstat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode) &&
          Exists(path + "/cgroup.procs")) {
        hierarchies.push_back(std::move(path));
      }
    }
    closedir(dir);
  }
  std::sort(hierarchies.begin(), hierarchies.end());
  return hierarchies;
}

absl::StatusOr<SandboxCgroup> SandboxCgroup::Create(
    const CgroupLayout& layout, std::string parent, std::string id,
    const CgroupLimits& limits) {
  SandboxCgroup cgroup(layout, std::move(parent), std::move(id));
  const std::string relative = cgroup.RelativePath();
  absl::Status status;
  if (layout.version() == CgroupVersion::kV1) {
    for (const char* controller : kV1Controllers) {
      status = MakeDirs(layout.Dir(controller, ""), cgroup.parent_);
      if (status.ok())
        status = MakeDir(layout.Dir(controller, relative), false);
      if (!status.ok()) break;
    }
  } else {
    // Controllers must be enabled on the way down for <id> to have them.
    constexpr char kEnable[] = "+memory +cpu +pids";
    std::string level;
    for (absl::string_view part : absl::StrSplit(cgroup.parent_, '/')) {
      level =
          level.empty() ? std::string(part) : absl::StrCat(level, "/", part);
      status = MakeDir(layout.Dir("", level), true);
      if (!status.ok()) break;
      const std::string control =
          layout.Dir("", level) + "/cgroup.subtree_control";
      int fd = open(control.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0) {
        status = ErrnoError(errno, "opening ", control);
      } else {
        status = WriteAll(fd, kEnable, control);
        close(fd);
      }
      if (!status.ok()) break;
    }
    if (status.ok()) status = MakeDir(layout.Dir("", relative), false);
  }
  for (const CgroupSetting& setting : LimitSettings(layout.version(), limits)) {
    if (!status.ok()) break;
    const std::string path =
        layout.Dir(setting.controller, relative) + "/" + setting.file;
    int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
      status = ErrnoError(errno, "opening ", path);
      break;
    }
    status = WriteAll(fd, setting.value, path);
    close(fd);
  }
  if (!status.ok()) {
    cgroup.Remove().IgnoreError();
    return absl::InternalError(absl::StrCat("cannot set up the sandbox cgroup ",
                                            relative, ": ", status.message()));
  }
  return cgroup;
}

std::string SandboxCgroup::OciCgroupsPath() const {
  return absl::StrCat("/", RelativePath(), "/", kSandboxChild);
}

CgroupMemoryEvents SandboxCgroup::ReadMemoryEvents() const {
  CgroupMemoryEvents events;
  const std::string dir = layout_.Dir("memory", RelativePath());
  std::string text;
  int64_t value = 0;
  if (layout_.version() == CgroupVersion::kV1) {
    if (ReadSmallFile(dir + "/memory.failcnt", &text).ok() &&
        absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &value)) {
      events.limit_hits = value;
    }
    if (ReadSmallFile(dir + "/memory.max_usage_in_bytes", &text).ok() &&
        absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &value)) {
      events.peak_bytes = value;
    }
    if (ReadSmallFile(dir + "/memory.oom_control", &text).ok()) {
      events.oom_kills = ParseFlatKeyedValue(text, "oom_kill");
    }
  } else {
    if (ReadSmallFile(dir + "/memory.events", &text).ok()) {
      events.limit_hits = ParseFlatKeyedValue(text, "max");
      events.oom_kills = ParseFlatKeyedValue(text, "oom_kill");
    }
    if (ReadSmallFile(dir + "/memory.peak", &text).ok() &&
        absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &value)) {
      events.peak_bytes = value;
    }
  }
  return events;
}

absl::Status SandboxCgroup::Remove() const {
  absl::Status status;
  for (const std::string& hierarchy : layout_.Hierarchies()) {
    status.Update(
        RemoveCgroupTree(absl::StrCat(hierarchy, "/", RelativePath())));
  }
  return status;
}

absl::Status RemoveLeftoverCgroups(const CgroupLayout& layout,
                                   const std::string& parent) {
  absl::Status status;
  for (const std::string& hierarchy : layout.Hierarchies()) {
    const std::string parent_dir = absl::StrCat(hierarchy, "/", parent);
    std::vector<std::string> children;
    if (DIR* dir = opendir(parent_dir.c_str())) {
      while (struct dirent* entry = readdir(dir)) {
        absl::string_view name = entry->d_name;
        if (entry->d_type == DT_DIR && name != "." && name != "..") {
          children.push_back(absl::StrCat(parent_dir, "/", name));
        }
      }
      closedir(dir);
    }
    for (const std::string& child : children) {
      status.Update(RemoveCgroupTree(child));
    }
  }
  return status;
}

}  // namespace codeexec
