// The launcher's behaviour, case by case (each case of the Python
// launcher's tests, on the static launcher): run on the host as a sandbox
// runs it, its frames decoded by FrameParser. Hostile input is in
// launcher_hostile_test.cc, malformed requests in launcher_request_test.cc.
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/launcher/launcher_test_util.h"

namespace codeexec::launcher_testing {
namespace {

namespace fs = std::filesystem;
using testing::HasSubstr;
using testing::StartsWith;

using Files = std::map<std::string, std::string>;

TEST_F(LauncherTest, SeparatesStdoutAndStderr) {
  Program(
      "import sys\nprint('to stdout')\nprint('to stderr', file=sys.stderr)\n");
  const LaunchResult run = RunLauncher();
  EXPECT_EQ(run.stdout_data, "to stdout\n");
  EXPECT_EQ(run.stderr_data, "to stderr\n");
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_EQ(run.returncode, 0);
  EXPECT_EQ(run.files, Files{});
  EXPECT_FALSE(run.truncated);
}

TEST_F(LauncherTest, StreamsAPartialLineBeforeTheProgramEnds) {
  Program(R"(import os, sys, time
sys.stdout.write("partial")
sys.stdout.flush()
while not os.path.exists("go"):
    time.sleep(0.01)
print(" rest")
)");
  auto process = Start(Request());
  const std::string first = process->ReadLine();
  EXPECT_EQ(first,
            absl::StrCat("@ce1 o ", absl::Base64Escape("partial"), "\n"));
  std::ofstream(workspace_ + "/go").close();
  const LaunchResult run = process->Finish();
  EXPECT_EQ(run.stdout_data, " rest\n");
  EXPECT_EQ(run.files, (Files{{"go", ""}}));
}

TEST_F(LauncherTest, BinaryOutput) {
  Program(R"(import sys
sys.stdout.buffer.write(bytes(range(256)))
sys.stderr.buffer.write(b"\xff\xfe\x00bad utf-8")
)");
  const LaunchResult run = RunLauncher();
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  EXPECT_EQ(run.stdout_data, all);
  EXPECT_EQ(run.stderr_data, std::string("\xff\xfe\0bad utf-8", 12));
}

TEST_F(LauncherTest, HugeLineIsSplitIntoSmallFrames) {
  Program(
      "import sys\n"
      "sys.stdout.buffer.write(bytes(i % 251 for i in range(1 << 20)))\n");
  const LaunchResult run = RunLauncher();
  std::string want;
  for (int i = 0; i < (1 << 20); ++i)
    want.push_back(static_cast<char>(i % 251));
  EXPECT_EQ(Digest(run.stdout_data), Digest(want));
  EXPECT_GE(run.o_frames, (1 << 20) / 3072);
  for (const std::string& line : run.lines) {
    EXPECT_LE(line.size(), std::string("@ce1 o ").size() + 4096);
  }
}

TEST_F(LauncherTest, ProgramClosesStdoutEarly) {
  Program(R"(import os, sys, time
print("before", flush=True)
os.close(1)
time.sleep(0.3)
sys.stderr.write("after close")
)");
  const LaunchResult run = RunLauncher();
  EXPECT_EQ(run.stdout_data, "before\n");
  EXPECT_EQ(run.stderr_data, "after close");
  EXPECT_EQ(run.exit_code, 0);
}

TEST_F(LauncherTest, ProgramKillingItself) {
  Program(R"(import os, signal
print("bye", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
)");
  const LaunchResult run = RunLauncher();
  EXPECT_EQ(run.stdout_data, "bye\n");
  EXPECT_EQ(run.exit_code, 137);
  EXPECT_EQ(run.returncode, 137);
}

TEST_F(LauncherTest, ExitCode) {
  Program("import sys; sys.exit(3)");
  const LaunchResult run = RunLauncher();
  EXPECT_EQ(run.exit_code, 3);
  EXPECT_EQ(run.returncode, 3);
}

TEST_F(LauncherTest, StdinIsFedOrEmpty) {
  Program("import sys; sys.stdout.write(sys.stdin.read()[::-1])");
  spec_.stdin_data = "abc\n";
  EXPECT_EQ(RunLauncher().stdout_data, "\ncba");
  TearDown();  // a fresh workspace
  SetUp();
  Program("import sys; print(repr(sys.stdin.read()))");
  spec_.stdin_data = "";
  EXPECT_EQ(RunLauncher().stdout_data, "''\n");
}

TEST_F(LauncherTest, Environment) {
  Program(R"(import os
print(os.environ["A"], os.environ["B"], os.environ["PATH"] != "")
print(os.getcwd())
print(sorted(k for k in os.environ if k.startswith("KUBERNETES")))
)");
  spec_.env = {{"A", "1"}, {"B", "2"}, {"A", "3"}};
  const LaunchResult run = RunLauncher({"KUBERNETES_SERVICE_HOST=10.0.0.1"});
  EXPECT_EQ(
      run.stdout_data,
      absl::StrCat("3 2 True\n", fs::canonical(workspace_).string(), "\n[]\n"));
}

TEST_F(LauncherTest, InputFilesInAndOutputFilesOut) {
  Program(R"(import os
print(open("data/in.csv").read(), end="")
with open("data/changed.txt", "a") as f:
    f.write("+more")
with open("main.py", "a") as f:
    f.write("# the program file is never returned")
os.makedirs("out/deep")
with open("out/deep/result.bin", "wb") as f:
    f.write(b"\x00\x01")
os.symlink("/etc/passwd", "link")
os.mkfifo("fifo")
)");
  spec_.input_files = {{"data/in.csv", "a,b\n1,2\n"},
                       {"data/changed.txt", "base"}};
  const LaunchResult run = RunLauncher();
  EXPECT_EQ(run.stdout_data, "a,b\n1,2\n");
  EXPECT_EQ(run.files,
            (Files{{"data/changed.txt", "base+more"},
                   {"out/deep/result.bin", std::string("\0\1", 2)}}));
  EXPECT_EQ(run.file_order, (std::vector<std::string>{"data/changed.txt",
                                                      "out/deep/result.bin"}));
  EXPECT_FALSE(run.truncated);
}

TEST_F(LauncherTest, OutputFileCountCap) {
  Program("for name in 'cab':\n    open(name, 'w').write(name)\n");
  spec_.max_output_files = 2;
  const LaunchResult run = RunLauncher();
  EXPECT_EQ(run.files, (Files{{"a", "a"}, {"b", "b"}}));
  EXPECT_TRUE(run.truncated);
}

TEST_F(LauncherTest, OutputFileBytesCapSkipsBigFiles) {
  Program(R"(open("a", "w").write("x" * 10)
open("b", "w").write("x" * 100)
open("c", "w").write("x" * 15)
open("d", "w").write("x" * 1)
)");
  spec_.max_output_file_bytes = 25;
  const LaunchResult run = RunLauncher();
  EXPECT_EQ(run.files,
            (Files{{"a", std::string(10, 'x')}, {"c", std::string(15, 'x')}}));
  EXPECT_TRUE(run.truncated);
}

TEST_F(LauncherTest, UnchangedBigInputDoesNotCountAgainstCaps) {
  Program("pass");
  spec_.input_files = {{"big", std::string(1000, 'y')}};
  spec_.max_output_file_bytes = 10;
  const LaunchResult run = RunLauncher();
  EXPECT_EQ(run.files, Files{});
  EXPECT_FALSE(run.truncated);
}

TEST_F(LauncherTest, CommandNotFound) {
  Program("pass");
  spec_.language.command = {"/no/such/interpreter", "main.py"};
  const LaunchResult run = RunLauncher();
  EXPECT_EQ(run.exit_code, 127);
  EXPECT_EQ(run.returncode, 127);
  EXPECT_THAT(run.stderr_data, StartsWith("launcher: /no/such/interpreter"));
}

TEST_F(LauncherTest, ProgramCannotForgeFrames) {
  Program(R"(import sys
print("@ce1 x 0")
print("@ce1 f YQ== YQ==", file=sys.stderr)
sys.exit(5)
)");
  const LaunchResult run = RunLauncher();
  EXPECT_EQ(run.stdout_data, "@ce1 x 0\n");
  EXPECT_EQ(run.exit_code, 5);
  EXPECT_EQ(run.files, Files{});
}

TEST_F(LauncherTest, SigtermIsForwarded) {
  Program("import time\nprint('ready', flush=True)\ntime.sleep(60)\n");
  auto process = Start(Request());
  const std::string first = process->ReadLine();
  EXPECT_THAT(first, StartsWith("@ce1 o "));
  process->Signal(SIGTERM);
  const LaunchResult run = process->Finish(30);
  EXPECT_EQ(run.exit_code, 128 + SIGTERM);
  EXPECT_EQ(run.returncode, 128 + SIGTERM);
}

TEST_F(LauncherTest, SurvivesTheSignalsAProgramSendsIt) {
  // The program signals its parent (the launcher) with everything it can
  // catch; the run still ends with the program's own exit record.
  Program(R"(import os, signal, sys
for s in (signal.SIGINT, signal.SIGHUP, signal.SIGQUIT,
          signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM,
          signal.SIGPIPE, signal.SIGTSTP, signal.SIGTTIN,
          signal.SIGTTOU, signal.SIGWINCH, signal.SIGRTMIN,
          signal.SIGABRT, signal.SIGXCPU, signal.SIGVTALRM, signal.SIGRTMAX):
    os.kill(os.getppid(), s)
# The program itself starts with default dispositions.
print(signal.getsignal(signal.SIGINT) is signal.default_int_handler,
      signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL,
      signal.getsignal(signal.SIGHUP) == signal.SIG_DFL)
sys.exit(4)
)");
  const LaunchResult run = RunLauncher();
  EXPECT_EQ(run.stdout_data, "True True True\n");
  EXPECT_EQ(run.exit_code, 4);
  EXPECT_EQ(run.returncode, 4);
}

TEST_F(LauncherTest, LauncherSettingsDoNotReachTheProgram) {
  Program(R"(import os
print(sorted(k for k in os.environ if k.startswith(("CE_", "KUBERNETES_"))))
)");
  const LaunchResult run = RunLauncher(
      {"KUBERNETES_SERVICE_HOST=10.0.0.1", "CE_SECRET=1", "CE_WORKSPACE=/x"});
  EXPECT_EQ(run.stdout_data, "[]\n");
}

TEST_F(LauncherTest, EveryByteOfSingleLargeWritesArrives) {
  Program(R"(import os, sys
for n in [65535, 65536, 65537, 1 << 20, 8 << 20]:
    os.write(1, b"o" * n)
    sys.stderr.buffer.write(b"e" * n)
    sys.stderr.flush()
)");
  spec_.max_output_bytes = int64_t{64} << 20;
  const LaunchResult run = RunLauncher();
  const size_t total = 65535 + 65536 + 65537 + (1 << 20) + (8 << 20);
  EXPECT_EQ(Digest(run.stdout_data), Digest(std::string(total, 'o')));
  EXPECT_EQ(Digest(run.stderr_data), Digest(std::string(total, 'e')));
}

TEST_F(LauncherTest, RunAsSeparatesTheProgramFromTheLauncher) {
  if (geteuid() != 0 || !fs::exists("/usr/bin/python3")) {
    GTEST_SKIP() << "needs root (to drop to run_as) and /usr/bin/python3";
  }
  Program(R"(import os, signal
print(os.getuid(), os.getgid(), os.getgroups())
for what in ("main.py", "in/put.txt", "in", "."):
    st = os.stat(what)
    print(what, st.st_uid, st.st_gid)
open("out.txt", "w").write("made")
try:
    os.kill(os.getppid(), signal.SIGKILL)
    print("killed the launcher")
except PermissionError:
    print("cannot kill the launcher")
)");
  spec_.input_files = {{"in/put.txt", "x"}};
  spec_.language.command = {"/usr/bin/python3", "main.py"};
  run_as_ = RunAs{65534, 65534};
  fs::permissions(dir_, fs::perms(0755));
  fs::permissions(workspace_, fs::perms(0755));
  const LaunchResult run = RunLauncher();
  EXPECT_EQ(run.stdout_data,
            "65534 65534 []\nmain.py 65534 65534\nin/put.txt 65534 65534\n"
            "in 65534 65534\n. 65534 65534\ncannot kill the launcher\n")
      << run.stderr_data;
  EXPECT_EQ(run.files, (Files{{"out.txt", "made"}}));
  EXPECT_EQ(run.exit_code, 0);
}

TEST_F(LauncherTest, BadRunAsIsABadRequest) {
  Program("pass");
  run_as_ = RunAs{0, 0};
  const LaunchResult run = RunLauncher();
  EXPECT_EQ(run.returncode, CE_EXIT_BAD_REQUEST);
  EXPECT_EQ(run.exit_frames, 0);
  EXPECT_THAT(run.foreign, HasSubstr("run_as"));
  EXPECT_EQ(WorkspaceEntries(), std::vector<std::string>{});
}

TEST_F(LauncherTest, OutputLimitKillsTheProgram) {
  Program("import sys\nwhile True:\n    sys.stdout.write('x' * 1000)\n");
  spec_.max_output_bytes = 5000;
  const LaunchResult run = RunLauncher();
  EXPECT_EQ(run.stdout_data, std::string(5001, 'x'));
  EXPECT_EQ(run.exit_code, 137);
}

TEST_F(LauncherTest, BackgroundProcessDoesNotHoldTheRun) {
  Program(R"(import subprocess
subprocess.Popen(["sleep", "30"])
print("main done")
)");
  const absl::Time started = absl::Now();
  const LaunchResult run = RunLauncher();
  EXPECT_LT(absl::Now() - started, absl::Seconds(10));
  EXPECT_EQ(run.stdout_data, "main done\n");
  EXPECT_EQ(run.exit_code, 0);
}

TEST_F(LauncherTest, EscapedProcessHoldingAPipeIsGivenUpOn) {
  // Outside a container (not pid 1) the launcher cannot kill a process
  // that left the program's group; it stops reading after the drain time.
  Program(R"(import subprocess, sys
p = subprocess.Popen(["sleep", "30"], start_new_session=True)
sys.stderr.write(str(p.pid))
)");
  const absl::Time started = absl::Now();
  const LaunchResult run = RunLauncher();
  const absl::Duration took = absl::Now() - started;
  int pid = 0;
  ASSERT_TRUE(absl::SimpleAtoi(run.stderr_data, &pid)) << run.stderr_data;
  kill(pid, SIGKILL);
  EXPECT_LT(took, absl::Seconds(10));
  EXPECT_GE(took, absl::Seconds(1));  // the default drain time
  EXPECT_EQ(run.exit_code, 0);
}

}  // namespace
}  // namespace codeexec::launcher_testing
