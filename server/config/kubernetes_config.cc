#include "server/config/kubernetes_config.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/config/warm_pool_config.h"
#include "server/config/yaml_fields.h"
#include "server/exec/execution_spec.h"
#include "server/kube/kube_options.h"

namespace codeexec {
namespace {

// The uid/gid range the API server accepts.
constexpr int64_t kMaxId = 2147483647;

constexpr absl::string_view kLabelRule =
    "at most 63 lowercase letters, digits or '-', starting and ending with a "
    "letter or digit";
constexpr absl::string_view kSubdomainRule =
    "'.'-separated parts of lowercase letters, digits or '-', each starting "
    "and ending with a letter or digit; at most 253 characters";
constexpr absl::string_view kLabelKeyRule =
    "[prefix/]name: the name at most 63 letters, digits, '-', '_' or '.', "
    "starting and ending with a letter or digit; the prefix a DNS-1123 "
    "subdomain";
constexpr absl::string_view kLabelValueRule =
    "empty, or at most 63 letters, digits, '-', '_' or '.', starting and "
    "ending with a letter or digit";

bool IsLowerAlnum(char c) {
  return absl::ascii_islower(c) || absl::ascii_isdigit(c);
}

// [a-z0-9]([-a-z0-9]*[a-z0-9])?
bool IsLabelShaped(absl::string_view text) {
  if (text.empty() || !IsLowerAlnum(text.front()) ||
      !IsLowerAlnum(text.back())) {
    return false;
  }
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return IsLowerAlnum(c) || c == '-'; });
}

bool IsDns1123Label(absl::string_view text) {
  return text.size() <= 63 && IsLabelShaped(text);
}

bool IsDns1123Subdomain(absl::string_view text) {
  if (text.size() > 253) return false;
  for (absl::string_view part : absl::StrSplit(text, '.')) {
    if (!IsLabelShaped(part)) return false;
  }
  return true;
}

// The name of a label key, or a non-empty label value:
// [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?, at most 63 characters.
bool IsLabelName(absl::string_view text) {
  if (text.empty() || text.size() > 63 || !absl::ascii_isalnum(text.front()) ||
      !absl::ascii_isalnum(text.back())) {
    return false;
  }
  return std::all_of(text.begin(), text.end(), [](char c) {
    return absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.';
  });
}

bool IsLabelKey(absl::string_view text) {
  const size_t slash = text.find('/');
  if (slash == absl::string_view::npos) return IsLabelName(text);
  return IsDns1123Subdomain(text.substr(0, slash)) &&
         IsLabelName(text.substr(slash + 1));
}

bool IsLabelValue(absl::string_view text) {
  return text.empty() || IsLabelName(text);
}

absl::Status CheckPositive(absl::string_view path, int64_t value) {
  if (value > 0) return absl::OkStatus();
  return ConfigError(path, "must be greater than zero");
}

absl::Status CheckPositive(absl::string_view path, absl::Duration value) {
  if (value > absl::ZeroDuration()) return absl::OkStatus();
  return ConfigError(path, "must be greater than zero");
}

absl::Status CheckId(absl::string_view path, int64_t value, int64_t min,
                     absl::string_view why) {
  if (value >= min && value <= kMaxId) return absl::OkStatus();
  return ConfigError(path, absl::StrCat("must be between ", min, " and ",
                                        kMaxId, why, ", got ", value));
}

