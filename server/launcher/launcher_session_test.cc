// Session mode (`launcher --session`, request_format.h) on the host: cells
// one after another on one stream, a Python kernel keeping its globals, an
// exception or an interrupt ending the cell and not the session, sys.exit()
// ending it with its code, cells without a kernel as fresh programs in the
// same workspace, only changed files coming back, and the stream's end (or
// a malformed request) ending the launcher.
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/launcher/launcher_test_util.h"
#include "server/launcher/python_prestart.h"

namespace codeexec::launcher_testing {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;

class LauncherSessionTest : public LauncherTest {
 protected:
  void SetUp() override {
    LauncherTest::SetUp();
    session_ = std::make_unique<LauncherProcess>(
        std::vector<std::string>{launcher_path_, "--session"},
        std::vector<std::string>{}, std::nullopt, /*keep_stdin_open=*/true);
  }
  // The request of one cell running `code` (in the kernel unless told).
  std::string CellRequest(std::string code, bool kernel = true) {
    Program(std::move(code));
    absl::StatusOr<std::string> request = BuildCellRequest(
        spec_, kernel ? KernelFor(spec_.language) : std::nullopt, run_as_,
        workspace_);
    EXPECT_TRUE(request.ok()) << request.status();
    return request.value_or("");
  }
  // Sends a cell and reads its frames up to its exit record.
  LaunchResult Cell(std::string code, bool kernel = true) {
    session_->Write(CellRequest(std::move(code), kernel));
    return ReadCell();
  }
  LaunchResult ReadCell() {
    std::string raw;
    while (true) {
      const std::string line = session_->ReadLine();
      raw += line;
      if (line.empty() || absl::StartsWith(line, "@ce1 x")) break;
    }
    last_raw_ = raw;
    return Decode(raw, 0);
  }

