// The contract between the parts both backends share: the bundle
// BundleEntries makes (the embedded launcher and BuildRequest's request)
// laid out on disk as the sandbox sees it, run by LauncherCommand's argv
// shape, its stdout parsed by FrameParser fed in odd-sized chunks.
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/launcher/frame_parser.h"
#include "server/launcher/launcher_bundle.h"
#include "server/launcher/launcher_source.h"

namespace codeexec {
namespace {

namespace fs = std::filesystem;
using Kind = LauncherEvent::Kind;

struct Outcome {
  std::string stdout_data, stderr_data, foreign;
  std::map<std::string, std::string> files;
  bool truncated = false;
  int exit_code = -1;
  int exit_frames = 0;
};

class LauncherRoundTripTest : public testing::Test {
 protected:
  void SetUp() override {
    if (system("command -v python3 >/dev/null 2>&1") != 0) {
      GTEST_SKIP() << "python3 not installed (the programs here are Python)";
    }
    std::string tmpl = (fs::path(testing::TempDir()) / "ce-rt-XXXXXX");
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    fs::create_directory(dir_ / "bundle");
    fs::create_directory(dir_ / "workspace");
    spec_.execution_id = "ce-00000000abcd";
    spec_.language = {"main.py", {"python3", "main.py"}, "", {}, ""};
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  // Lays the bundle out as files, runs the launcher, parses its stdout fed
  // in odd-sized chunks.
  Outcome Run() {
    Outcome outcome;
    absl::StatusOr<std::string> request =
        BuildRequest(spec_, std::nullopt, (dir_ / "workspace").string());
    EXPECT_TRUE(request.ok()) << request.status();
    if (!request.ok()) return outcome;
    for (const BundleEntry& entry : BundleEntries(*request, LauncherSource())) {
      const fs::path path = dir_ / "bundle" / entry.key;
      std::ofstream(path, std::ios::binary) << entry.content;
      chmod(path.c_str(), entry.executable ? 0555 : 0444);
    }
    // LauncherCommand() with the bundle where this test has it.
    std::string command;
    for (const std::string& arg : LauncherCommand()) {
      absl::StrAppend(&command, "'", (dir_ / "bundle").string(),
                      arg.substr(std::string(kSandboxBundleDir).size()), "' ");
    }
    FILE* pipe = popen(command.c_str(), "r");
    EXPECT_NE(pipe, nullptr);
    if (pipe == nullptr) return outcome;
    FrameParser parser;
    std::vector<LauncherEvent> events;
    char buffer[777];
    size_t n;
    while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
      for (LauncherEvent& e : parser.Feed(absl::string_view(buffer, n))) {
        events.push_back(std::move(e));
      }
    }
    for (LauncherEvent& e : parser.Finish()) events.push_back(std::move(e));
    pclose(pipe);
    for (const LauncherEvent& e : events) {
      EXPECT_EQ(outcome.exit_frames, 0) << "event after the exit frame";
      switch (e.kind) {
        case Kind::kStdout:
          outcome.stdout_data += e.data;
          break;
        case Kind::kStderr:
          outcome.stderr_data += e.data;
          break;
        case Kind::kFile:
          outcome.files[e.path] = e.data;
          break;
        case Kind::kFilesTruncated:
          outcome.truncated = true;
          break;
        case Kind::kExit:
          outcome.exit_code = e.exit_code;
          ++outcome.exit_frames;
          break;
        case Kind::kForeign:
          absl::StrAppend(&outcome.foreign, e.data);
          break;
      }
    }
    return outcome;
  }

  fs::path dir_;
  ExecutionSpec spec_;
};

TEST_F(LauncherRoundTripTest, EverythingComesBack) {
  spec_.code =
      "import os, sys\n"
      "data = sys.stdin.buffer.read()\n"
      "sys.stdout.buffer.write(data[::-1] + bytes(range(256)))\n"
      "sys.stderr.write(os.environ['GREETING'] + ' ' * 5000 + 'end')\n"
      "open('data/in.csv', 'a').write('3,4\\n')\n"
      "os.makedirs('out')\n"
      "open('out/r.txt', 'w').write('result')\n"
      "sys.exit(3)\n";
  spec_.stdin_data = "abc";
  spec_.env = {{"GREETING", "hello"}};
  spec_.input_files = {{"data/in.csv", "a,b\n"}, {"same.bin", "\x01\x02"}};
  const Outcome outcome = Run();
  EXPECT_EQ(outcome.foreign, "");
  std::string want_stdout = "cba";
  for (int i = 0; i < 256; ++i) want_stdout.push_back(static_cast<char>(i));
  EXPECT_EQ(outcome.stdout_data, want_stdout);
  EXPECT_EQ(outcome.stderr_data, "hello" + std::string(5000, ' ') + "end");
  EXPECT_EQ(outcome.files,
            (std::map<std::string, std::string>{{"data/in.csv", "a,b\n3,4\n"},
                                                {"out/r.txt", "result"}}));
  EXPECT_FALSE(outcome.truncated);
  EXPECT_EQ(outcome.exit_code, 3);
  EXPECT_EQ(outcome.exit_frames, 1);
}

TEST_F(LauncherRoundTripTest, CapsAndNonUtf8Code) {
  spec_.code =
      "# -*- coding: latin-1 -*-\n# \xff is not UTF-8\n"
      "for n in 'abc': open(n, 'w').write(n)\n";
  spec_.max_output_files = 2;
  const Outcome outcome = Run();
  EXPECT_EQ(outcome.files,
            (std::map<std::string, std::string>{{"a", "a"}, {"b", "b"}}));
  EXPECT_TRUE(outcome.truncated);
  EXPECT_EQ(outcome.exit_code, 0) << outcome.stderr_data;
}

TEST_F(LauncherRoundTripTest, OutputLimitStopsTheProgram) {
  spec_.code = "import sys\nwhile True: sys.stdout.write('x' * 4096)\n";
  spec_.max_output_bytes = 100000;
  const Outcome outcome = Run();
  EXPECT_EQ(outcome.stdout_data.size(), 100001u);
  EXPECT_EQ(outcome.exit_code, 137);
}

std::string ReadFile(const char* path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
}

TEST(LauncherSourceTest, EmbeddedLauncherIsTheBuiltOne) {
  const std::string file = ReadFile(CODEEXEC_LAUNCHER_BIN);
  ASSERT_FALSE(file.empty());
  EXPECT_EQ(LauncherSource(), file);
  // Static (no interpreter asked of the image) and small.
  EXPECT_EQ(LauncherSource().substr(0, 4),
            "\x7f"
            "ELF");
  EXPECT_EQ(LauncherSource().find("ld-musl"), absl::string_view::npos);
  EXPECT_EQ(LauncherSource().find("ld-linux"), absl::string_view::npos);
  EXPECT_LT(LauncherSource().size(), 100u << 10);
}

}  // namespace
}  // namespace codeexec
