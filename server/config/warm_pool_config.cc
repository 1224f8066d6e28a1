#include "server/config/warm_pool_config.h"

#include "absl/strings/str_cat.h"

namespace codeexec {

void ReadWarmPool(YamlMap map, WarmPoolOptions& pool) {
  map.Integer("size", pool.size);
  map.Duration("maxAge", pool.max_age);
  map.Integer("maxStarting", pool.max_starting);
  map.RejectUnknownKeys();
}

absl::Status CheckWarmPool(absl::string_view section,
                           const WarmPoolOptions& pool) {
  if (pool.size < 0 || pool.size > kMaxWarmPoolSize) {
    return ConfigError(absl::StrCat(section, ".size"),
                       absl::StrCat("must be 0 to ", kMaxWarmPoolSize));
  }
  if (pool.max_age < absl::Seconds(1)) {
    return ConfigError(absl::StrCat(section, ".maxAge"), "must be >= 1s");
  }
  if (pool.max_starting < 1 || pool.max_starting > kMaxWarmPoolStarting) {
    return ConfigError(absl::StrCat(section, ".maxStarting"),
                       absl::StrCat("must be 1 to ", kMaxWarmPoolStarting));
  }
  return absl::OkStatus();
}

}  // namespace codeexec
