// Test helpers: field-by-field comparison of configurations (gtest
// expectations, so every differing field is reported).
#ifndef CODEEXEC_SERVER_CONFIG_SERVER_CONFIG_TEST_UTIL_H_
#define CODEEXEC_SERVER_CONFIG_SERVER_CONFIG_TEST_UTIL_H_

#include "server/config/server_config.h"
#include "server/kube/kube_options.h"

namespace codeexec {

// Every field of ServerConfig.
void ExpectSameConfig(const ServerConfig& actual, const ServerConfig& expected);

// Every field of the `kubernetes` section.
void ExpectSameKubernetes(const kube::KubernetesOptions& actual,
                          const kube::KubernetesOptions& expected);

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_CONFIG_SERVER_CONFIG_TEST_UTIL_H_
