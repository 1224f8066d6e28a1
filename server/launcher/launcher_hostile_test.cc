// The launcher under hostile programs: write sizes around every boundary
// it or the pipe has, bytes that are not text, programs that play with
// their descriptors, signals sent to the launcher, a huge environment, a
// stdout that answers EAGAIN. Bytes are checked exactly (size + sha256).
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/launcher/frame_format.h"
#include "server/launcher/frame_parser.h"
#include "server/launcher/launcher_test_util.h"

namespace codeexec::launcher_testing {
namespace {

using testing::StartsWith;

// The bytes the program below writes for size n on stream s (0 or 1):
// position-dependent, so a lost or repeated chunk shows.
std::string Pattern(size_t n, int s) {
  std::string out(n, '\0');
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<char>((i * 7 + s) % 256);
  return out;
}

constexpr char kPatternProgram[] = R"(import os, sys
def pattern(n, s):
    return bytes((i * 7 + s) % 256 for i in range(n))
for n in [int(a) for a in sys.argv[1:]]:
    for fd, s in ((1, 0), (2, 1)):
        data = memoryview(pattern(n, s))
        while data:
            data = data[os.write(fd, data):]
)";

const std::vector<size_t> kSizes = {
    0,      1,      2,      3,      3071,    3072,         3073,  4095,
    4096,   4097,   6143,   6144,   6145,    65535,        65536, 65537,
    131071, 131072, 131073, 196608, 1 << 20, (1 << 20) + 1};

TEST_F(LauncherTest, EveryWriteSizeAroundTheBoundaries) {
  Program(kPatternProgram);
  for (size_t n : kSizes) {
    spec_.language.command.push_back(absl::StrCat(n));
  }
  const LaunchResult run = RunLauncher();
  std::string want_out, want_err;
  for (size_t n : kSizes) {
    want_out += Pattern(n, 0);
    want_err += Pattern(n, 1);
  }
  EXPECT_EQ(Digest(run.stdout_data), Digest(want_out));
  EXPECT_EQ(Digest(run.stderr_data), Digest(want_err));
  EXPECT_EQ(run.exit_code, 0);
  for (const std::string& line : run.lines) {
    EXPECT_LE(line.size(),
              sizeof(CE_FRAME_PREFIX) + 2 + CE_FRAME_CHUNK_BYTES / 3 * 4);
  }
}

TEST_F(LauncherTest, EveryByteOfASlowNonBlockingStdout) {
  // The launcher's stdout is O_NONBLOCK and read slowly: it meets EAGAIN
  // and short writes, and loses nothing.
  Program(kPatternProgram);
  spec_.language.command.push_back("300000");
  const std::string request = Request();
  const std::string path = dir_ + "/request";
  { std::ofstream(path, std::ios::binary) << request; }
  LauncherProcess process({launcher_path_, path}, {}, std::nullopt, false,
                          /*nonblocking_stdout=*/true);
  const LaunchResult run = process.Finish(120, /*pause_ms=*/1);
  EXPECT_EQ(Digest(run.stdout_data), Digest(Pattern(300000, 0)));
  EXPECT_EQ(Digest(run.stderr_data), Digest(Pattern(300000, 1)));
}

TEST_F(LauncherTest, NonTextBytesInOutputInputsAndFileNames) {
  Program(R"(# -*- coding: latin-1 -*-
import os, sys
data = open("in.bin", "rb").read()
sys.stdout.buffer.write(data)
open(b"\xff\xfename\x01", "wb").write(data[::-1])
)");
  std::string bytes;
  for (int i = 0; i < 3 * 256; ++i) bytes.push_back(static_cast<char>(i % 256));
  bytes += std::string("\0\0\xc3(\xed\xa0\x80", 7);  // NULs, invalid UTF-8
  spec_.input_files = {{"in.bin", bytes}};
  spec_.code += "# \xff not UTF-8 either\n";
  const LaunchResult run = RunLauncher();
  EXPECT_EQ(Digest(run.stdout_data), Digest(bytes));
  const std::string reversed(bytes.rbegin(), bytes.rend());
  EXPECT_EQ(run.files, (std::map<std::string, std::string>{
                           {std::string("\xff\xfename\x01"), reversed}}));
  EXPECT_EQ(run.exit_code, 0) << run.stderr_data;
}

TEST_F(LauncherTest, ProgramPlaysWithItsDescriptors) {
  Program(R"(import os
os.write(1, b"one ")
os.dup2(1, 2)
os.write(2, b"two ")
fd = os.dup(1)
os.close(1)
os.write(fd, b"three ")
os.close(2)
os.write(fd, b"four")
os.close(fd)
os.close(0)
)");
  const LaunchResult run = RunLauncher();
  EXPECT_EQ(run.stdout_data, "one two three four");
  EXPECT_EQ(run.stderr_data, "");
  EXPECT_EQ(run.exit_code, 0);
}

TEST_F(LauncherTest, ForkedChildWritesAfterTheParentExits) {
  // The program's child (same group) is killed when the program ends; what
  // it wrote before is kept, and the run does not wait for it.
  Program(R"(import os, sys, time
if os.fork() == 0:
    os.write(1, b"child ")
    time.sleep(30)
    os._exit(0)
time.sleep(0.2)
os.write(1, b"parent")
)");
  const absl::Time started = absl::Now();
  const LaunchResult run = RunLauncher();
  EXPECT_LT(absl::Now() - started, absl::Seconds(10));
  EXPECT_EQ(run.stdout_data, "child parent");
  EXPECT_EQ(run.exit_code, 0);
}

TEST_F(LauncherTest, SignalsToTheLauncherAreOutlived) {
  Program(R"(import sys, time
print("ready", flush=True)
time.sleep(1)
print("done", flush=True)
sys.exit(6)
)");
  auto process = Start(Request());
  std::string first = process->ReadLine();
  ASSERT_THAT(first, StartsWith("@ce1 o "));
  first.pop_back();
  for (int s : {SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGPIPE,
                SIGTSTP, SIGTTIN, SIGTTOU, SIGWINCH, SIGCONT, SIGABRT, 32, 33,
                34, SIGRTMIN, SIGRTMAX}) {
    process->Signal(s);
  }
  const LaunchResult run = process->Finish();
  EXPECT_EQ(FrameParser::ParseFrame(first).data + run.stdout_data,
            "ready\ndone\n");
  EXPECT_EQ(run.exit_code, 6);
  EXPECT_EQ(run.returncode, 6);
}

TEST_F(LauncherTest, HugeEnvironment) {
  Program(R"(import hashlib, os
names = sorted(k for k in os.environ if k.startswith("BIG_"))
print(len(names), hashlib.sha256(
    "".join(os.environ[k] for k in names).encode()).hexdigest()[:16])
)");
  for (int i = 0; i < 1000; ++i) {
    const std::string value =
        std::string(1000, static_cast<char>('a' + i % 26));
    spec_.env.emplace_back(absl::StrFormat("BIG_%04d", i), value);
  }
  const LaunchResult run = RunLauncher();
  EXPECT_THAT(run.stdout_data, StartsWith("1000 ")) << run.stderr_data;
  EXPECT_EQ(run.exit_code, 0);
}

TEST_F(LauncherTest, LargeStdinAndManyInputFiles) {
  Program(R"(import hashlib, os, sys
data = sys.stdin.buffer.read()
print(len(data), len(os.listdir("d")))
)");
  spec_.stdin_data = Pattern(3 << 20, 0);
  for (int i = 0; i < 200; ++i) {
    spec_.input_files.push_back({absl::StrCat("d/f", i), Pattern(i, 1)});
  }
  const LaunchResult run = RunLauncher();
  EXPECT_EQ(run.stdout_data, absl::StrCat(3 << 20, " 200\n"))
      << run.stderr_data;
  EXPECT_EQ(run.files.size(), 0u);  // unchanged inputs
}

}  // namespace
}  // namespace codeexec::launcher_testing
