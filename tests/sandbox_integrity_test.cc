// Whole-binary tests (gvisor-local, the default config) of what a hostile
// program can do with its own output and its surroundings: every byte of
// every write size arrives, output and results cannot be forged or broken,
// and nothing of the host or of another run is reachable.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integrity_checks.h"
#include "tests/server_process.h"
#include "tests/shared_server_test.h"

namespace codeexec::testing {
namespace {

using ::codeexecutor::v1::ExecuteRequest;
using ::codeexecutor::v1::ExecuteResponse;
using ::codeexecutor::v1::Finished;
using ::testing::HasSubstr;

class SandboxIntegrityTest : public SharedServerTest {
 protected:
  static std::string RandomToken() {
    absl::BitGen gen;
    return absl::StrCat(absl::Hex(absl::Uniform<uint64_t>(gen)),
                        absl::Hex(absl::Uniform<uint64_t>(gen)));
  }
};

TEST_F(SandboxIntegrityTest, SingleWritesViaPrintArriveWhole) {
  CheckSingleWritesArriveWhole(*stub_, WriteMethod::kPrint);
}

TEST_F(SandboxIntegrityTest, SingleWritesViaBufferWriteArriveWhole) {
  CheckSingleWritesArriveWhole(*stub_, WriteMethod::kBufferWrite);
}

TEST_F(SandboxIntegrityTest, SingleWritesViaOsWriteArriveWhole) {
  CheckSingleWritesArriveWhole(*stub_, WriteMethod::kOsWrite);
}

TEST_F(SandboxIntegrityTest, InterleavedStdoutAndStderrKeepTheirOrder) {
  CheckInterleavingKept(*stub_);
}

TEST_F(SandboxIntegrityTest, RunscLookalikeOnStderrIsTheProgramsOwn) {
  CheckRunscLookalikeIsTheProgramsOwn(*stub_);
}

TEST_F(SandboxIntegrityTest, LauncherSurvivesCatchableSignals) {
  CheckLauncherSurvivesCatchableSignals(*stub_);
}

TEST_F(SandboxIntegrityTest, ProgramCannotKillStopOrWriteAsTheLauncher) {
  // The launcher is the sandbox's root; the program another user with no
  // capabilities: it can neither signal it nor reach its descriptors.
  const ExecuteOutcome run = Execute(*stub_, MakeRequest(R"(
import os, signal
print(os.getuid(), os.getgid(), os.getgroups())
print(open("/proc/self/status").read().split("CapEff:")[1].split()[0])
for s in (signal.SIGKILL, signal.SIGSTOP, signal.SIGTERM):
    for target in (os.getppid(), 1, -1):
        try:
            os.kill(target, s)
            print("signalled", target, s)
        except OSError as e:
            print(type(e).__name__)
for path in ("/proc/1/fd/1", "/proc/%d/fd/1" % os.getppid()):
    try:
        os.write(os.open(path, os.O_WRONLY), b"@ce1 x 0\n")
        print("forged through", path)
    except OSError as e:
        print(type(e).__name__)
)"));
  ASSERT_TRUE(run.status.ok()) << run.status.error_message();
  EXPECT_EQ(run.finished.outcome(), Finished::OK)
      << run.finished.message() << run.stderr_text;
  EXPECT_EQ(run.stdout_text,
            "65534 65534 []\n0000000000000000\n"
            "PermissionError\nPermissionError\nProcessLookupError\n"
            "PermissionError\nPermissionError\nProcessLookupError\n"
            "PermissionError\nPermissionError\nProcessLookupError\n"
            "PermissionError\nPermissionError\n");
}

TEST_F(SandboxIntegrityTest, HostFilesAreNotReadable) {
  // A world-readable canary on the host, outside the state dir.
  const std::string token = RandomToken();
  const std::string canary = absl::StrCat("/var/tmp/ce-canary-", token);
  { std::ofstream(canary) << token; }
  chmod(canary.c_str(), 0644);
  const std::string server_binary = CODE_EXECUTOR_SERVER_PATH;
  const ExecuteOutcome run = Execute(
      *stub_, MakeRequest(absl::StrCat(R"(
import os, sys
for path in sys.argv[1:] or [)",
                                       "'", canary, "', '", server_binary,
                                       "', '", server_->state_dir(), R"(']:
    try:
        open(path, "rb").read()
        print("read", path)
    except OSError as e:
        print(type(e).__name__)
print(sorted(os.listdir("/var/tmp")))
)")));
  std::remove(canary.c_str());
  ASSERT_TRUE(run.status.ok()) << run.status.error_message();
  EXPECT_EQ(run.finished.outcome(), Finished::OK) << run.stderr_text;
  EXPECT_EQ(run.stdout_text,
            "FileNotFoundError\nFileNotFoundError\nFileNotFoundError\n[]\n");
  EXPECT_THAT(run.stdout_text, ::testing::Not(HasSubstr(token)));
}

TEST_F(SandboxIntegrityTest, AnotherRunsInputsCannotBeFound) {
  // Run B holds an input file whose name and content are a secret token.
  const std::string token = RandomToken();
  ExecuteRequest b_request = MakeRequest(
      "import time\nprint('ready', flush=True)\ntime.sleep(4)\n"
      "print(open(sorted(__import__('os').listdir('.'))[1]).read())\n");
  auto* file = b_request.add_files();
  file->set_path(absl::StrCat("secret-", token, ".txt"));
  file->set_content(token);
  grpc::ClientContext b_context;
  auto b_reader = stub_->Execute(&b_context, b_request);
  std::string b_id;
  std::string b_stdout;  // "ready\n" may arrive in more than one chunk
  ExecuteResponse response;
  while (b_reader->Read(&response)) {
    if (response.has_started()) b_id = response.started().execution_id();
    if (response.has_output()) b_stdout += response.output().data();
    if (absl::StrContains(b_stdout, "\n")) break;  // B runs
  }
  ASSERT_EQ(b_stdout, "ready\n");
  ASSERT_FALSE(b_id.empty());

  // Run A walks every directory it can see, and tries B's paths on the host.
  const ExecuteOutcome a = Execute(
      *stub_, MakeRequest(absl::StrCat(R"(
import os
token = ")",
                                       token, R"("
found = []
for top, dirs, files in os.walk("/", onerror=lambda e: None):
    found += [os.path.join(top, n) for n in dirs + files if token in n]
print("found", found)
for path in [")",
                                       server_->state_dir(), "/bundles/", b_id,
                                       R"(/launcher/request",
             "/run/code-executor/bundles/", "/proc/1/root/workspace"]:
    try:
        print(path in found, os.listdir(path) if os.path.isdir(path)
              else open(path).read())
    except OSError as e:
        print(type(e).__name__)
)")));
  ASSERT_TRUE(a.status.ok()) << a.status.error_message();
  EXPECT_EQ(a.finished.outcome(), Finished::OK) << a.stderr_text;
  EXPECT_THAT(a.stdout_text, ::testing::StartsWith("found []\n"));
  EXPECT_THAT(a.stdout_text, ::testing::Not(HasSubstr(token)));
  EXPECT_THAT(a.stdout_text, ::testing::Not(HasSubstr("True")));

  while (b_reader->Read(&response)) {
    if (response.has_output()) b_stdout += response.output().data();
  }
  ASSERT_TRUE(b_reader->Finish().ok());
  EXPECT_EQ(b_stdout, "ready\n" + token + "\n");  // B itself reads its input
}

}  // namespace
}  // namespace codeexec::testing
