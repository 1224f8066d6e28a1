// Turning what was observed about a finished `runsc run` into the
// execution's outcome, exit code and message. Only channels the program
// cannot write count: the launcher's exit record (the program's output only
// ever reaches us inside frames), runsc's exit status, runsc's own stderr and
// the run's memory cgroup.
#ifndef CODEEXEC_SERVER_LOCAL_RUN_OUTCOME_H_
#define CODEEXEC_SERVER_LOCAL_RUN_OUTCOME_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "server/exec/execution_spec.h"
#include "server/exec/run_verdict.h"
#include "server/local/sandbox_cgroup.h"

namespace codeexec {

struct RunFacts {
  StopReason stop_reason = StopReason::kNone;
  // waitpid status of the `runsc run` process.
  int wait_status = 0;
  // The launcher's exit record: the program's exit code (signal N ->
  // 128 + N). Absent when the sandbox ended before the launcher could say.
  std::optional<int> exit_record;
  // runsc's stderr, and anything on its stdout that was not a frame.
  std::string sandbox_messages;
  // Output was cut at max_output_bytes (also after the program exited).
  bool output_truncated = false;
  CgroupMemoryEvents memory;
  int64_t memory_limit_bytes = 0;
  absl::Duration timeout;
  int64_t max_output_bytes = 0;
  std::string cancel_reason;
};

// Exit 137 (SIGKILL) with evidence in the memory cgroup that the limit was
// hit: a program that SIGKILLs itself leaves no such evidence in a fresh
// cgroup. memory.oom_control's oom_kill can stay 0 even for real
// OOM kills, so the failure counter and peak usage count as evidence too.
bool LooksOomKilled(int exit_code, const CgroupMemoryEvents& memory,
                    int64_t memory_limit_bytes);

RunVerdict ClassifyRun(const RunFacts& facts);

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_LOCAL_RUN_OUTCOME_H_
