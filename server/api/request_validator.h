// Turns an ExecuteRequest into an ExecutionSpec: checks every field (errors
// are INVALID_ARGUMENT naming the field) and resolves defaults and maxima.
#ifndef CODEEXEC_SERVER_API_REQUEST_VALIDATOR_H_
#define CODEEXEC_SERVER_API_REQUEST_VALIDATOR_H_

#include <optional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "codeexecutor/v1/code_executor.pb.h"
#include "server/api/validator_options.h"
#include "server/exec/execution_spec.h"

namespace codeexec {

// Validates `request` and builds the spec (execution_id left empty).
// `deadline` is the call's deadline, if any: the run's timeout is capped so
// that Finished can still reach the client before it.
absl::StatusOr<ExecutionSpec> BuildExecutionSpec(
    const codeexecutor::v1::ExecuteRequest& request,
    const ValidatorOptions& options,
    std::optional<absl::Duration> time_to_deadline);

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_API_REQUEST_VALIDATOR_H_
