#include "server/local/run_outcome.h"

#include <sys/wait.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "server/exec/quantity.h"
#include "server/local/io_pump.h"
#include "server/local/runsc_process.h"

namespace codeexec {
namespace {

constexpr int kSigkillExitCode = 128 + SIGKILL;

}  // namespace

bool LooksOomKilled(int exit_code, const CgroupMemoryEvents& memory,
                    int64_t memory_limit_bytes) {
  if (exit_code != kSigkillExitCode || memory_limit_bytes <= 0) return false;
  return memory.limit_hits > 0 || memory.oom_kills > 0 ||
         memory.peak_bytes >= memory_limit_bytes / 100 * 95;
}

RunVerdict ClassifyRun(const RunFacts& facts) {
  RunVerdict verdict;
  verdict.exit_code = ShellExitCode(facts.wait_status);
  verdict.truncated = facts.output_truncated;
  switch (facts.stop_reason) {
    case StopReason::kTimeout:
      verdict.outcome = Outcome::kTimeout;
      verdict.message =
          absl::StrCat("timed out after ", absl::FormatDuration(facts.timeout));
      return verdict;
    case StopReason::kCancelled:
      verdict.outcome = Outcome::kCancelled;
      verdict.message =
          facts.cancel_reason.empty() ? "cancelled" : facts.cancel_reason;
      return verdict;
    case StopReason::kOutputLimit:
      verdict.outcome = Outcome::kOutputLimit;
      verdict.truncated = true;
      verdict.message = absl::StrCat(
          "output limit of ", FormatBytes(facts.max_output_bytes),
          " (stdout and stderr together) exceeded; the program was stopped");
      return verdict;
    case StopReason::kNone:
      break;
  }
  if (verdict.exit_code != 0 && LooksLikeRunscError(facts.held_stderr)) {
    verdict.outcome = Outcome::kSandboxError;
    verdict.exit_code = -1;  // the program never ran
    verdict.program_ran = false;
    verdict.message =
        absl::StrCat("gVisor (runsc) could not run the program: ",
                     absl::StripAsciiWhitespace(facts.held_stderr));
    return verdict;
  }
  if (WIFSIGNALED(facts.wait_status)) {
    // runsc itself died of a signal nobody here sent.
    verdict.outcome = Outcome::kSandboxError;
    verdict.message =
        absl::StrCat("the gVisor sandbox (runsc) was killed by signal ",
                     WTERMSIG(facts.wait_status));
    return verdict;
  }
  if (verdict.exit_code == 0) {
    // A program that wrote more than the cap and then exited still had its
    // output cut.
    verdict.outcome =
        facts.output_truncated ? Outcome::kOutputLimit : Outcome::kOk;
  } else if (LooksOomKilled(verdict.exit_code, facts.memory,
                            facts.memory_limit_bytes)) {
    verdict.outcome = Outcome::kOomKilled;
    verdict.message = absl::StrCat(
        "memory limit ", FormatBytes(facts.memory_limit_bytes), " exceeded");
    return verdict;
  } else {
    verdict.outcome =
        facts.output_truncated ? Outcome::kOutputLimit : Outcome::kNonzeroExit;
    verdict.message =
        verdict.exit_code > 128
            ? absl::StrCat("killed by signal ", verdict.exit_code - 128,
                           " (exit code ", verdict.exit_code, ")")
            : absl::StrCat("exited with code ", verdict.exit_code);
  }
  if (verdict.outcome == Outcome::kOutputLimit) {
    verdict.message = absl::StrCat(
        "output limit of ", FormatBytes(facts.max_output_bytes),
        " (stdout and stderr together) exceeded; output was truncated");
  }
  return verdict;
}

}  // namespace codeexec
