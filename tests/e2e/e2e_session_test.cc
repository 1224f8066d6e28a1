// Sessions on the kubernetes backend end to end: the real server with a
// warm pool on the real cluster (API server, kubelet, containerd, gVisor's
// shim). A session claims a pool pod and keeps its interpreter and files
// across cells over one attach; an exception or a timeout ends the cell and
// not the session; a shape the pool cannot serve gets a pod named by the
// session id, which idle expiry deletes; a server killed with a session
// open leaves nothing once it is started again (its janitor).
#include <signal.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/warm_pool_fixture.h"
#include "tests/integrity_checks.h"
#include "tests/session_calls.h"

namespace codeexec::e2e {
namespace {

using ::codeexec::testing::CreateSession;
using ::codeexec::testing::Digest;
using ::codeexec::testing::ExecuteOutcome;
using ::codeexec::testing::RunCell;
using ::codeexecutor::v1::CreateSessionRequest;
using ::codeexecutor::v1::Finished;
using ::codeexecutor::v1::Session;
using ::testing::Contains;
using ::testing::EndsWith;
using ::testing::Not;
using ::testing::StartsWith;

class E2eSessionTest : public E2eWarmPoolTest {
 protected:
  std::vector<std::string> Jobs() {
    auto objects = cluster_->OurObjects();
    return objects.ok() ? (*objects)["jobs"] : std::vector<std::string>{"?"};
  }
  // Until the Job `name` is gone (or 60 s).
  bool WaitJobGone(const std::string& name) {
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (absl::Now() < deadline) {
      const std::vector<std::string> jobs = Jobs();
      if (std::find(jobs.begin(), jobs.end(), name) == jobs.end() &&
          jobs != std::vector<std::string>{"?"}) {
        return true;
      }
      absl::SleepFor(absl::Milliseconds(500));
    }
    return false;
  }
};

TEST_F(E2eSessionTest, APoolPodKeepsStateAcrossCellsExceptionsAndTimeouts) {
  StartServer();
  absl::StatusOr<Session> session = CreateSession(*stub_);
  ASSERT_TRUE(session.ok()) << session.status() << server_->Log();
  EXPECT_THAT(session->sandbox_name(), StartsWith("cw-"));
  const std::string& id = session->session_id();

  ExecuteOutcome first =
      RunCell(*stub_, id,
              "x = 41\n"
              "unit = bytes(range(256)) + b'\\xff\\xfe\\xc3\\x28'\n"
              "open('data.bin', 'wb').write(unit * 4000)\n");
  ASSERT_TRUE(first.status.ok()) << first.status.error_message();
  EXPECT_EQ(first.finished.outcome(), Finished::OK) << first.finished.message();
  std::string unit;
  for (int i = 0; i < 256; ++i) unit.push_back(static_cast<char>(i));
  unit += "\xff\xfe\xc3\x28";
  std::string data;
  for (int i = 0; i < 4000; ++i) data += unit;
  ASSERT_EQ(first.finished.output_files_size(), 1);
  EXPECT_EQ(Digest(first.finished.output_files(0).content()), Digest(data));

  ExecuteOutcome second =
      RunCell(*stub_, id,
              "import sys\nx += 1\n"
              "sys.stdout.buffer.write(open('data.bin', 'rb').read())\n"
              "sys.stdout.flush()\nprint(x, file=sys.stderr)\n");
  EXPECT_EQ(second.finished.outcome(), Finished::OK)
      << second.finished.message();
  EXPECT_EQ(second.stdout_text.size(), data.size());
  EXPECT_EQ(Digest(second.stdout_text), Digest(data));
  EXPECT_EQ(second.stderr_text, "42\n");

  ExecuteOutcome failed = RunCell(*stub_, id, "1 / 0");
  EXPECT_EQ(failed.finished.outcome(), Finished::NONZERO_EXIT);
  EXPECT_THAT(failed.stderr_text,
              EndsWith("ZeroDivisionError: division by zero\n"));
  EXPECT_FALSE(failed.finished.session_ended());

  ExecuteOutcome slow = RunCell(*stub_, id,
                                "import time\nz = 7\n"
                                "print('started', flush=True)\n"
                                "time.sleep(120)\n",
                                /*timeout_seconds=*/3);
  EXPECT_EQ(slow.finished.outcome(), Finished::TIMEOUT)
      << slow.finished.message();
  EXPECT_EQ(slow.stdout_text, "started\n");
  EXPECT_THAT(slow.stderr_text, EndsWith("KeyboardInterrupt\n"));
  EXPECT_FALSE(slow.finished.session_ended());

  ExecuteOutcome after = RunCell(*stub_, id, "print(x, z)");
  EXPECT_EQ(after.stdout_text, "42 7\n") << after.finished.message();
  ASSERT_TRUE(codeexec::testing::CloseSession(*stub_, id).ok());
  EXPECT_TRUE(WaitJobGone(session->sandbox_name()));
}

TEST_F(E2eSessionTest, IdleExpiryDeletesThePodNamedByTheSession) {
  StartServer();
  CreateSessionRequest request;
  request.mutable_limits()->set_memory_limit("256Mi");  // not the pool's
  request.mutable_idle_timeout()->set_seconds(3);
  absl::StatusOr<Session> session = CreateSession(*stub_, request, 180);
  ASSERT_TRUE(session.ok()) << session.status() << server_->Log();
  EXPECT_EQ(session->sandbox_name(), session->session_id());
  EXPECT_THAT(Jobs(), Contains(session->session_id()));
  ExecuteOutcome cell = RunCell(*stub_, session->session_id(), "print(6 * 7)");
  EXPECT_EQ(cell.stdout_text, "42\n") << cell.finished.message();
  EXPECT_TRUE(WaitJobGone(session->session_id()));
  EXPECT_EQ(
      RunCell(*stub_, session->session_id(), "print(1)").status.error_code(),
      grpc::StatusCode::NOT_FOUND);
}

TEST_F(E2eSessionTest, AKilledServersSessionLeavesNothingAfterRestart) {
  StartServer();
  absl::StatusOr<Session> session = CreateSession(*stub_);
  ASSERT_TRUE(session.ok()) << session.status();
  EXPECT_EQ(RunCell(*stub_, session->session_id(), "x = 1").finished.outcome(),
            Finished::OK);
  const std::string job = session->sandbox_name();
  ASSERT_TRUE(server_->SignalAndWait(SIGKILL, absl::Seconds(30)).ok());
  EXPECT_THAT(Jobs(), Contains(job));
  StartServer();  // the same replica: its janitor runs at start
  EXPECT_TRUE(WaitJobGone(job));
  EXPECT_THAT(Jobs(), Not(Contains(job)));
  EXPECT_EQ(
      RunCell(*stub_, session->session_id(), "print(x)").status.error_code(),
      grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace codeexec::e2e
