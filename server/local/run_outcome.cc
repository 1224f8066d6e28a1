#include "server/local/run_outcome.h"

#include <sys/wait.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "server/base/child_process.h"
#include "server/exec/quantity.h"

namespace codeexec {
namespace {

constexpr int kSigkillExitCode = 128 + SIGKILL;

std::string OutputLimitMessage(int64_t max_output_bytes, bool stopped) {
  return absl::StrCat(
      "output limit of ", FormatBytes(max_output_bytes),
      " (stdout and stderr together) exceeded; ",
      stopped ? "the program was stopped" : "output was truncated");
}

}  // namespace

bool LooksOomKilled(int exit_code, const CgroupMemoryEvents& memory,
                    int64_t memory_limit_bytes) {
  if (exit_code != kSigkillExitCode || memory_limit_bytes <= 0) return false;
  return memory.limit_hits > 0 || memory.oom_kills > 0 ||
         memory.peak_bytes >= memory_limit_bytes / 100 * 95;
}

RunVerdict ClassifyRun(const RunFacts& facts) {
  RunVerdict verdict;
  verdict.truncated = facts.output_truncated;
  verdict.exit_code = facts.exit_record.value_or(-1);
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
      verdict.message = OutputLimitMessage(facts.max_output_bytes, true);
      return verdict;
    case StopReason::kNone:
      break;
  }
  const int runsc_exit = ShellExitCode(facts.wait_status);
  if (!facts.exit_record.has_value()) {
    // The whole sandbox ended: the memory limit (the host kills gVisor as a
    // whole), or gVisor could not start or keep running the launcher.
    if (LooksOomKilled(runsc_exit, facts.memory, facts.memory_limit_bytes)) {
      verdict.outcome = Outcome::kOomKilled;
      verdict.exit_code = runsc_exit;
      verdict.message = absl::StrCat(
          "memory limit ", FormatBytes(facts.memory_limit_bytes), " exceeded");
      return verdict;
    }
    verdict.outcome = Outcome::kSandboxError;
    const std::string said(absl::StripAsciiWhitespace(facts.sandbox_messages));
    verdict.message = absl::StrCat(
        "the gVisor sandbox ended without the launcher's exit record (runsc ",
        WIFSIGNALED(facts.wait_status)
            ? absl::StrCat("killed by signal ", WTERMSIG(facts.wait_status))
            : absl::StrCat("exit status ", runsc_exit),
        ")", said.empty() ? "" : absl::StrCat(": ", said));
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
    verdict.message = OutputLimitMessage(facts.max_output_bytes, false);
  }
  return verdict;
}

}  // namespace codeexec
