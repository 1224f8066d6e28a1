// What a backend needs to run one program, already validated and resolved
// against the server's defaults and maxima, and what it reports back.
#ifndef CODEEXEC_SERVER_EXEC_EXECUTION_SPEC_H_
#define CODEEXEC_SERVER_EXEC_EXECUTION_SPEC_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace codeexec {

using EnvVars = std::vector<std::pair<std::string, std::string>>;

// How one language is run. Configured under `languages:` in the server config.
struct LanguageProfile {
  // File in the workspace the code is written to, e.g. "main.py".
  std::string file_name;
  // argv of the program, run in the workspace, e.g. {"python3", "main.py"}.
  std::vector<std::string> command;
  // Container image (kubernetes backend only), e.g. "python:3.11-slim".
  std::string image;
  // Environment every run of this language gets (before the request's env).
  EnvVars env;
  // Read-only root filesystem of its sandboxes (gvisor-local backend only);
  // empty: local.rootfs. It needs only the interpreter `command` names.
  std::string rootfs;
};

// CPU in millicores, memory in bytes (Kubernetes semantics: request is what
// the scheduler reserves, limit is what the sandbox may use).
struct ResourceLimits {
  int64_t cpu_request_millis = 200;
  int64_t cpu_limit_millis = 500;
  int64_t memory_request_bytes = int64_t{256} << 20;
  int64_t memory_limit_bytes = int64_t{512} << 20;
};

// A run's limits when nothing else is said: the defaults of LimitsOptions
// (config `limits:`) and of an ExecutionSpec built in code.
inline constexpr absl::Duration kDefaultRunTimeout = absl::Seconds(300);
inline constexpr int64_t kDefaultMaxOutputBytes = int64_t{10} << 20;
inline constexpr int kDefaultMaxOutputFiles = 32;
inline constexpr int64_t kDefaultMaxOutputFileBytes = int64_t{2} << 20;

struct WorkspaceFile {
  std::string path;  // relative to the workspace, normalised, no ".."
  std::string content;
};

struct ExecutionSpec {
  // "ce-" + 12 hex digits; also names the sandbox and its objects.
  std::string execution_id;
  std::string client_request_id;
  std::string language_name;
  LanguageProfile language;
  std::string code;
  std::string stdin_data;
  // Request env after the profile's env; later entries win.
  EnvVars env;
  std::vector<WorkspaceFile> input_files;
  absl::Duration timeout = kDefaultRunTimeout;
  ResourceLimits resources;
  // stdout + stderr together; reaching it kills the run (OUTPUT_LIMIT).
  int64_t max_output_bytes = kDefaultMaxOutputBytes;
  // Caps on the files returned from the workspace.
  int max_output_files = kDefaultMaxOutputFiles;
  int64_t max_output_file_bytes = kDefaultMaxOutputFileBytes;
};

enum class Outcome {
  kOk,
  kNonzeroExit,
  kTimeout,
  kOomKilled,
  kOutputLimit,
  kCancelled,
  kSandboxError,
};

// Stable lower-case name, used as a metrics label and in logs ("ok", ...).
std::string_view OutcomeName(Outcome outcome);

enum class OutputStream { kStdout, kStderr };

// Zero means the phase did not happen (or does not exist for the backend).
struct PhaseTimings {
  absl::Duration queue;
  absl::Duration create;
  absl::Duration schedule;
  absl::Duration start;
  absl::Duration run;
  absl::Duration cleanup;
};

struct ExecutionResult {
  Outcome outcome = Outcome::kSandboxError;
  int exit_code = -1;
  std::string message;
  bool truncated = false;  // output cut at max_output_bytes
  std::vector<WorkspaceFile> output_files;
  bool output_files_truncated = false;
  PhaseTimings timings;
  // A session's cell only: the session ended with it (its interpreter
  // exited, or its sandbox died or had to be killed); `message` says why.
  bool session_ended = false;
};

// A run the sandbox failed (kSandboxError), `message` saying how.
inline ExecutionResult SandboxErrorResult(std::string message) {
  ExecutionResult result;
  result.outcome = Outcome::kSandboxError;
  result.message = std::move(message);
  return result;
}

// A backend whose Run ends in an error status (a failure of the service)
// attaches the phases the run got through, so that the metrics still count
// them; the dispatcher reads them back. The payload never reaches a client.
absl::Status WithPhaseTimings(absl::Status status, const PhaseTimings& timings);
// The timings WithPhaseTimings attached; all zero if none.
PhaseTimings PhaseTimingsOf(const absl::Status& status);

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_EXEC_EXECUTION_SPEC_H_
