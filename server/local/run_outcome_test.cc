#include "server/local/run_outcome.h"

#include <signal.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace codeexec {
namespace {

using ::testing::HasSubstr;

constexpr int64_t k64Mi = int64_t{64} << 20;

int Exited(int code) { return code << 8; }

// runsc exited with `wait_status`; the launcher's exit record, if any, said
// `exit_record`.
RunFacts Facts(int wait_status, std::optional<int> exit_record) {
  RunFacts facts;
  facts.wait_status = wait_status;
  facts.exit_record = exit_record;
  facts.memory_limit_bytes = k64Mi;
  facts.timeout = absl::Seconds(2);
  facts.max_output_bytes = 1 << 20;
  return facts;
}

TEST(LooksOomKilledTest, NeedsSigkillAndEvidence) {
  EXPECT_TRUE(LooksOomKilled(137, {.limit_hits = 1832}, k64Mi));
  EXPECT_TRUE(LooksOomKilled(137, {.oom_kills = 1}, k64Mi));
  EXPECT_TRUE(LooksOomKilled(137, {.peak_bytes = k64Mi}, k64Mi));
  // A program that SIGKILLs itself in a fresh cgroup leaves no evidence.
  EXPECT_FALSE(LooksOomKilled(137, {.peak_bytes = 10 << 20}, k64Mi));
  EXPECT_FALSE(LooksOomKilled(1, {.limit_hits = 5}, k64Mi));
  EXPECT_FALSE(LooksOomKilled(137, {.limit_hits = 5}, 0));
}

TEST(ClassifyRunTest, OkAndNonzero) {
  RunVerdict ok = ClassifyRun(Facts(Exited(0), 0));
  EXPECT_EQ(ok.outcome, Outcome::kOk);
  EXPECT_EQ(ok.exit_code, 0);

  RunVerdict three = ClassifyRun(Facts(Exited(3), 3));
  EXPECT_EQ(three.outcome, Outcome::kNonzeroExit);
  EXPECT_EQ(three.exit_code, 3);
  EXPECT_EQ(three.message, "exited with code 3");

  RunVerdict killed = ClassifyRun(Facts(Exited(137), 137));
  EXPECT_EQ(killed.outcome, Outcome::kNonzeroExit);
  EXPECT_EQ(killed.exit_code, 137);
  EXPECT_THAT(killed.message, HasSubstr("signal 9"));
}

TEST(ClassifyRunTest, TheExitRecordIsTheProgramsWhateverRunscSays) {
  // The launcher mirrors the program's code, but only the record counts.
  RunVerdict verdict = ClassifyRun(Facts(Exited(0), 5));
  EXPECT_EQ(verdict.outcome, Outcome::kNonzeroExit);
  EXPECT_EQ(verdict.exit_code, 5);
}

TEST(ClassifyRunTest, OomKilled) {
  // gVisor is killed as a whole: no exit record.
  RunFacts facts = Facts(Exited(137), std::nullopt);
  facts.memory.limit_hits = 10;
  RunVerdict verdict = ClassifyRun(facts);
  EXPECT_EQ(verdict.outcome, Outcome::kOomKilled);
  EXPECT_EQ(verdict.exit_code, 137);
  EXPECT_EQ(verdict.message, "memory limit 64Mi exceeded");
}

TEST(ClassifyRunTest, OurStopsWin) {
  RunFacts facts = Facts(Exited(137), std::nullopt);
  facts.memory.limit_hits = 10;  // even with memory pressure
  facts.stop_reason = StopReason::kTimeout;
  EXPECT_EQ(ClassifyRun(facts).outcome, Outcome::kTimeout);
  EXPECT_EQ(ClassifyRun(facts).message, "timed out after 2s");

  facts.stop_reason = StopReason::kCancelled;
  facts.cancel_reason = "client cancelled the call";
  EXPECT_EQ(ClassifyRun(facts).outcome, Outcome::kCancelled);
  EXPECT_EQ(ClassifyRun(facts).message, "client cancelled the call");

  facts.stop_reason = StopReason::kOutputLimit;
  RunVerdict limited = ClassifyRun(facts);
  EXPECT_EQ(limited.outcome, Outcome::kOutputLimit);
  EXPECT_TRUE(limited.truncated);
  EXPECT_THAT(limited.message, HasSubstr("1Mi"));
}

TEST(ClassifyRunTest, NoExitRecordIsSandboxErrorWithRunscsWords) {
  RunFacts facts = Facts(Exited(128), std::nullopt);
  facts.sandbox_messages =
      "running container: starting container: error finding executable "
      "\"python3\"\n";
  RunVerdict verdict = ClassifyRun(facts);
  EXPECT_EQ(verdict.outcome, Outcome::kSandboxError);
  EXPECT_EQ(verdict.exit_code, -1);
  EXPECT_THAT(verdict.message,
              HasSubstr("error finding executable \"python3\""));
  EXPECT_THAT(verdict.message, HasSubstr("runsc exit status 128"));
}

TEST(ClassifyRunTest, ProgramStderrCannotMakeASandboxError) {
  // What the program wrote never reaches sandbox_messages (it arrives in
  // frames); with an exit record, the program's code is the verdict.
  RunFacts facts = Facts(Exited(3), 3);
  RunVerdict verdict = ClassifyRun(facts);
  EXPECT_EQ(verdict.outcome, Outcome::kNonzeroExit);
  EXPECT_EQ(verdict.exit_code, 3);
}

TEST(ClassifyRunTest, RunscKilledBySignalIsSandboxError) {
  RunVerdict verdict = ClassifyRun(Facts(SIGSEGV, std::nullopt));
  EXPECT_EQ(verdict.outcome, Outcome::kSandboxError);
  EXPECT_THAT(verdict.message, HasSubstr("signal 11"));
}

TEST(ClassifyRunTest, SigkillWithoutMemoryEvidenceIsSandboxError) {
  RunVerdict verdict = ClassifyRun(Facts(Exited(137), std::nullopt));
  EXPECT_EQ(verdict.outcome, Outcome::kSandboxError);
  EXPECT_THAT(verdict.message, HasSubstr("without the launcher's exit record"));
}

TEST(ClassifyRunTest, TruncatedAfterExit) {
  RunFacts facts = Facts(Exited(0), 0);
  facts.output_truncated = true;
  RunVerdict verdict = ClassifyRun(facts);
  EXPECT_EQ(verdict.outcome, Outcome::kOutputLimit);
  EXPECT_TRUE(verdict.truncated);
}

}  // namespace
}  // namespace codeexec
