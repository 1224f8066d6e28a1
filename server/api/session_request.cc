#include "server/api/session_request.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/api/field_error.h"
#include "server/api/request_validator.h"
#include "server/exec/quantity.h"

namespace codeexec {
namespace {

using codeexecutor::v1::CreateSessionRequest;
using codeexecutor::v1::ExecuteRequest;

// A duration field: 0 takes `fallback`; negative or above `maximum` is an
// error naming the field.
absl::StatusOr<absl::Duration> SessionDuration(
    const char* field, const google::protobuf::Duration& value,
    absl::Duration fallback, absl::Duration maximum, const char* option) {
  if (value.seconds() < 0 || value.nanos() < 0) {
    return FieldError(field, "must not be negative");
  }
  if (value.seconds() == 0 && value.nanos() == 0) return fallback;
  const absl::Duration asked =
      absl::Seconds(value.seconds()) + absl::Nanoseconds(value.nanos());
  if (asked > maximum) {
    return FieldError(
        field,
        absl::StrCat(absl::FormatDuration(asked), " exceeds the maximum of ",
                     absl::FormatDuration(maximum), " (", option, ")"));
  }
  return asked;
}

}  // namespace

absl::StatusOr<SessionShape> BuildSessionShape(
    const CreateSessionRequest& request, const ValidatorOptions& options,
    const SessionOptions& sessions) {
  // The same checks as an Execute's, on the fields the two share; the code
  // is a placeholder (a session starts without one).
  ExecuteRequest as_execute;
  as_execute.set_code("\n");
  as_execute.set_language(request.language());
  *as_execute.mutable_env() = request.env();
  *as_execute.mutable_files() = request.files();
  *as_execute.mutable_limits() = request.limits();
  as_execute.set_client_request_id(request.client_request_id());
  absl::StatusOr<ExecutionSpec> spec =
      BuildExecutionSpec(as_execute, options, std::nullopt);
  if (!spec.ok()) return spec.status();
  SessionShape shape;
  shape.files = std::move(spec->input_files);
  spec->input_files.clear();
  spec->code.clear();
  shape.shape = *std::move(spec);
  absl::StatusOr<absl::Duration> idle = SessionDuration(
      "idle_timeout", request.idle_timeout(), sessions.default_idle_timeout,
      sessions.max_idle_timeout, "sessions.maxIdleTimeout");
  if (!idle.ok()) return idle.status();
  absl::StatusOr<absl::Duration> lifetime = SessionDuration(
      "max_lifetime", request.max_lifetime(), sessions.default_max_lifetime,
      sessions.max_lifetime, "sessions.maxLifetime");
  if (!lifetime.ok()) return lifetime.status();
  shape.idle_timeout = *idle;
  shape.max_lifetime = *lifetime;
  return shape;
}

absl::StatusOr<ExecutionSpec> BuildCellSpec(
    const ExecuteRequest& request, const ExecutionSpec& shape,
    const ValidatorOptions& options,
    std::optional<absl::Duration> time_to_deadline) {
  const auto& limits = request.limits();
  const std::pair<const char*, bool> fixed[] = {
      {"language", !request.language().empty()},
      {"env", request.env_size() > 0},
      {"stdin", !request.stdin().empty()},
      {"limits.cpu_requested", !limits.cpu_requested().empty()},
      {"limits.cpu_limit", !limits.cpu_limit().empty()},
      {"limits.memory_requested", !limits.memory_requested().empty()},
      {"limits.memory_limit", !limits.memory_limit().empty()},
  };
  for (const auto& [field, set] : fixed) {
    if (set) {
      return FieldError(field,
                        "must be empty in a session's cell: the session "
                        "fixes it (CreateSession)");
    }
  }
  ExecuteRequest cell = request;
  cell.set_language(shape.language_name);
  if (limits.timeout_seconds() == 0) {
    cell.mutable_limits()->set_timeout_seconds(static_cast<uint32_t>(
        std::max<int64_t>(1, absl::ToInt64Seconds(shape.timeout))));
  }
  if (limits.max_output_bytes() == 0) {
    cell.mutable_limits()->set_max_output_bytes(
        static_cast<uint64_t>(shape.max_output_bytes));
  }
  absl::StatusOr<ExecutionSpec> spec =
      BuildExecutionSpec(cell, options, time_to_deadline);
  if (!spec.ok()) return spec.status();
  spec->env = shape.env;
  spec->resources = shape.resources;
  return spec;
}

void FillSessionLimits(const ExecutionSpec& shape,
                       codeexecutor::v1::Limits* limits) {
  limits->set_timeout_seconds(
      static_cast<uint32_t>(absl::ToInt64Seconds(shape.timeout)));
  limits->set_cpu_requested(
      FormatCpuMillis(shape.resources.cpu_request_millis));
  limits->set_cpu_limit(FormatCpuMillis(shape.resources.cpu_limit_millis));
  limits->set_memory_requested(
      FormatBytes(shape.resources.memory_request_bytes));
  limits->set_memory_limit(FormatBytes(shape.resources.memory_limit_bytes));
  limits->set_max_output_bytes(static_cast<uint64_t>(shape.max_output_bytes));
}

}  // namespace codeexec