absl::Status ValidateToleration(const std::string& path,
                                const kube::Toleration& toleration) {
  const bool exists = toleration.op == "Exists";
  if (!exists && toleration.op != "Equal") {
    return ConfigError(JoinKeyPath(path, "operator"),
                       absl::StrCat("must be \"Equal\" or \"Exists\", got ",
                                    Quoted(toleration.op)));
  }
  const std::string key_path = JoinKeyPath(path, "key");
  if (toleration.key.empty() && !exists) {
    return ConfigError(key_path,
                       "must not be empty unless operator is \"Exists\" (which "
                       "then tolerates every taint)");
  }
  if (!toleration.key.empty() && !IsLabelKey(toleration.key)) {
    return ConfigError(key_path,
                       absl::StrCat("must be a label key (", kLabelKeyRule,
                                    "), got ", Quoted(toleration.key)));
  }
  const std::string value_path = JoinKeyPath(path, "value");
  if (exists && !toleration.value.empty()) {
    return ConfigError(
        value_path, absl::StrCat("must be empty when operator is \"Exists\", "
                                 "got ",
                                 Quoted(toleration.value)));
  }
  if (!IsLabelValue(toleration.value)) {
    return ConfigError(value_path,
                       absl::StrCat("must be a label value (", kLabelValueRule,
                                    "), got ", Quoted(toleration.value)));
  }
  const std::string& effect = toleration.effect;
  if (!effect.empty() && effect != "NoSchedule" &&
      effect != "PreferNoSchedule" && effect != "NoExecute") {
    return ConfigError(
        JoinKeyPath(path, "effect"),
        absl::StrCat("must be \"NoSchedule\", \"PreferNoSchedule\", "
                     "\"NoExecute\" or empty, got ",
                     Quoted(effect)));
  }
  return absl::OkStatus();
}

