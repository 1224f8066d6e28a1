#include "server/exec/execution_spec.h"

namespace codeexec {

std::string_view OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kOk:
      return "ok";
    case Outcome::kNonzeroExit:
      return "nonzero_exit";
    case Outcome::kTimeout:
      return "timeout";
    case Outcome::kOomKilled:
      return "oom_killed";
    case Outcome::kOutputLimit:
      return "output_limit";
    case Outcome::kCancelled:
      return "cancelled";
    case Outcome::kSandboxError:
      return "sandbox_error";
  }
  return "unknown";
}

}  // namespace codeexec
