// PRESTART (request_format.h): a Python starter started before its request
// runs each program exactly as a fresh `python3 main.py` would (same stdout,
// stderr, exit code and files, byte for byte, on programs that probe what
// a script run sets up), takes only requests that match the prestart, and a
// prestart is refused where it makes no sense.
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/launcher/launcher_test_util.h"
#include "server/launcher/python_prestart.h"

namespace codeexec::launcher_testing {
namespace {

using ::testing::HasSubstr;

// Tells the two ways apart: the process's own command line.
constexpr char kCmdlineProbe[] =
    "import sys\n"
    "sys.stderr.write(open('/proc/self/cmdline').read().split('\\0')[1])\n";

class LauncherPrestartTest : public LauncherTest {
 protected:
  std::string Prestart(const ExecutionSpec& shape) {
    std::optional<Starter> starter = StarterFor(shape.language);
    EXPECT_TRUE(starter.has_value());
    if (!starter.has_value()) return "";
    absl::StatusOr<std::string> request =
        BuildPrestartRequest(shape, *starter, run_as_, workspace_);
    EXPECT_TRUE(request.ok()) << request.status();
    return request.ok() ? *request : "";
  }
  // launcher --wait on `input`, in an empty workspace.
  LaunchResult RunInEmptyWorkspace(const std::string& input) {
    std::filesystem::remove_all(workspace_);
    std::filesystem::create_directory(workspace_);
    return RunWaiting(input);
  }
  // The program of spec_ run fresh, then with a starter.
  std::pair<LaunchResult, LaunchResult> RunBothWays() {
    const LaunchResult fresh = RunInEmptyWorkspace(Request());
    const LaunchResult started =
        RunInEmptyWorkspace(Prestart(spec_) + Request());
    return {fresh, started};
  }
  // Whether the last program ran in the starter (its stderr, kCmdlineProbe).
  static bool RanInStarter(const LaunchResult& run) {
    return run.stderr_data == "-c";
  }
};

TEST_F(LauncherPrestartTest, AStartedInterpreterRunsTheProgramAsAFreshOne) {
  const std::vector<std::string> programs = {
      // What a script run sets up.
      "import sys, os\n"
      "print(sys.argv, sys.orig_argv, repr(sys.path[0]), __file__, __name__)\n"
      "m = sys.modules['__main__']\n"
      "print(sorted(vars(m)), type(__loader__).__name__, __loader__.name,\n"
      "      __loader__.path, __spec__, __package__, __cached__, __doc__,\n"
      "      type(__builtins__), __annotations__)\n"
      "print(os.getcwd(), sys.flags, sys.stdout.line_buffering,\n"
      "      sys.stdin.isatty(), sys.stdout.encoding, sys.stdin.read())\n"
      "print(sorted(os.listdir('/proc/self/fd')))\n"
      "print(sorted(k for k in os.environ if not k.startswith('PYENV')))\n",
      // Modules loaded before the program's first line.
      "import sys\nprint(sorted(sys.modules))\n",
      // A module docstring, annotations, pickling a class of __main__.
      "'''doc'''\nimport pickle\nclass A: pass\nx: int = 3\n"
      "print(__doc__, __annotations__, "
      "type(pickle.loads(pickle.dumps(A()))))\n",
      // Uncaught exceptions: the traceback is the program's alone.
      "def f():\n    raise ValueError('boom')\nprint('before')\nf()\n",
      "x = (\n",                    // a syntax error
      "import sys\nsys.exit(3)\n",  // exit codes
      "import sys\nsys.exit('bye')\n",
      "raise KeyboardInterrupt\n",  // ends by SIGINT, as Python does
      "import os, signal\nos.kill(os.getpid(), signal.SIGINT)\n",
      "\xef\xbb\xbfprint('after a BOM')\n",
      "# -*- coding: latin-1 -*-\nprint('\xe9')\n",
      "import warnings\nwarnings.warn('careful')\n",
      "open('out.txt', 'w').write('a file')\nprint(open('main.py').read())\n",
  };
  spec_.stdin_data = "the stdin\n";
  for (const std::string& program : programs) {
    SCOPED_TRACE(program);
    Program(program);
    const auto [fresh, started] = RunBothWays();
    EXPECT_EQ(started.stdout_data, fresh.stdout_data);
    EXPECT_EQ(started.stderr_data, fresh.stderr_data);
    EXPECT_EQ(started.exit_code, fresh.exit_code);
    EXPECT_EQ(started.returncode, fresh.returncode);
    EXPECT_EQ(started.files, fresh.files);
  }
}

TEST_F(LauncherPrestartTest, OnlyAMatchingRequestRunsInTheStarter) {
  Program(kCmdlineProbe);
  const std::string prestart = Prestart(spec_);
  EXPECT_TRUE(RanInStarter(RunInEmptyWorkspace(prestart + Request())));

  ExecutionSpec other_env = spec_;  // an env entry more
  other_env.env.push_back({"TZ", "UTC"});
  LaunchResult run = RunInEmptyWorkspace(
      prestart + *BuildRequest(other_env, run_as_, workspace_));
  EXPECT_EQ(run.stderr_data, "main.py");
  EXPECT_EQ(run.exit_code, 0);

  ExecutionSpec other_command = spec_;  // an interpreter option
  other_command.language.command = {"python3", "-B", "main.py"};
  run = RunInEmptyWorkspace(prestart +
                            *BuildRequest(other_command, run_as_, workspace_));
  EXPECT_EQ(run.stderr_data, "-B");
  EXPECT_EQ(run.exit_code, 0);

  ExecutionSpec other_workspace = spec_;
  run = RunInEmptyWorkspace(prestart + *BuildRequest(other_workspace, run_as_,
                                                     dir_));  // the parent dir
  EXPECT_EQ(run.stderr_data, "main.py");
}

TEST_F(LauncherPrestartTest, AStarterThatCannotStartLeavesTheRunCold) {
  Program(kCmdlineProbe);
  std::optional<Starter> starter = StarterFor(spec_.language);
  ASSERT_TRUE(starter.has_value());
  // The starter's interpreter does not exist; the request's does.
  starter->argv[0] = "/no/such/python3";
  const std::string prestart =
      *BuildPrestartRequest(spec_, *starter, run_as_, workspace_);
  const LaunchResult run = RunInEmptyWorkspace(prestart + Request());
  EXPECT_EQ(run.stderr_data, "main.py");
  EXPECT_EQ(run.exit_code, 0);
}

TEST_F(LauncherPrestartTest, PrestartsAreRefusedWhereTheyMakeNoSense) {
  Program("print(1)");
  const std::string prestart = Prestart(spec_);
  // In a request file (cold mode).
  LaunchResult run = RunRequest(prestart);
  EXPECT_EQ(run.returncode, CE_EXIT_BAD_REQUEST);
  EXPECT_THAT(run.foreign, HasSubstr("only on a stream"));
  // Twice.
  run = RunInEmptyWorkspace(prestart + prestart + Request());
  EXPECT_EQ(run.returncode, CE_EXIT_BAD_REQUEST);
  EXPECT_THAT(run.foreign, HasSubstr("second prestart"));
  // Sharing as many arguments as the command has (no file left to run).
  Starter bad = *StarterFor(spec_.language);
  bad.shared_args = 2;
  run = RunInEmptyWorkspace(
      *BuildPrestartRequest(spec_, bad, run_as_, workspace_) + Request());
  EXPECT_EQ(run.returncode, CE_EXIT_BAD_REQUEST);
  EXPECT_THAT(run.foreign, HasSubstr("prestart shares 2 of 2"));
  // The stream ends after the prestart: no request, the starter goes too.
  run = RunInEmptyWorkspace(prestart);
  EXPECT_EQ(run.returncode, CE_EXIT_BAD_REQUEST);
  EXPECT_THAT(run.foreign, HasSubstr("truncated header"));
}

TEST(StarterForTest, OnlyPythonInterpretersRunningTheFile) {
  LanguageProfile python{"main.py", {"python3", "main.py"}, "", {}, ""};
  ASSERT_TRUE(StarterFor(python).has_value());
  EXPECT_EQ(StarterFor(python)->shared_args, 1u);
  EXPECT_EQ(StarterFor(python)->argv.size(), 3u);
  python.command = {"/usr/bin/python3.11", "-u", "-B", "main.py"};
  ASSERT_TRUE(StarterFor(python).has_value());
  EXPECT_EQ(StarterFor(python)->shared_args, 3u);
  for (std::vector<std::string> command :
       std::vector<std::vector<std::string>>{{"python3", "-m", "x", "main.py"},
                                             {"python3", "-W", "main.py"},
                                             {"python3", "main.py", "arg"},
                                             {"node", "main.py"},
                                             {"pythonista", "main.py"},
                                             {"python3"}}) {
    python.command = command;
    EXPECT_FALSE(StarterFor(python).has_value()) << command[0];
  }
}

}  // namespace
}  // namespace codeexec::launcher_testing
