// Whole-binary tests of sessions on the kubernetes backend, on the fake
// apiserver whose kubelet runs each pod under gVisor: a session takes a pod
// of the warm pool (or, when none fits, starts one named by its id) and
// keeps its interpreter across cells over one attach; an exception or a
// timeout ends the cell and not the session; a cell that ignores its
// interrupt, idle expiry and close delete the pod; a server killed with a
// session open leaves nothing once its successor's janitor has run. Bytes
// are checked exactly; TearDown asserts no Job, Pod or ConfigMap is left.
#include <signal.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integrity_checks.h"
#include "tests/kube_test_fixture.h"
#include "tests/server_process.h"
#include "tests/session_calls.h"

namespace codeexec::testing {
namespace {

using ::codeexecutor::v1::CreateSessionRequest;
using ::codeexecutor::v1::Finished;
using ::codeexecutor::v1::Session;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kIdle[] = "codeexec_warm_pool_idle{backend=\"kubernetes\"}";

class KubeSessionTest : public KubeBackendTest {
 protected:
  void SetUp() override { StartFake(); }
  void TearDown() override {
    server_.reset();
    KubeBackendTest::TearDown();
  }
  // A server with a warm pool of `pool`, once the pool is full.
  void StartWithPool(int pool) {
    StartServer({"--set", absl::StrCat("kubernetes.warmPool.size=", pool)});
    const absl::Time deadline = absl::Now() + absl::Seconds(90);
    while (absl::Now() < deadline && Sample(kIdle) < pool) {
      absl::SleepFor(absl::Milliseconds(50));
    }
    ASSERT_GE(Sample(kIdle), pool) << server_->Log();
  }
  double Sample(const std::string& sample) {
    absl::StatusOr<std::string> page = ScrapeMetrics(server_->metrics_port());
    if (!page.ok()) return -1;
    return MetricValue(*page, sample).value_or(0);
  }
  bool HasJob(const std::string& name) {
    const std::vector<std::string> jobs =
        fake_->ObjectNames("jobs", kNamespace, kOurs);
    return std::find(jobs.begin(), jobs.end(), name) != jobs.end();
  }
  // Until the Job `name` is gone (or 30 s).
  bool WaitJobGone(const std::string& name) {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (HasJob(name) && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(50));
    }
    return !HasJob(name);
  }
};

TEST_F(KubeSessionTest, APoolPodKeepsStateAcrossCellsExceptionsAndTimeouts) {
  StartWithPool(1);
  absl::StatusOr<Session> session = CreateSession(*stub_);
  ASSERT_TRUE(session.ok()) << session.status() << server_->Log();
  EXPECT_EQ(session->backend(), "kubernetes");
  // The pool's pod, claimed: its Job keeps its pool name.
  EXPECT_THAT(session->sandbox_name(), StartsWith("cw-"));
  EXPECT_TRUE(HasJob(session->sandbox_name()));
  const std::string& id = session->session_id();
  CheckCellsKeepGlobalsAndFiles(*stub_, id);
  CheckAnExceptionEndsOnlyTheCell(*stub_, id);
  CheckATimeoutInterruptsOnlyTheCell(*stub_, id, /*timeout_seconds=*/2);
  ExecuteOutcome after = RunCell(*stub_, id, "print(x, y, z)");
  EXPECT_EQ(after.stdout_text, "42 kept 7\n") << after.finished.message();
  EXPECT_EQ(after.started.sandbox_name(), session->sandbox_name());

  uint32_t cells = 0;
  ASSERT_TRUE(CloseSession(*stub_, id, &cells).ok());
  EXPECT_EQ(cells, 7u);
  EXPECT_TRUE(WaitJobGone(session->sandbox_name()));
}

TEST_F(KubeSessionTest, AShapeThePoolCannotServeGetsAPodNamedBySession) {
  StartWithPool(1);
  CreateSessionRequest request;
  request.mutable_limits()->set_memory_limit("256Mi");
  request.mutable_idle_timeout()->set_seconds(2);
  absl::StatusOr<Session> session = CreateSession(*stub_, request);
  ASSERT_TRUE(session.ok()) << session.status() << server_->Log();
  EXPECT_EQ(session->sandbox_name(), session->session_id());
  EXPECT_TRUE(HasJob(session->session_id()));
  EXPECT_EQ(Sample(kIdle), 1);  // the pool's pod was not taken
  ExecuteOutcome cell = RunCell(*stub_, session->session_id(),
                                "open('f', 'w').write('kept')\nprint(1)");
  EXPECT_EQ(cell.stdout_text, "1\n") << cell.finished.message();
  // Idle expiry closes the session and deletes its pod's Job.
  EXPECT_TRUE(WaitJobGone(session->session_id()));
  EXPECT_EQ(
      RunCell(*stub_, session->session_id(), "print(1)").status.error_code(),
      grpc::StatusCode::NOT_FOUND);
  // Counted once its pod's Job is deleted.
  EXPECT_EQ(WaitForMetric(server_->metrics_port(),
                          "codeexec_sessions_closed_total{reason=\"idle\"}", 1),
            1);
}

TEST_F(KubeSessionTest, ACellThatIgnoresItsInterruptEndsTheSessionAndItsPod) {
  StartWithPool(1);
  absl::StatusOr<Session> session = CreateSession(*stub_);
  ASSERT_TRUE(session.ok()) << session.status();
  ExecuteOutcome stubborn =
      RunCell(*stub_, session->session_id(),
              "import signal, time\n"
              "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
              "time.sleep(120)\n",
              /*timeout_seconds=*/2);
  EXPECT_EQ(stubborn.finished.outcome(), Finished::TIMEOUT);
  EXPECT_TRUE(stubborn.finished.session_ended());
  EXPECT_THAT(stubborn.finished.message(), HasSubstr("sandbox was killed"));
  EXPECT_TRUE(WaitJobGone(session->sandbox_name()));
  EXPECT_EQ(
      RunCell(*stub_, session->session_id(), "print(1)").status.error_code(),
      grpc::StatusCode::NOT_FOUND);
}

TEST_F(KubeSessionTest, SysExitEndsTheSession) {
  StartWithPool(1);
  absl::StatusOr<Session> session = CreateSession(*stub_);
  ASSERT_TRUE(session.ok()) << session.status();
  ExecuteOutcome bye = RunCell(*stub_, session->session_id(),
                               "import sys\nprint('bye')\nsys.exit(3)\n");
  EXPECT_EQ(bye.finished.outcome(), Finished::NONZERO_EXIT);
  EXPECT_EQ(bye.finished.exit_code(), 3);
  EXPECT_EQ(bye.stdout_text, "bye\n");
  EXPECT_TRUE(bye.finished.session_ended());
  EXPECT_THAT(bye.finished.message(), HasSubstr("session has ended"));
  EXPECT_TRUE(WaitJobGone(session->sandbox_name()));
}

TEST_F(KubeSessionTest, AServerStoppedWithSessionsOpenDeletesTheirPods) {
  StartWithPool(1);
  CreateSessionRequest other_shape;
  other_shape.mutable_limits()->set_memory_limit("256Mi");
  for (const CreateSessionRequest& request :
       {CreateSessionRequest(), other_shape}) {
    absl::StatusOr<Session> session = CreateSession(*stub_, request);
    ASSERT_TRUE(session.ok()) << session.status();
    EXPECT_TRUE(HasJob(session->sandbox_name()));
    EXPECT_EQ(
        RunCell(*stub_, session->session_id(), "x = 1").finished.outcome(),
        Finished::OK);
  }
  // TearDown stops the server (SIGTERM) and finds nothing of ours left.
}

TEST_F(KubeSessionTest, WithoutAWarmPoolSessionsAreAFailedPrecondition) {
  StartServer();
  absl::StatusOr<Session> session = CreateSession(*stub_);
  EXPECT_EQ(session.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(session.status().message(),
              HasSubstr("kubernetes.warmPool.size"));
}

TEST_F(KubeSessionTest, AKilledServersSessionPodIsGoneAfterItsRestart) {
  StartWithPool(1);
  absl::StatusOr<Session> session = CreateSession(*stub_);
  ASSERT_TRUE(session.ok()) << session.status();
  ExecuteOutcome cell = RunCell(*stub_, session->session_id(), "x = 1");
  EXPECT_EQ(cell.finished.outcome(), Finished::OK) << cell.finished.message();
  const std::string pod_job = session->sandbox_name();
  ASSERT_TRUE(server_->SignalAndWait(SIGKILL, absl::Seconds(30)).ok());
  EXPECT_TRUE(HasJob(pod_job));
  // The same replica again: its janitor's first pass deletes what no
  // execution of its own holds, the dead session's pod among them.
  StartWithPool(1);
  EXPECT_TRUE(WaitJobGone(pod_job));
  EXPECT_EQ(
      RunCell(*stub_, session->session_id(), "print(x)").status.error_code(),
      grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace codeexec::testing