// Names and scheduling: what the API server would reject in every Job.
absl::Status ValidateNames(const kube::KubernetesOptions& kubernetes) {
  if (!IsDns1123Label(kubernetes.namespace_name)) {
    return ConfigError(
        "kubernetes.namespace",
        absl::StrCat("must be a DNS-1123 label (", kLabelRule, "), got ",
                     Quoted(kubernetes.namespace_name)));
  }
  if (kubernetes.default_image.empty()) {
    return ConfigError("kubernetes.defaultImage", "must not be empty");
  }
  const std::string& policy = kubernetes.image_pull_policy;
  if (policy != "Always" && policy != "IfNotPresent" && policy != "Never") {
    return ConfigError("kubernetes.imagePullPolicy",
                       absl::StrCat("must be \"Always\", \"IfNotPresent\" or "
                                    "\"Never\", got ",
                                    Quoted(policy)));
  }
  for (size_t i = 0; i < kubernetes.image_pull_secrets.size(); ++i) {
    const std::string& name = kubernetes.image_pull_secrets[i];
    if (!IsDns1123Subdomain(name)) {
      return ConfigError(absl::StrCat("kubernetes.imagePullSecrets[", i, "]"),
                         absl::StrCat("must be a DNS-1123 subdomain (",
                                      kSubdomainRule, "), got ", Quoted(name)));
    }
  }
  if (!kubernetes.runtime_class_name.empty() &&
      !IsDns1123Subdomain(kubernetes.runtime_class_name)) {
    return ConfigError(
        "kubernetes.runtimeClassName",
        absl::StrCat("must be empty or a DNS-1123 subdomain (", kSubdomainRule,
                     "), got ", Quoted(kubernetes.runtime_class_name)));
  }
  for (const auto& [key, value] : kubernetes.node_selector) {
    if (!IsLabelKey(key)) {
      return ConfigError("kubernetes.nodeSelector",
                         absl::StrCat("invalid label key ", Quoted(key),
                                      " (expected ", kLabelKeyRule, ")"));
    }
    if (!IsLabelValue(value)) {
      return ConfigError(
          JoinKeyPath("kubernetes.nodeSelector", key),
          absl::StrCat("must be a label value (", kLabelValueRule, "), got ",
                       Quoted(value)));
    }
  }
  for (size_t i = 0; i < kubernetes.tolerations.size(); ++i) {
    absl::Status status =
        ValidateToleration(absl::StrCat("kubernetes.tolerations[", i, "]"),
                           kubernetes.tolerations[i]);
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

void ReadToleration(YamlMap map, kube::Toleration& toleration) {
  map.String("key", toleration.key);
  map.String("operator", toleration.op);
  map.String("value", toleration.value);
  map.String("effect", toleration.effect);
  map.RejectUnknownKeys();
}

}  // namespace

void ReadKubernetesSection(YamlMap map, kube::KubernetesOptions& kubernetes) {
  map.String("namespace", kubernetes.namespace_name);
  map.String("kubeconfigPath", kubernetes.kubeconfig_path);
  map.String("kubeconfigContext", kubernetes.kubeconfig_context);
  map.String("defaultImage", kubernetes.default_image);
  map.String("imagePullPolicy", kubernetes.image_pull_policy);
  map.StringList("imagePullSecrets", kubernetes.image_pull_secrets);
  map.String("runtimeClassName", kubernetes.runtime_class_name);
  EnvVars node_selector;
  if (map.StringMap("nodeSelector", node_selector)) {
    kubernetes.node_selector = {node_selector.begin(), node_selector.end()};
  }
  if (std::optional<std::vector<YamlMap>> items = map.MapList("tolerations")) {
    std::vector<kube::Toleration> tolerations;
    for (YamlMap& item : *items) {
      kube::Toleration toleration;
      toleration.op = "Equal";  // The API's default.
      ReadToleration(std::move(item), toleration);
      tolerations.push_back(std::move(toleration));
    }
    if (map.ok()) kubernetes.tolerations = std::move(tolerations);
  }
  map.Integer("runAsUser", kubernetes.run_as_user);
  map.Integer("runAsGroup", kubernetes.run_as_group);
  map.Bytes("workspaceSize", kubernetes.workspace_bytes);
  map.Bytes("tmpSize", kubernetes.tmp_bytes);
  map.Bytes("ephemeralStorage", kubernetes.ephemeral_storage_bytes);
  map.Duration("ttlAfterFinished", kubernetes.ttl_after_finished);
  map.Duration("scheduleTimeout", kubernetes.schedule_timeout);
  map.Double("qps", kubernetes.qps);
  map.Integer("burst", kubernetes.burst);
  map.Duration("requestTimeout", kubernetes.request_timeout);
  map.Duration("janitorInterval", kubernetes.janitor_interval);
  ReadWarmPool(map.Map("warmPool"), kubernetes.warm_pool);
  map.RejectUnknownKeys();
}

absl::Status ValidateKubernetesSection(
    const kube::KubernetesOptions& kubernetes) {
  if (absl::Status status = ValidateNames(kubernetes); !status.ok()) {
    return status;
  }
  if (!(kubernetes.qps > 0) || !std::isfinite(kubernetes.qps)) {
    return ConfigError(
        "kubernetes.qps",
        absl::StrCat("must be a finite number greater than zero, "
                     "got ",
                     kubernetes.qps));
  }
  if (kubernetes.burst < 1)
    return ConfigError("kubernetes.burst", "must be >= 1");
  if (absl::Status pool =
          CheckWarmPool("kubernetes.warmPool", kubernetes.warm_pool);
      !pool.ok()) {
    return pool;
  }
  for (const absl::Status& status : {
           CheckId("kubernetes.runAsUser", kubernetes.run_as_user, 1,
                   " (sandbox pods run as non-root)"),
           CheckId("kubernetes.runAsGroup", kubernetes.run_as_group, 0, ""),
           // A memory emptyDir without a size limit is bounded only by the
           // pod's memory limit.
           CheckPositive("kubernetes.workspaceSize",
                         kubernetes.workspace_bytes),
           CheckPositive("kubernetes.tmpSize", kubernetes.tmp_bytes),
           CheckPositive("kubernetes.ephemeralStorage",
                         kubernetes.ephemeral_storage_bytes),
           CheckPositive("kubernetes.ttlAfterFinished",
                         kubernetes.ttl_after_finished),
           CheckPositive("kubernetes.scheduleTimeout",
                         kubernetes.schedule_timeout),
           CheckPositive("kubernetes.requestTimeout",
                         kubernetes.request_timeout),
           CheckPositive("kubernetes.janitorInterval",
                         kubernetes.janitor_interval),
       }) {
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

}  // namespace codeexec
