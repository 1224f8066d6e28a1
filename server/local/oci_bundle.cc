#include "server/local/oci_bundle.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/launcher/launcher_bundle.h"
#include "server/local/fs_util.h"

namespace codeexec {
namespace {

using json = nlohmann::json;

constexpr char kSandboxPathEnv[] =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

json Rlimit(const char* type, int64_t value) {
  return {{"type", type}, {"hard", value}, {"soft", value}};
}

json Mount(const char* destination, const char* type, const std::string& source,
           std::vector<std::string> options) {
  return {{"destination", destination},
          {"type", type},
          {"source", source},
          {"options", std::move(options)}};
}

}  // namespace

absl::StatusOr<std::vector<std::string>> BuildSandboxEnv(const EnvVars& env) {
  std::vector<std::pair<std::string, std::string>> merged = {
      {"PATH", kSandboxPathEnv}, {"HOME", "/tmp"}, {"LANG", "C.UTF-8"}};
  for (const auto& [key, value] : env) {
    if (key.empty() ||
        key.find_first_of(std::string("=\0", 2)) != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "environment variable name \"", key,
          "\" is not valid: it must be non-empty and contain no '=' or NUL"));
    }
    if (value.find('\0') != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("environment variable ", key, " contains a NUL byte"));
    }
    auto existing =
        std::find_if(merged.begin(), merged.end(),
                     [&](const auto& kv) { return kv.first == key; });
    if (existing != merged.end()) {
      existing->second = value;
    } else {
      merged.emplace_back(key, value);
    }
  }
  std::vector<std::string> result;
  result.reserve(merged.size());
  for (const auto& [key, value] : merged) {
    result.push_back(absl::StrCat(key, "=", value));
  }
  return result;
}

absl::StatusOr<json> BuildOciConfig(const OciBundleConfig& config) {
  if (config.args.empty()) {
    return absl::InvalidArgumentError(
        "the language profile has no command; set `command` for it in the "
        "server config");
  }
  if (config.launcher_bundle_dir.empty() || config.rootfs.empty() ||
      config.cgroups_path.empty()) {
    return absl::InvalidArgumentError(
        "internal error: OCI bundle needs a rootfs, a launcher bundle and a "
        "cgroups path");
  }
  absl::StatusOr<std::vector<std::string>> env = BuildSandboxEnv(config.env);
  if (!env.ok()) return env.status();

  json caps = json::array();
  for (const char* cap : kLauncherCapabilities) caps.push_back(cap);
  json process = {
      {"terminal", false},
      {"user", {{"uid", 0}, {"gid", 0}}},
      {"args", config.args},
      {"cwd", kSandboxWorkspaceDir},
      {"env", *std::move(env)},
      {"capabilities",
       {{"bounding", caps},
        {"effective", caps},
        {"permitted", caps},
        {"inheritable", json::array()},
        {"ambient", json::array()}}},
      {"noNewPrivileges", true},
      {"rlimits",
       {Rlimit("RLIMIT_NOFILE", 1024),
        Rlimit("RLIMIT_NPROC", config.max_processes)}},
  };
  json mounts = {
      Mount("/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}),
      Mount("/dev", "tmpfs", "tmpfs",
            {"nosuid", "strictatime", "mode=755", "size=65536k"}),
      Mount("/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"}),
      Mount("/tmp", "tmpfs", "tmpfs",
            {"nosuid", "nodev", absl::StrCat("size=", config.tmp_bytes),
             "mode=1777"}),
      Mount(kSandboxWorkspaceDir, "tmpfs", "tmpfs",
            {"nosuid", "nodev", absl::StrCat("size=", config.workspace_bytes),
             "mode=0755"}),
      // Not noexec: the launcher is executed from it.
      Mount(kSandboxBundleDir, "bind", config.launcher_bundle_dir,
            {"rbind", "ro", "nosuid", "nodev"}),
  };
  json namespaces = json::array();
  for (const char* type : {"pid", "network", "ipc", "uts", "mount"}) {
    namespaces.push_back({{"type", type}});
  }
  // No linux.resources: runsc applies none when it joins a cgroup, and the
  // limits live on the per-run parent cgroup that we create (see
  // sandbox_cgroup.h).
  return json{
      {"ociVersion", "1.0.0"},
      {"process", std::move(process)},
      {"root", {{"path", config.rootfs}, {"readonly", true}}},
      {"hostname", "sandbox"},
      {"mounts", std::move(mounts)},
      {"linux",
       {{"cgroupsPath", config.cgroups_path},
        {"namespaces", std::move(namespaces)}}},
  };
}

absl::Status WriteOciBundle(const std::string& bundle_dir,
                            const OciBundleConfig& config) {
  absl::StatusOr<json> document = BuildOciConfig(config);
  if (!document.ok()) return document.status();
  std::string text;
  try {
    text = document->dump(2);
  } catch (const json::exception& e) {
    // dump() throws on invalid UTF-8 (e.g. in args or env values).
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot encode the sandbox config (command and environment must be "
        "valid UTF-8): ",
        e.what()));
  }
  if (mkdir(bundle_dir.c_str(), 0700) != 0) {
    return ErrnoError(errno, "creating OCI bundle directory ", bundle_dir);
  }
  return WriteNewFile(bundle_dir + "/config.json", text, 0600);
}

}  // namespace codeexec
