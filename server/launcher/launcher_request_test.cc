// Malformed requests, in both modes: every one ends with the launcher's
// error on the e stream and the bad-request exit record, never a crash, a
// hang or a file in the workspace. And the request's own edges: paths that
// would escape the workspace, the waiting mode's exactly-one-request read.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/launcher/launcher_test_util.h"
#include "server/launcher/request_format.h"

namespace codeexec::launcher_testing {
namespace {

namespace fs = std::filesystem;
using testing::HasSubstr;
using testing::StartsWith;

std::string U32(uint32_t v) {
  std::string s;
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>(v >> 8 * i));
  return s;
}
std::string U64(uint64_t v) {
  return U32(static_cast<uint32_t>(v)) + U32(static_cast<uint32_t>(v >> 32));
}
std::string Rec(uint32_t tag, const std::string& value) {
  return U32(tag) + U32(static_cast<uint32_t>(value.size())) + value;
}
std::string FileValue(uint32_t mode, const std::string& path,
                      const std::string& content) {
  return U32(mode) + U32(static_cast<uint32_t>(path.size())) + path + content;
}
std::string Header(size_t body_size) {
  return std::string(CE_REQ_MAGIC) + U32(CE_REQ_VERSION) +
         U32(static_cast<uint32_t>(body_size));
}

class LauncherRequestTest : public LauncherTest {
 protected:
  // A valid body with `extra` records appended.
  std::string Body(const std::string& extra = "") {
    return Rec(CE_TAG_ARG, "true") + Rec(CE_TAG_WORKSPACE, workspace_) +
           Rec(CE_TAG_PROGRAM, FileValue(0644, "main.py", "pass")) + extra;
  }
  std::string WithBody(const std::string& body) {
    return Header(body.size()) + body;
  }
  // Refused: exit code 125, no exit record (so the host can never take it
  // for a program's exit 125), the reason as a plain line.
  void ExpectBadRequest(const LaunchResult& run, const std::string& why) {
    EXPECT_EQ(run.returncode, CE_EXIT_BAD_REQUEST) << why;
    EXPECT_EQ(run.exit_frames, 0) << why;
    EXPECT_THAT(run.foreign, StartsWith("launcher: ")) << why;
    EXPECT_EQ(run.stderr_data, "") << why;
    EXPECT_EQ(run.stdout_data, "") << why;
    EXPECT_EQ(run.files.size(), 0u) << why;
    EXPECT_EQ(WorkspaceEntries(), std::vector<std::string>{}) << why;
  }
};

TEST_F(LauncherRequestTest, AValidHandMadeRequestRuns) {
  const LaunchResult run = RunRequest(WithBody(Body()));
  EXPECT_EQ(run.exit_code, 0) << run.stderr_data;
}

TEST_F(LauncherRequestTest, TruncatedAtEveryByte) {
  Program("print('never')");
  spec_.env = {{"A", "1"}};
  spec_.input_files = {{"d/in.txt", "input"}};
  spec_.stdin_data = "stdin";
  run_as_ = RunAs{65534, 65534};
  const std::string request = Request();
  for (size_t n = 0; n < request.size(); ++n) {
    ExpectBadRequest(RunRequest(request.substr(0, n)),
                     absl::StrCat("file ", n));
  }
  for (size_t n : {size_t{0}, size_t{5}, size_t{12}, request.size() - 1}) {
    ExpectBadRequest(RunWaiting(request.substr(0, n)),
                     absl::StrCat("stdin ", n));
  }
}

TEST_F(LauncherRequestTest, BadHeaders) {
  const std::string body = Body();
  ExpectBadRequest(RunRequest("XXXX" + WithBody(body).substr(4)), "magic");
  ExpectBadRequest(
      RunRequest(std::string(CE_REQ_MAGIC) + U32(2) + U32(body.size()) + body),
      "version");
  ExpectBadRequest(RunRequest(Header(CE_REQ_MAX_BODY_BYTES + 1) + body),
                   "oversized body");
  ExpectBadRequest(RunRequest(Header(0xffffffffu) + body), "absurd body");
  ExpectBadRequest(RunRequest(Header(body.size() + 100) + body), "short body");
  ExpectBadRequest(RunRequest(WithBody(body) + "x"), "trailing bytes");
  ExpectBadRequest(RunRequest(""), "empty");
  ExpectBadRequest(RunWaiting(Header(0xffffffffu) + body), "absurd on stdin");
}

TEST_F(LauncherRequestTest, BadRecords) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"no command", Rec(CE_TAG_WORKSPACE, workspace_) +
                         Rec(CE_TAG_PROGRAM, FileValue(0644, "m", ""))},
      {"no workspace",
       Rec(CE_TAG_ARG, "true") + Rec(CE_TAG_PROGRAM, FileValue(0644, "m", ""))},
      {"no program",
       Rec(CE_TAG_ARG, "true") + Rec(CE_TAG_WORKSPACE, workspace_)},
      {"unknown tag", Body(Rec(99, "x"))},
      {"tag 0", Body(Rec(0, ""))},
      {"two workspaces", Body(Rec(CE_TAG_WORKSPACE, workspace_))},
      {"two programs", Body(Rec(CE_TAG_PROGRAM, FileValue(0644, "b", "")))},
      {"two stdins", Body(Rec(CE_TAG_STDIN, "a") + Rec(CE_TAG_STDIN, "b"))},
      {"relative workspace", Rec(CE_TAG_ARG, "true") +
                                 Rec(CE_TAG_WORKSPACE, "ws") +
                                 Rec(CE_TAG_PROGRAM, FileValue(0644, "m", ""))},
      {"NUL in an argument", Body(Rec(CE_TAG_ARG, std::string("a\0b", 3)))},
      {"env without =", Body(Rec(CE_TAG_ENV, "NAME"))},
      {"env with empty name", Body(Rec(CE_TAG_ENV, "=v"))},
      {"NUL in env", Body(Rec(CE_TAG_ENV, std::string("A=\0", 3)))},
      {"run_as root", Body(Rec(CE_TAG_RUN_AS, U32(0) + U32(0)))},
      {"run_as short", Body(Rec(CE_TAG_RUN_AS, U32(1)))},
      {"number short", Body(Rec(CE_TAG_MAX_OUTPUT_BYTES, U32(1)))},
      {"drain long", Body(Rec(CE_TAG_DRAIN_MS, U64(1)))},
      {"file record short", Body(Rec(CE_TAG_FILE, U32(0644)))},
      {"setuid mode", Body(Rec(CE_TAG_FILE, FileValue(04755, "x", "")))},
      {"path length past the record",
       Body(Rec(CE_TAG_FILE, U32(0644) + U32(1000) + "x"))},
      {"absurd path length",
       Body(Rec(CE_TAG_FILE, U32(0644) + U32(0xffffffffu) + "x"))},
      {"record length past the end", Body(U32(CE_TAG_STDIN) + U32(1000) + "x")},
      {"absurd record length",
       Body(U32(CE_TAG_STDIN) + U32(0xffffffffu) + "x")},
      {"half a record header", Body(U32(CE_TAG_STDIN))},
  };
  for (const auto& [why, body] : cases) {
    ExpectBadRequest(RunRequest(WithBody(body)), why);
  }
}

