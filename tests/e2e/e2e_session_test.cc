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

using ::codeexec::testing::CheckAnExceptionEndsOnlyTheCell;
using ::codeexec::testing::CheckATimeoutInterruptsOnlyTheCell;
using ::codeexec::testing::CheckCellsKeepGlobalsAndFiles;
using ::codeexec::testing::CreateSession;
using ::codeexec::testing::ExecuteOutcome;
using ::codeexec::testing::RunCell;
using ::codeexecutor::v1::CreateSessionRequest;
using ::codeexecutor::v1::Finished;
using ::codeexecutor::v1::Session;
using ::testing::Contains;
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
  CheckCellsKeepGlobalsAndFiles(*stub_, id);
  CheckAnExceptionEndsOnlyTheCell(*stub_, id);
  CheckATimeoutInterruptsOnlyTheCell(*stub_, id, /*timeout_seconds=*/3);
  ExecuteOutcome after = RunCell(*stub_, id, "print(x, y, z)");
  EXPECT_EQ(after.stdout_text, "42 kept 7\n") << after.finished.message();
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
