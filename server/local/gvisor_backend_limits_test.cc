// Runs hostile programs in real gVisor sandboxes: timeouts, memory, process
// and output limits, no network, read-only root, cancellation. Needs root
// and runsc; skipped otherwise.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/base/child_process.h"
#include "server/local/fs_util.h"
#include "server/local/gvisor_test_fixture.h"

namespace codeexec {
namespace {

using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::Le;
using ::testing::Lt;
using testing_internal::ExpectStateDirIdle;
using testing_internal::GvisorBackendTest;
using testing_internal::MountsUnder;
using testing_internal::RecordingSink;

TEST_F(GvisorBackendTest, Timeout) {
  ExecutionSpec spec = PythonSpec(
      "import time\nopen('partial.txt', 'w').write('x')\nprint('sleeping', "
      "flush=True)\ntime.sleep(30)\n");
  spec.timeout = absl::Seconds(2);
  RecordingSink sink;
  const absl::Time start = absl::Now();
  ExecutionResult result = Run(spec, sink);
  const absl::Duration elapsed = absl::Now() - start;
  EXPECT_EQ(result.outcome, Outcome::kTimeout);
  EXPECT_EQ(result.message, "timed out after 2s");
  EXPECT_EQ(sink.Stdout(), "sleeping\n");
  EXPECT_LT(elapsed, absl::Seconds(15));
  // Files written before the timeout are still returned.
  ASSERT_EQ(result.output_files.size(), 1u);
  EXPECT_EQ(result.output_files[0].path, "partial.txt");
}

TEST_F(GvisorBackendTest, TimeoutDuringStartup) {
  ExecutionSpec spec = PythonSpec("print('hi')");
  spec.timeout = absl::Milliseconds(50);
  RecordingSink sink;
  ExecutionResult result = Run(spec, sink);
  EXPECT_EQ(result.outcome, Outcome::kTimeout) << result.message;
  EXPECT_EQ(result.message, "timed out after 50ms");
}

TEST_F(GvisorBackendTest, OomKilled) {
  ExecutionSpec spec = PythonSpec(
      "b = bytearray(1 << 30)\nb[::4096] = b'x' * len(b[::4096])\n"
      "print('survived')\n");
  spec.resources.memory_limit_bytes = int64_t{64} << 20;
  RecordingSink sink;
  ExecutionResult result = Run(spec, sink);
  EXPECT_EQ(result.outcome, Outcome::kOomKilled)
      << result.message << " exit " << result.exit_code << sink.Stderr();
  EXPECT_EQ(result.exit_code, 137);
  EXPECT_EQ(result.message, "memory limit 64Mi exceeded");
  EXPECT_EQ(sink.Stdout(), "");
}

TEST_F(GvisorBackendTest, ForkLimitGivesEagain) {
  ExecutionSpec spec = PythonSpec(
      "import errno, os, time\n"
      "pids, failure = [], None\n"
      "for _ in range(500):\n"
      "    try:\n"
      "        pid = os.fork()\n"
      "    except OSError as e:\n"
      "        failure = errno.errorcode[e.errno]\n"
      "        break\n"
      "    if pid == 0:\n"
      "        time.sleep(30)\n"
      "        os._exit(0)\n"
      "    pids.append(pid)\n"
      "print(len(pids), failure, flush=True)\n"
      "for pid in pids:\n"
      "    os.kill(pid, 9)\n"
      "    os.waitpid(pid, 0)\n");
  RecordingSink sink;
  ExecutionResult result = Run(spec, sink);
  EXPECT_EQ(result.outcome, Outcome::kOk) << result.message << sink.Stderr();
  int forks = -1;
  char failure[32] = {0};
  ASSERT_EQ(std::sscanf(sink.Stdout().c_str(), "%d %31s", &forks, failure), 2)
      << sink.Stdout();
  // RLIMIT_NPROC counts the program's user (the launcher is another).
  EXPECT_THAT(forks, Le(32));
  EXPECT_GT(forks, 0);
  EXPECT_STREQ(failure, "EAGAIN");
}

TEST_F(GvisorBackendTest, BashForkBombEnds) {
  ExecutionSpec spec = PythonSpec("");
  spec.language.file_name = "main.sh";
  // The trailing sleep keeps init alive: when it exits, gVisor ends the
  // whole sandbox at once, which would hide the bomb.
  spec.language.command = {"bash", "-c", ":(){ :|:& };:; sleep 30"};
  spec.timeout = absl::Seconds(5);
  RecordingSink sink;
  const absl::Time start = absl::Now();
  ExecutionResult result = Run(spec, sink);
  EXPECT_THAT(result.outcome, AnyOf(Outcome::kTimeout, Outcome::kNonzeroExit))
      << result.message;
  EXPECT_LT(absl::Now() - start, absl::Seconds(20));
}

TEST_F(GvisorBackendTest, OutputLimit) {
  ExecutionSpec spec = PythonSpec(
      "import sys\nfor _ in range(20):\n    sys.stdout.write('x' * 1000000)\n");
  spec.max_output_bytes = int64_t{1} << 20;
  RecordingSink sink;
  ExecutionResult result = Run(spec, sink);
  EXPECT_EQ(result.outcome, Outcome::kOutputLimit) << result.message;
  EXPECT_TRUE(result.truncated);
  EXPECT_EQ(sink.Stdout().size() + sink.Stderr().size(), size_t{1} << 20);
}

TEST_F(GvisorBackendTest, NoNetwork) {
  // Something really listens on the host's loopback; the sandbox must not
  // reach it.
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(
      bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)),
      0);
  ASSERT_EQ(listen(listener, 8), 0);
  socklen_t length = sizeof(address);
  getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length);
  const int port = ntohs(address.sin_port);

  ExecutionSpec spec = PythonSpec(absl::StrCat(
      "import socket\ntry:\n"
      "    socket.create_connection(('127.0.0.1', ",
      port,
      "), timeout=3)\n    print('connected')\n"
      "except OSError as e:\n    print('blocked', type(e).__name__)\n"));
  RecordingSink sink;
  ExecutionResult result = Run(spec, sink);
  close(listener);
  EXPECT_EQ(result.outcome, Outcome::kOk) << result.message << sink.Stderr();
  EXPECT_THAT(sink.Stdout(), testing::StartsWith("blocked"));
}

