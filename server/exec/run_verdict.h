// Why a backend stopped a run, and what it concluded about the run: the
// vocabulary both backends' outcome logic (facts in, verdict out) shares.
#ifndef CODEEXEC_SERVER_EXEC_RUN_VERDICT_H_
#define CODEEXEC_SERVER_EXEC_RUN_VERDICT_H_

#include <string>

#include "server/exec/execution_spec.h"

namespace codeexec {

// Why the backend stopped the sandbox, if it did.
enum class StopReason { kNone, kTimeout, kCancelled, kOutputLimit };

struct RunVerdict {
  Outcome outcome = Outcome::kSandboxError;
  int exit_code = -1;
  std::string message;
  bool truncated = false;
};

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_EXEC_RUN_VERDICT_H_
