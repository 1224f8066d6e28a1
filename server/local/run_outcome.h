// Turning what was observed about a finished `runsc run` into the
// execution's outcome, exit code and message.
#ifndef CODEEXEC_SERVER_LOCAL_RUN_OUTCOME_H_
#define CODEEXEC_SERVER_LOCAL_RUN_OUTCOME_H_

#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "server/exec/execution_spec.h"
#include "server/local/sandbox_cgroup.h"

namespace codeexec {

// Why we killed the sandbox, if we did.
enum class StopReason { kNone, kTimeout, kCancelled, kOutputLimit };

struct RunFacts {
  StopReason stop_reason = StopReason::kNone;
  // waitpid status of the `runsc run` process.
  int wait_status = 0;
  // stderr held back because it looked like runsc's own error (see IoPump).
  std::string held_stderr;
  // Output was cut at max_output_bytes (also after the program exited).
  bool output_truncated = false;
  CgroupMemoryEvents memory;
  int64_t memory_limit_bytes = 0;
  absl::Duration timeout;
  int64_t max_output_bytes = 0;
  std::string cancel_reason;
};

struct RunVerdict {
  Outcome outcome = Outcome::kSandboxError;
  int exit_code = -1;
  std::string message;
  bool truncated = false;
  // False when runsc failed before the program ran (no output files then),
  // and the held stderr is runsc's message, not program output.
  bool program_ran = true;
};

// Exit 137 (SIGKILL) with evidence in the memory cgroup that the limit was
// hit: a program that SIGKILLs itself leaves no such evidence in a fresh
// cgroup. On these VMs memory.oom_control's oom_kill stays 0 even for real
// OOM kills, so the failure counter and peak usage count as evidence too.
bool LooksOomKilled(int exit_code, const CgroupMemoryEvents& memory,
                    int64_t memory_limit_bytes);

RunVerdict ClassifyRun(const RunFacts& facts);

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_LOCAL_RUN_OUTCOME_H_
