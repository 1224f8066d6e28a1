#include "server/kube/objects/objects.h"

#include <algorithm>
#include <cstddef>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/exec/quantity.h"

namespace codeexec::kube {
namespace {

using nlohmann::json;

}  // namespace

json ObjectMetadata(const ExecutionSpec& spec, const ObjectContext& context) {
  json metadata = {{"name", spec.execution_id},
                   {"namespace", context.options->namespace_name},
                   {"labels", ObjectLabels(spec, context)}};
  if (context.owner.has_value() && !context.owner->name.empty() &&
      !context.owner->uid.empty()) {
    // No blockOwnerDeletion: it needs update rights on the owner Pod.
    metadata["ownerReferences"] = json::array({{{"apiVersion", "v1"},
                                                {"kind", "Pod"},
                                                {"name", context.owner->name},
                                                {"uid", context.owner->uid},
                                                {"controller", false}}});
  }
  return metadata;
}

namespace {

json TolerationJson(const Toleration& toleration) {
  json out = json::object();
  if (!toleration.key.empty()) out["key"] = toleration.key;
  if (!toleration.op.empty()) out["operator"] = toleration.op;
  if (!toleration.value.empty()) out["value"] = toleration.value;
  if (!toleration.effect.empty()) out["effect"] = toleration.effect;
  return out;
}

json Tolerations(const KubernetesOptions& options) {
  std::vector<Toleration> all = options.tolerations;
  if (options.runtime_class_name == "gvisor") {
    const Toleration gvisor{"sandbox.gke.io/runtime", "Equal", "gvisor",
                            "NoSchedule"};
    bool present = false;
    for (const Toleration& t : all) {
      present |= t.key == gvisor.key && t.op == gvisor.op &&
                 t.value == gvisor.value && t.effect == gvisor.effect;
    }
    if (!present) all.push_back(gvisor);
  }
  json out = json::array();
  for (const Toleration& t : all) out.push_back(TolerationJson(t));
  return out;
}

json Resources(const ExecutionSpec& spec, const KubernetesOptions& options) {
  const ResourceLimits& r = spec.resources;
  const std::string storage = FormatBytes(options.ephemeral_storage_bytes);
  return {{"requests",
           {{"cpu", FormatCpuMillis(r.cpu_request_millis)},
            {"memory", FormatBytes(r.memory_request_bytes)},
            {"ephemeral-storage", storage}}},
          {"limits",
           {{"cpu", FormatCpuMillis(r.cpu_limit_millis)},
            {"memory", FormatBytes(r.memory_limit_bytes)},
            {"ephemeral-storage", storage}}}};
}

json MemoryEmptyDir(const char* name, int64_t size_bytes) {
  return {{"name", name},
          {"emptyDir",
           {{"medium", "Memory"}, {"sizeLimit", FormatBytes(size_bytes)}}}};
}

json SandboxContainer(const ExecutionSpec& spec,
                      const KubernetesOptions& options) {
  const std::string& image =
      spec.language.image.empty() ? options.default_image : spec.language.image;
  // The program's own environment travels in the request.
  json env = json::array();
  for (const auto& [name, value] : LauncherEnv()) {
    env.push_back({{"name", name}, {"value", value}});
  }
  return {{"name", kSandboxContainerName},
          {"image", image},
          {"imagePullPolicy", options.image_pull_policy},
          {"command", LauncherCommand()},
          {"workingDir", kSandboxWorkspaceDir},
          {"env", std::move(env)},
          {"resources", Resources(spec, options)},
          {"securityContext",
           {{"allowPrivilegeEscalation", false},
            {"readOnlyRootFilesystem", true},
            {"privileged", false},
            {"capabilities", {{"drop", json::array({"ALL"})}}}}},
          {"volumeMounts",
           json::array(
               {{{"name", "bundle"},
                 {"mountPath", kSandboxBundleDir},
                 {"readOnly", true}},
                {{"name", "workspace"}, {"mountPath", kSandboxWorkspaceDir}},
                {{"name", "tmp"}, {"mountPath", kSandboxTmpDir}}})}};
}

// The bundle's files with their modes: the launcher executable, the request
// readable.
json BundleItems() {
  json items = json::array();
  for (const BundleEntry& entry : BundleEntries("", "")) {
    items.push_back({{"key", entry.key},
                     {"path", entry.key},
                     {"mode", entry.executable ? 0555 : 0444}});
  }
  return items;
}

json PodSpec(const ExecutionSpec& spec, const KubernetesOptions& options) {
  json pod = {
      {"restartPolicy", "Never"},
      {"automountServiceAccountToken", false},
      {"enableServiceLinks", false},
      {"terminationGracePeriodSeconds", 1},
      // Name resolution fails at once: no cluster DNS to probe or to tunnel
      // data through, and no wait for timeouts where egress is blocked.
      {"dnsPolicy", "None"},
      {"dnsConfig", {{"nameservers", json::array({"127.0.0.1"})}}},
      {"securityContext",
       {{"runAsNonRoot", true},
        {"runAsUser", options.run_as_user},
        {"runAsGroup", options.run_as_group},
        {"fsGroup", options.run_as_group},
        {"seccompProfile", {{"type", "RuntimeDefault"}}}}},
      {"containers", json::array({SandboxContainer(spec, options)})},
      {"volumes",
       json::array({{{"name", "bundle"},
                     {"configMap",
                      {{"name", spec.execution_id},
                       {"defaultMode", 0444},
                       {"items", BundleItems()}}}},
                    MemoryEmptyDir("workspace", options.workspace_bytes),
                    MemoryEmptyDir("tmp", options.tmp_bytes)})}};
  if (!options.runtime_class_name.empty()) {
    pod["runtimeClassName"] = options.runtime_class_name;
  }
  json tolerations = Tolerations(options);
  if (!tolerations.empty()) pod["tolerations"] = std::move(tolerations);
  if (!options.node_selector.empty()) {
    pod["nodeSelector"] = options.node_selector;
  }
  if (!options.image_pull_secrets.empty()) {
    json secrets = json::array();
    for (const std::string& name : options.image_pull_secrets) {
      secrets.push_back({{"name", name}});
    }
    pod["imagePullSecrets"] = std::move(secrets);
  }
  return pod;
}

std::string ConfigMapTooBig(int64_t code, int64_t files, int64_t stdin_bytes,
                            int64_t overhead) {
  absl::string_view field = "code";
  if (files > code) field = "files";
  if (stdin_bytes > std::max(code, files)) field = "stdin";
  return absl::StrFormat(
      "%s: code (%d bytes), input files (%d bytes) and stdin (%d bytes) "
      "take %d bytes; with the launcher and its request framing (%d bytes) "
      "that "
      "exceeds the 1 MiB ConfigMap limit of the kubernetes backend (at most "
      "%d bytes of code, files and stdin fit)",
      field, code, files, stdin_bytes, code + files + stdin_bytes, overhead,
      std::max<int64_t>(0, kConfigMapMaxBytes - overhead));
}

}  // namespace

json ObjectLabels(const ExecutionSpec& spec, const ObjectContext& context) {
  return {{kManagedByLabel, kManagedByValue},
          {kExecutionIdLabel, spec.execution_id},
          {kReplicaLabel, context.replica}};
}

absl::StatusOr<json> BuildConfigMap(const ExecutionSpec& spec,
                                    const ObjectContext& context) {
  absl::StatusOr<std::string> request = BuildRequest(spec);
  if (!request.ok()) return request.status();
  const int64_t code = static_cast<int64_t>(spec.code.size());
  const int64_t stdin_bytes = static_cast<int64_t>(spec.stdin_data.size());
  int64_t files = 0;
  for (const WorkspaceFile& file : spec.input_files) {
    files += static_cast<int64_t>(file.content.size());
  }
  const int64_t overhead =
      static_cast<int64_t>(context.launcher_source.size() + request->size()) -
      code - files - stdin_bytes;
  if (overhead + code + files + stdin_bytes > kConfigMapMaxBytes) {
    return absl::InvalidArgumentError(
        ConfigMapTooBig(code, files, stdin_bytes, overhead));
  }
  json binary_data = json::object();
  for (const BundleEntry& entry :
       BundleEntries(*request, context.launcher_source)) {
    binary_data[entry.key] = absl::Base64Escape(entry.content);
  }
  return json{{"apiVersion", "v1"},
              {"kind", "ConfigMap"},
              {"metadata", ObjectMetadata(spec, context)},
              // The kubelet need not watch it; we only delete it.
              {"immutable", true},
              {"binaryData", std::move(binary_data)}};
}

json BuildJob(const ExecutionSpec& spec, const ObjectContext& context) {
  const KubernetesOptions& options = *context.options;
  const int64_t ttl =
      std::max<int64_t>(0, absl::ToInt64Seconds(absl::Ceil(
                               options.ttl_after_finished, absl::Seconds(1))));
  return {{"apiVersion", "batch/v1"},
          {"kind", "Job"},
          {"metadata", ObjectMetadata(spec, context)},
          {"spec",
           {{"backoffLimit", 0},
            {"completions", 1},
            {"parallelism", 1},
            {"activeDeadlineSeconds", JobActiveDeadlineSeconds(spec.timeout)},
            {"ttlSecondsAfterFinished", ttl},
            {"template",
             {{"metadata", {{"labels", ObjectLabels(spec, context)}}},
              {"spec", PodSpec(spec, options)}}}}}};
}

int64_t JobActiveDeadlineSeconds(absl::Duration timeout) {
  const int64_t seconds =
      absl::ToInt64Seconds(absl::Ceil(timeout, absl::Seconds(1)));
  return std::max<int64_t>(seconds, 1) + kJobDeadlineGraceSeconds;
}

std::string LabelSelectorForReplica(const std::string& replica) {
  return absl::StrCat(kManagedByLabel, "=", kManagedByValue, ",", kReplicaLabel,
                      "=", replica);
}

std::string LabelSelectorForExecution(const std::string& execution_id) {
  return absl::StrCat(kManagedByLabel, "=", kManagedByValue, ",",
                      kExecutionIdLabel, "=", execution_id);
}

std::string UrlEncode(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' ||
        c == '~') {
      out.push_back(c);
    } else {
      absl::StrAppend(&out,
                      absl::StrFormat("%%%02X", static_cast<unsigned char>(c)));
    }
  }
  return out;
}

std::string ReplicaLabelValue(absl::string_view name) {
  constexpr size_t kMaxLength = 63;
  std::string out;
  for (const char c : name) {
    const bool ok = absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.';
    out.push_back(ok ? c : '-');
  }
  if (out.size() > kMaxLength) {
    uint32_t hash = 2166136261u;  // FNV-1a: stable across builds and runs
    for (const char c : name) {
      hash = (hash ^ static_cast<unsigned char>(c)) * 16777619u;
    }
    out = absl::StrCat(out.substr(0, kMaxLength - 9), "-",
                       absl::StrFormat("%08x", hash));
  }
  const size_t first = out.find_first_not_of("-_.");
  if (first == std::string::npos) return "";
  const size_t last = out.find_last_not_of("-_.");
  return out.substr(first, last - first + 1);
}

}  // namespace codeexec::kube
