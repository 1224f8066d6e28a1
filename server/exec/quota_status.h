// RESOURCE_EXHAUSTED because a caller is over one of its quotas
// (server.quotas), told apart from a replica that is full (queue, sessions)
// by a payload: the rejection metric counts the two apart.
#ifndef CODEEXEC_SERVER_EXEC_QUOTA_STATUS_H_
#define CODEEXEC_SERVER_EXEC_QUOTA_STATUS_H_

#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/cord.h"

namespace codeexec {

inline constexpr std::string_view kQuotaExceededPayload =
    "type.codeexec.dev/QuotaExceeded";

inline absl::Status QuotaExceededError(std::string_view message) {
  absl::Status status = absl::ResourceExhaustedError(std::string(message));
  status.SetPayload(std::string(kQuotaExceededPayload), absl::Cord("1"));
  return status;
}

inline bool IsQuotaExceeded(const absl::Status& status) {
  return status.GetPayload(std::string(kQuotaExceededPayload)).has_value();
}

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_EXEC_QUOTA_STATUS_H_
