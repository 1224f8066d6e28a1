#include "server/kube/objects/warm_objects.h"

#include <cstdint>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/launcher/launcher_bundle.h"

namespace codeexec::kube {

using nlohmann::json;

std::string WarmLauncherConfigMapName(const ObjectContext& context) {
  uint32_t hash = 2166136261u;  // FNV-1a: stable across builds and runs
  for (const char c : context.replica) {
    hash = (hash ^ static_cast<unsigned char>(c)) * 16777619u;
  }
  return absl::StrFormat("ce-launcher-%08x", hash);
}

json BuildWarmLauncherConfigMap(const ObjectContext& context) {
  ExecutionSpec named;
  named.execution_id = WarmLauncherConfigMapName(context);
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", ObjectMetadata(named, context)},
          {"immutable", true},
          {"binaryData",
           {{kLauncherKey, absl::Base64Escape(context.launcher_source)}}}};
}

json BuildWarmJob(const ExecutionSpec& shape, const ObjectContext& context,
                  absl::Duration lifetime) {
  json job = BuildJob(shape, context);
  job["spec"]["activeDeadlineSeconds"] = JobActiveDeadlineSeconds(lifetime);
  json& pod = job["spec"]["template"]["spec"];
  json& container = pod["containers"][0];
  container["command"] = LauncherWaitCommand();
  // One attach may write to stdin; when it ends, stdin closes for good.
  container["stdin"] = true;
  container["stdinOnce"] = true;
  for (json& volume : pod["volumes"]) {
    if (!volume.contains("configMap")) continue;
    volume["configMap"]["name"] = WarmLauncherConfigMapName(context);
    volume["configMap"]["items"] = json::array(
        {{{"key", kLauncherKey}, {"path", kLauncherKey}, {"mode", 0555}}});
  }
  return job;
}

}  // namespace codeexec::kube