  std::unique_ptr<LauncherProcess> session_;
  std::string last_raw_;
};

TEST_F(LauncherSessionTest, TheKernelKeepsItsGlobalsAndReportsExceptions) {
  EXPECT_EQ(Cell("x = 41\nimport hashlib").exit_code, 0);
  LaunchResult second = Cell("x += 1\nprint(x, __name__)");
  EXPECT_EQ(second.stdout_data, "42 __main__\n");
  EXPECT_EQ(second.exit_code, 0);
  LaunchResult failed = Cell("1 / 0");
  EXPECT_EQ(failed.exit_code, 1);
  EXPECT_EQ(failed.stdout_data, "");
  EXPECT_THAT(failed.stderr_data,
              EndsWith("ZeroDivisionError: division by zero\n"));
  EXPECT_THAT(failed.stderr_data,
              HasSubstr(absl::StrCat("File \"", workspace_, "/main.py\"")));
  // No frame of the kernel in the traceback.
  EXPECT_THAT(failed.stderr_data, ::testing::Not(HasSubstr("<string>")));
  EXPECT_EQ(Cell("print(x, hashlib.sha256(b'').hexdigest()[:8])").stdout_data,
            "42 e3b0c442\n");
  session_->CloseStdin();
  std::string rest;
  EXPECT_EQ(session_->ReadToExit(rest), 0);
  EXPECT_EQ(rest, "");
}

TEST_F(LauncherSessionTest, AnInterruptEndsTheCellNotTheKernel) {
  session_->Write(
      CellRequest("import time\nkept = 'yes'\nprint('in', flush=True)\n"
                  "time.sleep(60)\n"));
  // "in\n", in one frame or (print's two writes) two.
  std::string started;
  while (started != "in\n") {
    const std::string line = session_->ReadLine();
    absl::string_view frame(line);
    ASSERT_TRUE(absl::ConsumePrefix(&frame, "@ce1 o ")) << started << line;
    std::string chunk;
    ASSERT_TRUE(absl::Base64Unescape(absl::StripSuffix(frame, "\n"), &chunk));
    started += chunk;
    ASSERT_LE(started.size(), 3u) << started;
  }
  session_->Write(std::string(1, CE_REQ_INTERRUPT));
  LaunchResult interrupted = ReadCell();
  EXPECT_EQ(interrupted.exit_code, 1);
  EXPECT_THAT(interrupted.stderr_data, EndsWith("KeyboardInterrupt\n"));
  // An interrupt between cells is dropped: the next cell runs whole.
  session_->Write(std::string(1, CE_REQ_INTERRUPT));
  EXPECT_EQ(Cell("print(kept)").stdout_data, "yes\n");
}

TEST_F(LauncherSessionTest, SysExitEndsTheSessionWithItsCode) {
  EXPECT_EQ(Cell("y = 1").exit_code, 0);
  LaunchResult bye = Cell("import sys\nprint('bye')\nsys.exit(4)");
  EXPECT_EQ(bye.stdout_data, "bye\n");
  EXPECT_EQ(bye.exit_code, 4);
  EXPECT_THAT(last_raw_, EndsWith("@ce1 x 4 end\n"));
  std::string rest;
  EXPECT_EQ(session_->ReadToExit(rest), 4);
  EXPECT_EQ(rest, "");
}

TEST_F(LauncherSessionTest, CellsWithoutAKernelAreFreshProgramsInOneWorkspace) {
  LaunchResult first = Cell(
      "import os\nx = 1\nopen('a.txt', 'w').write('a')\nprint(os.getpid())",
      /*kernel=*/false);
  EXPECT_EQ(first.files.at("a.txt"), "a");
  LaunchResult second = Cell(
      "import os\nprint('x' in globals(), open('a.txt').read())\n"
      "open('b.txt', 'w').write('b')",
      /*kernel=*/false);
  EXPECT_EQ(second.stdout_data, "False a\n");
  // Only what the cell wrote: b.txt, not the unchanged a.txt.
  EXPECT_EQ(second.file_order, std::vector<std::string>{"b.txt"});
}

TEST_F(LauncherSessionTest, ACellsInputFileReplacesTheOneBefore) {
  spec_.input_files = {{"in.txt", "first"}};
  EXPECT_EQ(Cell("print(open('in.txt').read())").stdout_data, "first\n");
  spec_.input_files = {{"in.txt", "second"}};
  LaunchResult second = Cell("print(open('in.txt').read())");
  EXPECT_EQ(second.stdout_data, "second\n");
  EXPECT_TRUE(second.files.empty());  // an input is not an output
}

TEST_F(LauncherSessionTest, AMalformedRequestEndsTheSessionAsARefusal) {
  EXPECT_EQ(Cell("z = 1").exit_code, 0);
  // Version 9: the header is read whole, then refused.
  session_->Write(std::string("CERQ\x09\x00\x00\x00\x00\x00\x00\x00", 12));
  LaunchResult refused = session_->Finish();
  EXPECT_EQ(refused.returncode, CE_EXIT_BAD_REQUEST);
  EXPECT_THAT(refused.foreign, HasSubstr("unsupported version"));
}

TEST_F(LauncherSessionTest, AWaitingLauncherTurnsIntoASessionOnACell) {
  // A warm sandbox's launcher: --wait, its interpreter prestarted.
  session_ = std::make_unique<LauncherProcess>(
      std::vector<std::string>{launcher_path_, "--wait"},
      std::vector<std::string>{}, std::nullopt, /*keep_stdin_open=*/true);
  std::optional<Starter> starter = StarterFor(spec_.language);
  ASSERT_TRUE(starter.has_value());
  absl::StatusOr<std::string> prestart =
      BuildPrestartRequest(spec_, *starter, run_as_, workspace_);
  ASSERT_TRUE(prestart.ok()) << prestart.status();
  session_->Write(*prestart);
  EXPECT_EQ(Cell("x = 41").exit_code, 0);
  EXPECT_EQ(Cell("x += 1\nprint(x)").stdout_data, "42\n");
  EXPECT_EQ(Cell("print('x' in globals())", /*kernel=*/false).stdout_data,
            "False\n");
  EXPECT_EQ(Cell("print(x)").stdout_data, "42\n");
  session_->CloseStdin();
  std::string rest;
  EXPECT_EQ(session_->ReadToExit(rest), 0);
  EXPECT_EQ(rest, "");
}

TEST_F(LauncherSessionTest, ACellRequestFromAFileIsRefused) {
  const LaunchResult refused = RunRequest(CellRequest("print(1)"));
  EXPECT_EQ(refused.returncode, CE_EXIT_BAD_REQUEST);
  EXPECT_THAT(refused.foreign, HasSubstr("only on a stream"));
}

}  // namespace
}  // namespace codeexec::launcher_testing
