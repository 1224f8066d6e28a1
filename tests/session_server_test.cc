// Whole-binary tests of sessions on gvisor-local (CreateSession, Execute
// with a session_id, CloseSession): through the real server, real gVisor
// and a real gRPC client. State stays from cell to cell (Python globals,
// workspace files), an exception or a timeout ends the cell and not the
// session, sys.exit() and a cell that ignores its interrupt end it, idle
// expiry and shutdown leave nothing behind, and every misuse gets its gRPC
// status. Bytes are checked exactly.
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integrity_checks.h"
#include "tests/server_process.h"
#include "tests/session_calls.h"

namespace codeexec::testing {
namespace {

using ::codeexecutor::v1::CreateSessionRequest;
using ::codeexecutor::v1::ExecuteRequest;
using ::codeexecutor::v1::Finished;
using ::codeexecutor::v1::Session;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class SessionServerTest : public ::testing::Test {
 protected:
  void StartServer(std::vector<std::string> args = {}) {
    auto started = ServerProcess::Start(std::move(args));
    ASSERT_TRUE(started.ok()) << started.status();
    server_ = *std::move(started);
    stub_ = server_->NewStub();
  }
  void SetUp() override { StartServer(); }

  absl::StatusOr<Session> Create(const CreateSessionRequest& request = {}) {
    return CreateSession(*stub_, request);
  }
  ExecuteOutcome Cell(const std::string& session_id, std::string code,
                      uint32_t timeout_seconds = 0) {
    return RunCell(*stub_, session_id, std::move(code), timeout_seconds);
  }
  grpc::Status Close(const std::string& session_id, uint32_t* cells = nullptr) {
    return CloseSession(*stub_, session_id, cells);
  }
  double Sample(const std::string& sample) {
    absl::StatusOr<std::string> page = ScrapeMetrics(server_->metrics_port());
    if (!page.ok()) return -1;
    return MetricValue(*page, sample).value_or(0);
  }

  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<codeexecutor::v1::CodeExecutor::Stub> stub_;
};

TEST_F(SessionServerTest, GlobalsImportsAndFilesStayFromCellToCell) {
  absl::StatusOr<Session> session = Create();
  ASSERT_TRUE(session.ok()) << session.status() << server_->Log();
  EXPECT_THAT(session->session_id(), StartsWith("cs-"));
  EXPECT_EQ(session->session_id().size(), 27u);
  EXPECT_EQ(session->language(), "python");
  EXPECT_EQ(session->limits().memory_limit(), "512Mi");
  EXPECT_EQ(session->backend(), "gvisor-local");

  // 256 KiB of every byte value, written by one cell and read by the next.
  ExecuteOutcome first = Cell(session->session_id(),
                              "import hashlib\n"
                              "x = 41\n"
                              "data = bytes(range(256)) * 1024\n"
                              "open('data.bin', 'wb').write(data)\n"
                              "log = open('log.txt', 'w')\n");
  ASSERT_TRUE(first.status.ok()) << first.status.error_message();
  EXPECT_EQ(first.finished.outcome(), Finished::OK) << first.finished.message();
  EXPECT_EQ(first.started.sandbox_name(), session->sandbox_name());
  const std::string data = [] {
    std::string bytes;
    for (int i = 0; i < 1024; ++i) {
      for (int b = 0; b < 256; ++b) bytes.push_back(static_cast<char>(b));
    }
    return bytes;
  }();
  ASSERT_EQ(first.finished.output_files_size(), 2);
  EXPECT_EQ(first.finished.output_files(0).path(), "data.bin");
  EXPECT_EQ(Digest(first.finished.output_files(0).content()), Digest(data));
  EXPECT_FALSE(first.finished.session_ended());

  ExecuteOutcome second = Cell(
      session->session_id(),
      "x += 1\n"
      "print(x, hashlib.sha256(open('data.bin', 'rb').read()).hexdigest())\n"
      "log.write('still open\\n'); log.flush()\n");
  ASSERT_TRUE(second.status.ok()) << second.status.error_message();
  EXPECT_EQ(second.finished.outcome(), Finished::OK) << second.stderr_text;
  EXPECT_EQ(second.stdout_text, absl::StrCat("42 ", Sha256Hex(data), "\n"));
  // Only what this cell changed comes back: log.txt, not data.bin.
  ASSERT_EQ(second.finished.output_files_size(), 1);
  EXPECT_EQ(second.finished.output_files(0).path(), "log.txt");
  EXPECT_EQ(second.finished.output_files(0).content(), "still open\n");

  uint32_t cells = 0;
  EXPECT_TRUE(Close(session->session_id(), &cells).ok());
  EXPECT_EQ(cells, 2u);
  EXPECT_TRUE(WaitNothingLeft(*server_, session->sandbox_name()).ok());
  EXPECT_EQ(Cell(session->session_id(), "print(1)").status.error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(SessionServerTest, AnExceptionEndsTheCellNotTheSession) {
  absl::StatusOr<Session> session = Create();
  ASSERT_TRUE(session.ok()) << session.status();
  ASSERT_EQ(Cell(session->session_id(), "y = 'kept'").finished.outcome(),
            Finished::OK);
  ExecuteOutcome failed = Cell(session->session_id(),
                               "def f():\n    raise ValueError('boom')\nf()\n");
  EXPECT_EQ(failed.finished.outcome(), Finished::NONZERO_EXIT);
  EXPECT_EQ(failed.finished.exit_code(), 1);
  EXPECT_FALSE(failed.finished.session_ended());
  // The interpreter's own format, without the session's frames.
  EXPECT_EQ(failed.stderr_text,
            "Traceback (most recent call last):\n"
            "  File \"/workspace/main.py\", line 3, in <module>\n"
            "    f()\n"
            "  File \"/workspace/main.py\", line 2, in f\n"
            "    raise ValueError('boom')\n"
            "ValueError: boom\n");
  ExecuteOutcome after = Cell(session->session_id(), "print(y)");
  EXPECT_EQ(after.stdout_text, "kept\n");
  EXPECT_EQ(after.finished.outcome(), Finished::OK);
}

TEST_F(SessionServerTest, ATimeoutInterruptsTheCellAndTheSessionLivesOn) {
  absl::StatusOr<Session> session = Create();
  ASSERT_TRUE(session.ok()) << session.status();
  CheckATimeoutInterruptsOnlyTheCell(*stub_, session->session_id(),
                                     /*timeout_seconds=*/2);
}

TEST_F(SessionServerTest, ACellThatIgnoresItsInterruptEndsTheSession) {
  absl::StatusOr<Session> session = Create();
  ASSERT_TRUE(session.ok()) << session.status();
  ExecuteOutcome stubborn =
      Cell(session->session_id(),
           "import signal, time\n"
           "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
           "time.sleep(120)\n",
           /*timeout_seconds=*/2);
  EXPECT_EQ(stubborn.finished.outcome(), Finished::TIMEOUT);
  EXPECT_TRUE(stubborn.finished.session_ended());
  EXPECT_THAT(stubborn.finished.message(), HasSubstr("sandbox was killed"));
  EXPECT_EQ(Cell(session->session_id(), "print(1)").status.error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(WaitNothingLeft(*server_, session->sandbox_name()).ok());
}

TEST_F(SessionServerTest, SysExitEndsTheSessionWithItsCode) {
  absl::StatusOr<Session> session = Create();
  ASSERT_TRUE(session.ok()) << session.status();
  ExecuteOutcome bye =
      Cell(session->session_id(), "import sys\nprint('bye')\nsys.exit(3)\n");
  EXPECT_EQ(bye.finished.outcome(), Finished::NONZERO_EXIT);
  EXPECT_EQ(bye.finished.exit_code(), 3);
  EXPECT_EQ(bye.stdout_text, "bye\n");
  EXPECT_TRUE(bye.finished.session_ended());
  EXPECT_THAT(bye.finished.message(), HasSubstr("session has ended"));
  EXPECT_EQ(Cell(session->session_id(), "print(1)").status.error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Close(session->session_id()).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(WaitNothingLeft(*server_, session->sandbox_name()).ok());
  EXPECT_EQ(
      WaitForMetric(server_->metrics_port(),
                    "codeexec_sessions_closed_total{reason=\"ended\"}", 1),
      1);
}

TEST_F(SessionServerTest, AnIdleSessionIsClosedAndItsSandboxDeleted) {
  CreateSessionRequest request;
  request.mutable_idle_timeout()->set_seconds(1);
  absl::StatusOr<Session> session = Create(request);
  ASSERT_TRUE(session.ok()) << session.status();
  EXPECT_EQ(session->idle_timeout().seconds(), 1);
  EXPECT_EQ(Sample("codeexec_sessions_open"), 1);
  absl::SleepFor(absl::Seconds(3));
  EXPECT_EQ(Cell(session->session_id(), "print(1)").status.error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(WaitNothingLeft(*server_, session->sandbox_name()).ok());
  EXPECT_EQ(WaitForMetric(server_->metrics_port(),
                          "codeexec_sessions_closed_total{reason=\"idle\"}", 1),
            1);
  EXPECT_EQ(Sample("codeexec_sessions_open"), 0);
}

TEST_F(SessionServerTest, OneCellAtATimeAndCloseCancelsARunningOne) {
  absl::StatusOr<Session> session = Create();
  ASSERT_TRUE(session.ok()) << session.status();
  ExecuteOutcome long_cell;
  std::thread runner([&] {
    long_cell = Cell(session->session_id(),
                     "import time\nprint('in', flush=True)\ntime.sleep(60)\n");
  });
  absl::SleepFor(absl::Seconds(2));
  ExecuteOutcome second = Cell(session->session_id(), "print(2)");
  EXPECT_EQ(second.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION)
      << second.status.error_message();
  EXPECT_TRUE(Close(session->session_id()).ok());
  runner.join();
  EXPECT_EQ(long_cell.finished.outcome(), Finished::CANCELLED)
      << long_cell.finished.message();
  EXPECT_EQ(long_cell.stdout_text, "in\n");
  EXPECT_TRUE(WaitNothingLeft(*server_, session->sandbox_name()).ok());
}

TEST_F(SessionServerTest, BashCellsAreNewShellsInTheSameWorkspace) {
  CreateSessionRequest request;
  request.set_language("bash");
  absl::StatusOr<Session> session = Create(request);
  ASSERT_TRUE(session.ok()) << session.status();
  EXPECT_EQ(
      Cell(session->session_id(), "X=1; echo kept > f.txt").finished.outcome(),
      Finished::OK);
  ExecuteOutcome second =
      Cell(session->session_id(), "echo \"${X:-unset}\"; cat f.txt");
  EXPECT_EQ(second.stdout_text, "unset\nkept\n");
}

// A cell leaves links and a FIFO where the next cell's inputs go: the
// launcher (root in the sandbox) must neither write through them nor hang.
TEST_F(SessionServerTest, ACellsLinksCannotRedirectTheNextCellsFiles) {
  absl::StatusOr<Session> session = Create();
  ASSERT_TRUE(session.ok()) << session.status();
  ASSERT_EQ(Cell(session->session_id(),
                 "import os\n"
                 "os.symlink('/etc/hostname', 'in.bin')\n"
                 "os.symlink('/tmp', 'link')\n"
                 "os.mkfifo('fifo')\n")
                .finished.outcome(),
            Finished::OK);
  std::string data;
  for (int i = 0; i < 4; ++i) {
    for (int b = 0; b < 256; ++b) data.push_back(static_cast<char>(b));
  }
  ExecuteRequest replace = MakeRequest(
      "import os, hashlib\n"
      "print(os.path.islink('in.bin'),"
      " hashlib.sha256(open('in.bin', 'rb').read()).hexdigest())\n");
  replace.set_session_id(session->session_id());
  auto* file = replace.add_files();
  file->set_path("in.bin");
  file->set_content(data);
  ExecuteOutcome replaced = Execute(*stub_, replace);
  EXPECT_EQ(replaced.stdout_text, absl::StrCat("False ", Sha256Hex(data), "\n"))
      << replaced.stderr_text;

  for (const char* path : {"link/planted", "fifo/planted"}) {
    ExecuteRequest redirect = MakeRequest("print('ran')");
    redirect.set_session_id(session->session_id());
    auto* planted = redirect.add_files();
    planted->set_path(path);
    planted->set_content("planted");
    ExecuteOutcome refused = Execute(*stub_, redirect);
    EXPECT_EQ(refused.finished.outcome(), Finished::NONZERO_EXIT) << path;
    EXPECT_EQ(refused.stdout_text, "") << path;
    EXPECT_THAT(refused.stderr_text,
                HasSubstr(absl::StrCat("/workspace/", path, ": ")));
    EXPECT_FALSE(refused.finished.session_ended());
  }
  // Nothing landed behind the link; the workspace is still the program's.
  ExecuteOutcome after =
      Cell(session->session_id(),
           "import os\nprint(os.listdir('/tmp'), os.stat('.').st_uid)\n");
  EXPECT_EQ(after.stdout_text, "[] 65534\n") << after.stderr_text;
}

TEST_F(SessionServerTest, SessionsAreApartAndTheirFilesComeWithTheFirstCell) {
  CreateSessionRequest request;
  auto* file = request.add_files();
  file->set_path("input/secret.txt");
  file->set_content(std::string("\x00\xff secret", 9));
  absl::StatusOr<Session> a = Create(request);
  absl::StatusOr<Session> b = Create();
  ASSERT_TRUE(a.ok() && b.ok());
  ExecuteOutcome read_a =
      Cell(a->session_id(), "print(open('input/secret.txt', 'rb').read())");
  EXPECT_EQ(read_a.stdout_text, "b'\\x00\\xff secret'\n");
  ExecuteOutcome look_b =
      Cell(b->session_id(), "import os\nprint(sorted(os.listdir('.')))");
  EXPECT_EQ(look_b.stdout_text, "['main.py']\n");
}

TEST_F(SessionServerTest, MisuseGetsItsStatusNamingTheField) {
  absl::StatusOr<Session> session = Create();
  ASSERT_TRUE(session.ok()) << session.status();
  ExecuteRequest with_language = MakeRequest("print(1)", "bash");
  with_language.set_session_id(session->session_id());
  grpc::Status status = Execute(*stub_, with_language).status;
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), StartsWith("language:"));
  ExecuteRequest with_stdin = MakeRequest("print(1)");
  with_stdin.set_session_id(session->session_id());
  with_stdin.set_stdin("x");
  status = Execute(*stub_, with_stdin).status;
  EXPECT_THAT(status.error_message(), StartsWith("stdin:"));
  // The refused calls did not take the session.
  EXPECT_EQ(Cell(session->session_id(), "print(1)").stdout_text, "1\n");
  EXPECT_EQ(Cell("cs-000000000000000000000000", "print(1)").status.error_code(),
            grpc::StatusCode::NOT_FOUND);

  CreateSessionRequest too_long;
  too_long.mutable_idle_timeout()->set_seconds(3 * 3600);
  EXPECT_THAT(std::string(Create(too_long).status().message()),
              StartsWith("idle_timeout:"));
  CreateSessionRequest unknown;
  unknown.set_language("cobol");
  EXPECT_THAT(std::string(Create(unknown).status().message()),
              StartsWith("language:"));
}

TEST_F(SessionServerTest, TheReplicasMaximumOfSessionsIsResourceExhausted) {
  StartServer({"--set", "sessions.maxSessions=1"});
  absl::StatusOr<Session> first = Create();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(Create().status().code(), absl::StatusCode::kResourceExhausted);
  ASSERT_TRUE(Close(first->session_id()).ok());
  absl::StatusOr<Session> again = Create();
  EXPECT_TRUE(again.ok()) << again.status();
}

TEST_F(SessionServerTest, ShutdownClosesEverySessionAndLeavesNothing) {
  absl::StatusOr<Session> session = Create();
  ASSERT_TRUE(session.ok()) << session.status();
  ASSERT_EQ(Cell(session->session_id(), "x = 1").finished.outcome(),
            Finished::OK);
  const std::string sandbox = session->sandbox_name();
  absl::StatusOr<int> exited =
      server_->SignalAndWait(SIGTERM, absl::Seconds(60));
  ASSERT_TRUE(exited.ok()) << exited.status();
  EXPECT_THAT(server_->Log(), HasSubstr("\"reason\":\"shutdown\""));
  EXPECT_TRUE(WaitNothingLeft(*server_, sandbox).ok());
}

}  // namespace
}  // namespace codeexec::testing