TEST_F(LauncherRequestTest, UnsafePaths) {
  for (const std::string& path : std::vector<std::string>{
           "../escape.py", "/abs.py", "a/../../b", "a//b", "./a", "a/.", "",
           "a/", std::string("a\0b", 3)}) {
    ExpectBadRequest(RunRequest(WithBody(
                         Body(Rec(CE_TAG_FILE, FileValue(0644, path, "x"))))),
                     path);
  }
  Program("pass");
  spec_.language.file_name = "../main.py";
  EXPECT_FALSE(BuildRequest(spec_, std::nullopt, workspace_).ok());
}

TEST_F(LauncherRequestTest, AbsurdCounts) {
  std::string args;
  for (uint32_t i = 0; i <= CE_REQ_MAX_ARGS; ++i) args += Rec(CE_TAG_ARG, "a");
  ExpectBadRequest(RunRequest(WithBody(Body(args))), "too many args");
  std::string env;
  for (uint32_t i = 0; i <= CE_REQ_MAX_ENV; ++i) env += Rec(CE_TAG_ENV, "A=1");
  ExpectBadRequest(RunRequest(WithBody(Body(env))), "too many env");
  std::string files;
  for (uint32_t i = 0; i <= CE_REQ_MAX_FILES; ++i) {
    files += Rec(CE_TAG_FILE, FileValue(0644, absl::StrCat("f", i), ""));
  }
  ExpectBadRequest(RunRequest(WithBody(Body(files))), "too many files");
}

