#include "server/exec/execution_spec.h"

#include <cstdint>
#include <cstring>
#include <iterator>
#include <string>

#include "absl/strings/cord.h"

namespace codeexec {
namespace {

constexpr char kPhaseTimingsPayload[] = "codeexec.dev/PhaseTimings";

// Every phase, in one order, for the payload's encoding.
constexpr absl::Duration PhaseTimings::*kPhases[] = {
    &PhaseTimings::queue, &PhaseTimings::create, &PhaseTimings::schedule,
    &PhaseTimings::start, &PhaseTimings::run,    &PhaseTimings::cleanup};

}  // namespace

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

absl::Status WithPhaseTimings(absl::Status status,
                              const PhaseTimings& timings) {
  if (status.ok()) return status;
  std::string encoded;
  for (const auto phase : kPhases) {
    const int64_t nanoseconds = absl::ToInt64Nanoseconds(timings.*phase);
    encoded.append(reinterpret_cast<const char*>(&nanoseconds),
                   sizeof(nanoseconds));
  }
  status.SetPayload(kPhaseTimingsPayload, absl::Cord(encoded));
  return status;
}

PhaseTimings PhaseTimingsOf(const absl::Status& status) {
  PhaseTimings timings;
  const auto payload = status.GetPayload(kPhaseTimingsPayload);
  if (!payload.has_value()) return timings;
  const std::string encoded(*payload);
  if (encoded.size() != std::size(kPhases) * sizeof(int64_t)) return timings;
  for (size_t i = 0; i < std::size(kPhases); ++i) {
    int64_t nanoseconds;
    std::memcpy(&nanoseconds, encoded.data() + i * sizeof(int64_t),
                sizeof(nanoseconds));
    timings.*kPhases[i] = absl::Nanoseconds(nanoseconds);
  }
  return timings;
}

}  // namespace codeexec
