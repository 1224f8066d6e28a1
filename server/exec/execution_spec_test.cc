#include "server/exec/execution_spec.h"

#include "gtest/gtest.h"

namespace codeexec {
namespace {

TEST(PhaseTimingsPayloadTest, RoundTripsEveryPhaseAndKeepsTheStatus) {
  const PhaseTimings timings{.queue = absl::Milliseconds(1),
                             .create = absl::Seconds(2),
                             .schedule = absl::Microseconds(3),
                             .start = absl::Nanoseconds(4),
                             .run = absl::Minutes(5),
                             .cleanup = absl::Milliseconds(6)};
  const absl::Status status = WithPhaseTimings(
      absl::PermissionDeniedError("cannot get resource \"pods/log\""), timings);
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(status.message(), "cannot get resource \"pods/log\"");
  const PhaseTimings back = PhaseTimingsOf(status);
  EXPECT_EQ(back.queue, timings.queue);
  EXPECT_EQ(back.create, timings.create);
  EXPECT_EQ(back.schedule, timings.schedule);
  EXPECT_EQ(back.start, timings.start);
  EXPECT_EQ(back.run, timings.run);
  EXPECT_EQ(back.cleanup, timings.cleanup);
}

TEST(PhaseTimingsPayloadTest, NoneAttachedIsZeroAndOkStaysOk) {
  const PhaseTimings none = PhaseTimingsOf(absl::UnavailableError("down"));
  EXPECT_EQ(none.create, absl::ZeroDuration());
  EXPECT_EQ(none.cleanup, absl::ZeroDuration());
  PhaseTimings created;
  created.create = absl::Seconds(1);
  const absl::Status ok = WithPhaseTimings(absl::OkStatus(), created);
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(PhaseTimingsOf(ok).create, absl::ZeroDuration());
}

}  // namespace
}  // namespace codeexec
