// The `warmPool:` mapping both backends' sections have (WarmPoolOptions):
// reading and validation. Used by server_config.cc and kubernetes_config.cc.
#ifndef CODEEXEC_SERVER_CONFIG_WARM_POOL_CONFIG_H_
#define CODEEXEC_SERVER_CONFIG_WARM_POOL_CONFIG_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "server/config/yaml_fields.h"
#include "server/exec/warm_pool.h"

namespace codeexec {

// Reads size, maxAge and maxStarting onto `pool`.
void ReadWarmPool(YamlMap map, WarmPoolOptions& pool);

// Range rules; `section` is the mapping's path ("local.warmPool").
absl::Status CheckWarmPool(absl::string_view section,
                           const WarmPoolOptions& pool);

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_CONFIG_WARM_POOL_CONFIG_H_
