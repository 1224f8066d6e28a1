// Validation of the session calls (errors are INVALID_ARGUMENT naming the
// field): CreateSession's request into the shape of its cells, and an
// Execute with a session_id into one cell's spec.
#ifndef CODEEXEC_SERVER_API_SESSION_REQUEST_H_
#define CODEEXEC_SERVER_API_SESSION_REQUEST_H_

#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "codeexecutor/v1/code_executor.pb.h"
#include "server/api/validator_options.h"
#include "server/exec/execution_spec.h"
#include "server/exec/session_options.h"

namespace codeexec {

struct SessionShape {
  // Language, env, resources, output caps, the cells' default timeout and
  // the client_request_id; no code.
  ExecutionSpec shape;
  // Into the workspace with the first cell.
  std::vector<WorkspaceFile> files;
  absl::Duration idle_timeout;
  absl::Duration max_lifetime;
};

// Every field checked as ExecuteRequest's (language, env, files, limits,
// client_request_id) and the timeouts against `sessions`' maxima.
absl::StatusOr<SessionShape> BuildSessionShape(
    const codeexecutor::v1::CreateSessionRequest& request,
    const ValidatorOptions& options, const SessionOptions& sessions);

// The cell `request` asks of a session of `shape`: the fields the session
// fixes (language, env, stdin, CPU and memory) must be empty; code, files,
// the timeout (default: the session's) and the output cap are the cell's.
absl::StatusOr<ExecutionSpec> BuildCellSpec(
    const codeexecutor::v1::ExecuteRequest& request, const ExecutionSpec& shape,
    const ValidatorOptions& options,
    std::optional<absl::Duration> time_to_deadline);

// What Session reports of `shape` (the applied limits).
void FillSessionLimits(const ExecutionSpec& shape,
                       codeexecutor::v1::Limits* limits);

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_API_SESSION_REQUEST_H_
