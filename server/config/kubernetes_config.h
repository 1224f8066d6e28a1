// The `kubernetes:` section of the server config (kube::KubernetesOptions):
// reading and validation. Used by server_config.cc and
// server_config_validation.cc only.
#ifndef CODEEXEC_SERVER_CONFIG_KUBERNETES_CONFIG_H_
#define CODEEXEC_SERVER_CONFIG_KUBERNETES_CONFIG_H_

#include "absl/status/status.h"
#include "server/config/yaml_fields.h"
#include "server/kube/kube_options.h"

namespace codeexec {

// Reads the `kubernetes` mapping onto `kubernetes` (absent keys keep their
// value). Errors go to the map's shared status.
void ReadKubernetesSection(YamlMap map, kube::KubernetesOptions& kubernetes);

// Range and syntax rules of the section (the API server's own rules for
// names, labels and tolerations, so mistakes stop the server at start-up
// rather than failing every run). Errors name the YAML key path.
absl::Status ValidateKubernetesSection(
    const kube::KubernetesOptions& kubernetes);

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_CONFIG_KUBERNETES_CONFIG_H_