TEST_F(LauncherRequestTest, SymlinkInTheWorkspaceIsNotFollowed) {
  const std::string outside = dir_ + "/outside";
  fs::create_directory(outside);
  fs::create_directory_symlink(outside, workspace_ + "/link");
  Program("pass");
  spec_.input_files = {{"link/evil.txt", "x"}};
  const LaunchResult run = RunLauncher();
  EXPECT_EQ(run.exit_code, CE_EXIT_NOT_STARTED);
  EXPECT_THAT(run.stderr_data, HasSubstr("link/evil.txt"));
  EXPECT_TRUE(fs::is_empty(outside));
  // A symlink as the file itself is not written through either.
  fs::create_symlink(outside + "/target", workspace_ + "/file.txt");
  spec_.input_files = {{"file.txt", "x"}};
  EXPECT_EQ(RunLauncher().exit_code, CE_EXIT_NOT_STARTED);
  EXPECT_TRUE(fs::is_empty(outside));
}

TEST_F(LauncherRequestTest, DuplicateInputPathIsNotStarted) {
  Program("pass");
  spec_.input_files = {{"a", "1"}, {"a", "2"}};
  const LaunchResult run = RunLauncher();
  EXPECT_EQ(run.exit_code, CE_EXIT_NOT_STARTED);
  EXPECT_THAT(run.stderr_data, HasSubstr("a: File exists"));
}

TEST_F(LauncherRequestTest, WaitingModeReadsExactlyOneRequest) {
  // The launcher's stdin stays open after the request: it must not wait for
  // EOF, and the program's stdin is the request's, not the launcher's.
  Program("import sys; print(repr(sys.stdin.read()))");
  spec_.stdin_data = "from the request";
  const LaunchResult run = RunWaiting(Request() + "more bytes", true);
  EXPECT_EQ(run.stdout_data, "'from the request'\n") << run.stderr_data;
  EXPECT_EQ(run.exit_code, 0);
}

TEST_F(LauncherRequestTest, WaitingModeSkipsPrimersBeforeTheRequest) {
  Program("print('primed')");
  const LaunchResult run =
      RunWaiting(std::string(3, CE_REQ_PRIMER) + Request(), true);
  EXPECT_EQ(run.stdout_data, "primed\n") << run.stderr_data;
  EXPECT_EQ(run.exit_code, 0);
}

TEST_F(LauncherRequestTest, PrimersOnlyThenEndIsABadRequest) {
  const LaunchResult run = RunWaiting(std::string(2, CE_REQ_PRIMER), false);
  EXPECT_EQ(run.returncode, CE_EXIT_BAD_REQUEST);
  EXPECT_EQ(run.exit_frames, 0);
  EXPECT_THAT(run.foreign, HasSubstr("truncated header"));
}

TEST_F(LauncherRequestTest, PrimerInsideARequestFileIsMalformed) {
  // Only a stream may carry primers; a request file is exactly one request.
  Program("pass");
  const LaunchResult run =
      RunRequest(std::string(1, CE_REQ_PRIMER) + Request());
  EXPECT_EQ(run.returncode, CE_EXIT_BAD_REQUEST);
  EXPECT_THAT(run.foreign, HasSubstr("bad magic"));
}

TEST_F(LauncherRequestTest, UsageErrors) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {launcher_path_},
           {launcher_path_, "a", "b"},
           {launcher_path_, "--bogus"},
           {launcher_path_, dir_ + "/no-such-request"}}) {
    LauncherProcess process(args, {});
    const LaunchResult run = process.Finish();
    EXPECT_EQ(run.returncode, CE_EXIT_BAD_REQUEST);
    EXPECT_EQ(run.exit_frames, 0);
    EXPECT_THAT(run.foreign, StartsWith("launcher: "));
  }
}

}  // namespace
}  // namespace codeexec::launcher_testing