TEST_F(GvisorBackendTest, RootFilesystemIsReadOnly) {
  const std::string marker =
      absl::StrCat("/var/tmp/codeexec-readonly-", getpid());
  ExecutionSpec spec = PythonSpec(absl::StrCat(
      "import errno\nfor path in ['/usr/x', '", marker,
      "']:\n    try:\n        open(path, 'w')\n        print('wrote', path)\n"
      "    except OSError as e:\n        print(errno.errorcode[e.errno])\n"
      "open('/tmp/ok', 'w').write('tmp is writable')\nprint('tmp ok')\n"));
  RecordingSink sink;
  ExecutionResult result = Run(spec, sink);
  EXPECT_EQ(result.outcome, Outcome::kOk) << result.message << sink.Stderr();
  // /var/tmp is world-writable on the host: only the read-only root stops it.
  EXPECT_THAT(sink.Stdout(), HasSubstr("EROFS\ntmp ok\n"));
  EXPECT_THAT(sink.Stdout(), testing::StartsWith("E"));
  EXPECT_NE(access(marker.c_str(), F_OK), 0);
}

TEST_F(GvisorBackendTest, CancelMidRun) {
  ExecutionSpec spec =
      PythonSpec("import time\nprint('started', flush=True)\ntime.sleep(30)\n");
  RecordingSink sink;
  Cancellation cancel;
  absl::Time cancelled_at;
  std::thread canceller([&] {
    sink.first_output().WaitForNotification();
    cancelled_at = absl::Now();
    cancel.Cancel("client cancelled the call");
  });
  ExecutionResult result = backend_->Run(spec, sink, cancel).value();
  const absl::Time returned_at = absl::Now();
  canceller.join();
  EXPECT_EQ(result.outcome, Outcome::kCancelled);
  EXPECT_EQ(result.message, "client cancelled the call");
  EXPECT_EQ(sink.Stdout(), "started\n");
  EXPECT_LT(returned_at - cancelled_at, absl::Seconds(5));
}

