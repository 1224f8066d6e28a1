#include "tests/fake_kube/pod_volumes.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "server/exec/quantity.h"
#include "server/local/fs_util.h"
#include "tests/fake_kube/kube_json.h"
#include "tests/fake_kube/object_store.h"

namespace codeexec::fake_kube {
namespace {

using json = nlohmann::json;

constexpr int kDefaultConfigMapMode = 0644;

json Mount(const std::string& destination, const std::string& type,
           const std::string& source, std::vector<std::string> options) {
  return {{"destination", destination},
          {"type", type},
          {"source", source},
          {"options", std::move(options)}};
}

// Files `relative path -> (content, mode)` a configMap volume shows.
absl::StatusOr<std::map<std::string, std::pair<std::string, int>>>
ConfigMapFiles(const json& source, const json& config_map) {
  std::map<std::string, std::string> values;
  const json& data = JsonAt(config_map, {"data"});
  if (data.is_object()) {
    for (const auto& [key, value] : data.items()) {
      values[key] = value.get<std::string>();
    }
  }
  const json& binary = JsonAt(config_map, {"binaryData"});
  if (binary.is_object()) {
    for (const auto& [key, value] : binary.items()) {
      std::string decoded;
      absl::Base64Unescape(value.get<std::string>(), &decoded);
      values[key] = std::move(decoded);
    }
  }
  const int default_mode = source.value("defaultMode", kDefaultConfigMapMode);
  std::map<std::string, std::pair<std::string, int>> files;
  const json& items = JsonAt(source, {"items"});
  if (!items.is_array()) {
    for (auto& [key, value] : values) {
      files[key] = {std::move(value), default_mode};
    }
    return files;
  }
  for (const json& item : items) {
    const std::string key = item.value("key", "");
    auto it = values.find(key);
    if (it == values.end()) {
      return absl::NotFoundError(
          absl::StrCat("configmap references non-existent config key: ", key));
    }
    files[item.value("path", key)] = {it->second,
                                      item.value("mode", default_mode)};
  }
  return files;
}

absl::Status MakeDirs(const std::string& base, const std::string& relative) {
  std::string path = base;
  for (absl::string_view part :
       absl::StrSplit(relative, '/', absl::SkipEmpty())) {
    absl::StrAppend(&path, "/", part);
    if (mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
      return ErrnoError(errno, "creating ", path);
    }
  }
  return absl::OkStatus();
}

// Writes the kubelet's atomic-writer layout into `dir`.
absl::Status WriteConfigMapVolume(
    const std::string& dir,
    const std::map<std::string, std::pair<std::string, int>>& files) {
  const absl::Time now = absl::Now();
  const std::string data_dir_name = absl::StrCat(
      "..", absl::FormatTime("%Y_%m_%d_%H_%M_%S.", now, absl::UTCTimeZone()),
      absl::ToUnixNanos(now) % 1000000000);
  const std::string data_dir = absl::StrCat(dir, "/", data_dir_name);
  if (mkdir(dir.c_str(), 0755) != 0) return ErrnoError(errno, "creating ", dir);
  if (mkdir(data_dir.c_str(), 0755) != 0) {
    return ErrnoError(errno, "creating ", data_dir);
  }
  std::map<std::string, bool> top_level;
  for (const auto& [path, content_and_mode] : files) {
    const size_t slash = path.rfind('/');
    if (slash != std::string::npos) {
      absl::Status made = MakeDirs(data_dir, path.substr(0, slash));
      if (!made.ok()) return made;
    }
    const std::string file = absl::StrCat(data_dir, "/", path);
    absl::Status written =
        WriteNewFile(file, content_and_mode.first, content_and_mode.second);
    if (!written.ok()) return written;
    chmod(file.c_str(), content_and_mode.second);  // not reduced by umask
    top_level[path.substr(0, path.find('/'))] = true;
  }
  if (symlink(data_dir_name.c_str(), (dir + "/..data").c_str()) != 0) {
    return ErrnoError(errno, "linking ..data in ", dir);
  }
  for (const auto& [name, unused] : top_level) {
    if (symlink(absl::StrCat("..data/", name).c_str(),
                absl::StrCat(dir, "/", name).c_str()) != 0) {
      return ErrnoError(errno, "linking ", name, " in ", dir);
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<json>> PrepareVolumeMounts(
    const json& pod, const ObjectStore& store, const std::string& volumes_dir) {
  const std::string ns = MetadataString(pod, "namespace");
  std::map<std::string, json> volumes;
  const json& pod_volumes = JsonAt(pod, {"spec", "volumes"});
  if (pod_volumes.is_array()) {
    for (const json& volume : pod_volumes) {
      volumes[volume.value("name", "")] = volume;
    }
  }
  std::vector<json> mounts;
  const json& volume_mounts = JsonAt(pod, {"spec", "containers"})[0].value(
      "volumeMounts", json::array());
  for (const json& volume_mount : volume_mounts) {
    const std::string name = volume_mount.value("name", "");
    const std::string path = volume_mount.value("mountPath", "");
    const bool read_only = volume_mount.value("readOnly", false);
    if (volume_mount.contains("subPath") ||
        volume_mount.contains("subPathExpr")) {
      return absl::FailedPreconditionError(
          "subPath is not supported by the fake kubelet");
    }
    auto volume = volumes.find(name);
    if (volume == volumes.end()) {
      return absl::FailedPreconditionError(
          absl::StrCat("volume \"", name, "\" is not defined"));
    }
    if (volume->second.contains("emptyDir")) {
      const json& empty_dir = volume->second["emptyDir"];
      std::vector<std::string> options = {"nosuid", "nodev", "mode=0777"};
      if (empty_dir.contains("sizeLimit")) {
        absl::StatusOr<int64_t> size =
            ParseBytes(QuantityText(empty_dir["sizeLimit"]));
        if (!size.ok())
          return absl::FailedPreconditionError(size.status().message());
        options.push_back(absl::StrCat("size=", *size));
      }
      if (read_only) options.push_back("ro");
      mounts.push_back(Mount(path, "tmpfs", "tmpfs", std::move(options)));
    } else if (volume->second.contains("configMap")) {
      const json& source = volume->second["configMap"];
      const std::string config_map_name = source.value("name", "");
      absl::StatusOr<json> config_map =
          store.Get({&kConfigMaps, ns, config_map_name, ""});
      std::map<std::string, std::pair<std::string, int>> files;
      if (config_map.ok()) {
        auto listed = ConfigMapFiles(source, *config_map);
        if (!listed.ok()) return listed.status();
        files = *std::move(listed);
      } else if (!source.value("optional", false)) {
        return absl::NotFoundError(
            absl::StrCat("MountVolume.SetUp failed for volume \"", name,
                         "\" : configmap \"", config_map_name, "\" not found"));
      }
      const std::string dir = absl::StrCat(volumes_dir, "/", name);
      absl::Status written = WriteConfigMapVolume(dir, files);
      if (!written.ok()) return written;
      mounts.push_back(
          Mount(path, "bind", dir, {"rbind", "ro", "nosuid", "nodev"}));
    } else {
      return absl::FailedPreconditionError(
          absl::StrCat("volume \"", name,
                       "\": only configMap and emptyDir volumes are faked"));
    }
  }
  return mounts;
}

}  // namespace codeexec::fake_kube
