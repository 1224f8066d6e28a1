// Options of request validation (config sections `limits:` and
// `languages:`): the defaults a request gets and the maxima it may ask for.
// Proto-free, so that config/ can fill it without the generated code.
#ifndef CODEEXEC_SERVER_API_VALIDATOR_OPTIONS_H_
#define CODEEXEC_SERVER_API_VALIDATOR_OPTIONS_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/time/time.h"
#include "server/exec/execution_spec.h"

namespace codeexec {

struct LimitsOptions {
  // Used when the request leaves a limit unset (ADK GkeCodeExecutor's
  // defaults: 300 s, cpu 200m/500m, memory 256Mi/512Mi).
  absl::Duration default_timeout = kDefaultRunTimeout;
  ResourceLimits default_resources;
  int64_t default_max_output_bytes = kDefaultMaxOutputBytes;
  // Upper bounds; a request above one is INVALID_ARGUMENT.
  absl::Duration max_timeout = absl::Seconds(3600);
  int64_t max_cpu_millis = 4000;
  int64_t max_memory_bytes = int64_t{4} << 30;
  int64_t max_output_bytes = int64_t{64} << 20;
  int64_t max_code_bytes = int64_t{512} << 10;
  int64_t max_stdin_bytes = int64_t{1} << 20;
  int max_env_vars = 64;
  int max_input_files = 64;
  // All input files together.
  int64_t max_input_file_bytes = int64_t{8} << 20;
  // Files returned from the workspace after the run. They travel in the
  // Finished message: keep the total under clients' default 4 MiB receive
  // limit, or raise that limit in the clients too.
  int max_output_files = kDefaultMaxOutputFiles;
  int64_t max_output_file_bytes = kDefaultMaxOutputFileBytes;
};

struct ValidatorOptions {
  LimitsOptions limits;
  // Language profiles by name; a request's language must be one of them.
  std::map<std::string, LanguageProfile> languages;
  // Language of a request that names none.
  std::string default_language = "python";
};

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_API_VALIDATOR_OPTIONS_H_