TEST_F(GvisorBackendTest, CancelDuringStartup) {
  // While runsc is still creating the container `runsc kill` cannot reach
  // it yet; cancelling must still be quick and leave nothing.
  for (int delay_ms : {5, 40, 80, 140}) {
    ExecutionSpec spec = PythonSpec("import time\ntime.sleep(30)\n");
    RecordingSink sink;
    Cancellation cancel;
    std::thread canceller([&] {
      absl::SleepFor(absl::Milliseconds(delay_ms));
      cancel.Cancel("server shutting down");
    });
    const absl::Time start = absl::Now();
    ExecutionResult result = backend_->Run(spec, sink, cancel).value();
    const absl::Duration elapsed = absl::Now() - start;
    canceller.join();
    EXPECT_EQ(result.outcome, Outcome::kCancelled) << delay_ms;
    EXPECT_EQ(result.message, "server shutting down");
    EXPECT_LT(elapsed, absl::Seconds(5)) << delay_ms;
    ExpectNothingLeft(spec.execution_id);
  }
}

TEST_F(GvisorBackendTest, CancelledBeforeRun) {
  RecordingSink sink;
  Cancellation cancel;
  cancel.Cancel("client cancelled the call");
  ExecutionResult result =
      backend_->Run(PythonSpec("print('never')"), sink, cancel).value();
  EXPECT_EQ(result.outcome, Outcome::kCancelled);
  EXPECT_EQ(sink.Stdout(), "");
}

TEST_F(GvisorBackendTest, UnresponsiveRunscKillIsEscalated) {
  // A runsc whose `kill` does nothing: after kill_grace the backend must
  // SIGKILL `runsc run` and delete the container itself.
  char dir_template[] = "/tmp/gvisor_escalation.XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string wrapper = std::string(dir_template) + "/runsc";
  ASSERT_TRUE(WriteNewFile(wrapper,
                           absl::StrCat("#!/bin/sh\n"
                                        "for arg; do [ \"$arg\" = kill ] && "
                                        "exit 0; done\nexec ",
                                        *ResolveExecutable(kDefaultRunscPath),
                                        " \"$@\"\n"),
                           0755)
                  .ok());
  LocalBackendOptions options = *options_;
  options.runsc_path = wrapper;
  options.state_dir = std::string(dir_template) + "/state";
  options.kill_grace = absl::Milliseconds(300);
  absl::StatusOr<std::unique_ptr<GvisorBackend>> backend =
      GvisorBackend::Create(options);
  ASSERT_TRUE(backend.ok()) << backend.status();

  ExecutionSpec spec = PythonSpec(
      "import time\nprint('sleeping', flush=True)\ntime.sleep(30)\n");
  // Long enough for the print even on a loaded machine; the sleep outlasts it.
  spec.timeout = absl::Seconds(4);
  RecordingSink sink;
  Cancellation cancel;
  const absl::Time start = absl::Now();
  ExecutionResult result = (*backend)->Run(spec, sink, cancel).value();
  EXPECT_LT(absl::Now() - start, absl::Seconds(18));
  EXPECT_EQ(result.outcome, Outcome::kTimeout);
  EXPECT_EQ(sink.Stdout(), "sleeping\n");
  // The fixture checks processes and cgroups; the state dir is this one.
  ExpectStateDirIdle(options.state_dir);
  backend->reset();
  EXPECT_THAT(MountsUnder(dir_template), ::testing::IsEmpty());
  EXPECT_TRUE(RemoveTree(dir_template).ok());
}

}  // namespace
}  // namespace codeexec
