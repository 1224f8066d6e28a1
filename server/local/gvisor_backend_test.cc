// Runs real programs in real gVisor sandboxes: the everyday paths (output,
// exit codes, stdin, env, files, streaming, concurrency, crash recovery).
// Needs root and runsc; skipped otherwise.
#include "server/local/gvisor_backend.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/local/gvisor_test_fixture.h"
#include "server/local/oci_bundle.h"
#include "server/local/sandbox_cgroup.h"
#include "server/local/state_dir.h"

namespace codeexec {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing_internal::GvisorBackendTest;
using testing_internal::MountsUnder;
using testing_internal::ReadWhole;
using testing_internal::RecordingSink;

TEST_F(GvisorBackendTest, HelloWorld) {
  RecordingSink sink;
  ExecutionResult result = Run(PythonSpec("print('hello, world')"), sink);
  EXPECT_EQ(result.outcome, Outcome::kOk) << result.message;
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(sink.Stdout(), "hello, world\n");
  EXPECT_EQ(sink.Stderr(), "");
  EXPECT_FALSE(result.truncated);
  EXPECT_THAT(result.output_files, IsEmpty());
  EXPECT_GT(result.timings.create, absl::ZeroDuration());
  EXPECT_GT(result.timings.start, absl::ZeroDuration());
  EXPECT_GT(result.timings.cleanup, absl::ZeroDuration());
}

TEST_F(GvisorBackendTest, StderrAndExitCode) {
  RecordingSink sink;
  ExecutionResult result = Run(
      PythonSpec("import sys\nprint('out')\nprint('oops', file=sys.stderr)\n"
                 "sys.exit(3)"),
      sink);
  EXPECT_EQ(result.outcome, Outcome::kNonzeroExit) << result.message;
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_EQ(sink.Stdout(), "out\n");
  EXPECT_EQ(sink.Stderr(), "oops\n");
}

TEST_F(GvisorBackendTest, StdinEcho) {
  ExecutionSpec spec = PythonSpec(
      "import sys\ndata = sys.stdin.read()\nsys.stdout.write(data)\n");
  for (int i = 0; i < 20000; ++i) absl::StrAppend(&spec.stdin_data, i, "\n");
  RecordingSink sink;
  ExecutionResult result = Run(spec, sink);
  EXPECT_EQ(result.outcome, Outcome::kOk) << result.message;
  EXPECT_EQ(sink.Stdout(), spec.stdin_data);
}

TEST_F(GvisorBackendTest, Environment) {
  ExecutionSpec spec = PythonSpec(
      "import os\nfor k in ['GREETING', 'HOME', 'LANG', 'PATH']:\n"
      "    print(k, os.environ.get(k))\nprint(os.getcwd(), os.getuid())\n");
  spec.env = {{"GREETING", "hi there"}, {"HOME", "/workspace"}};
  RecordingSink sink;
  ExecutionResult result = Run(spec, sink);
  EXPECT_EQ(result.outcome, Outcome::kOk) << result.message << sink.Stderr();
  EXPECT_EQ(
      sink.Stdout(),
      "GREETING hi there\nHOME /workspace\nLANG C.UTF-8\n"
      "PATH /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
      "/workspace 65534\n");
}

TEST_F(GvisorBackendTest, InputAndOutputFiles) {
  ExecutionSpec spec = PythonSpec(
      "import os\n"
      "nums = [int(x) for x in open('data/in.txt')]\n"
      "os.makedirs('out', exist_ok=True)\n"
      "open('out/sum.txt', 'w').write(str(sum(nums)))\n"
      "open('notes.txt', 'a').write(' and more')\n"
      "os.symlink('/etc/passwd', 'link')\n"
      "print('done')\n");
  spec.input_files = {{"data/in.txt", "3\n4\n"}, {"notes.txt", "start"}};
  RecordingSink sink;
  ExecutionResult result = Run(spec, sink);
  EXPECT_EQ(result.outcome, Outcome::kOk) << result.message << sink.Stderr();
  EXPECT_EQ(sink.Stdout(), "done\n");
  ASSERT_EQ(result.output_files.size(), 2u);
  EXPECT_EQ(result.output_files[0].path, "notes.txt");
  EXPECT_EQ(result.output_files[0].content, "start and more");
  EXPECT_EQ(result.output_files[1].path, "out/sum.txt");
  EXPECT_EQ(result.output_files[1].content, "7");
  EXPECT_FALSE(result.output_files_truncated);
}

TEST_F(GvisorBackendTest, ProgramExiting125IsTheProgramsExit) {
  // 125 is also the launcher's code for a request it refuses, which it says
  // with no exit record: a program's own 125 stays the program's.
  RecordingSink sink;
  ExecutionResult result =
      Run(PythonSpec("import sys\nprint('bye')\nsys.exit(125)"), sink);
  EXPECT_EQ(result.outcome, Outcome::kNonzeroExit) << result.message;
  EXPECT_EQ(result.exit_code, 125);
  EXPECT_EQ(sink.Stdout(), "bye\n");
}

TEST_F(GvisorBackendTest, MissingInterpreterIsExit127LikeAShell) {
  // The launcher runs; the profile's command does not exist: as in a shell
  // (and on the kubernetes backend), exit 127 and the reason on stderr.
  ExecutionSpec spec = PythonSpec("print(1)");
  spec.language.command = {"no-such-interpreter", "main.py"};
  RecordingSink sink;
  ExecutionResult result = Run(spec, sink);
  EXPECT_EQ(result.outcome, Outcome::kNonzeroExit);
  EXPECT_EQ(result.exit_code, 127);
  EXPECT_THAT(sink.Stderr(), HasSubstr("no-such-interpreter"));
}

TEST_F(GvisorBackendTest, RootfsWithoutPythonStillRunsTheLauncher) {
  // The launcher needs nothing from the image: in a rootfs without python3
  // it runs, and the profile's missing interpreter is exit 127 as in a
  // shell, its reason on stderr.
  LocalBackendOptions options = *options_;
  options.state_dir += "-nopython";
  options.rootfs = "/var/empty-rootfs-for-test";
  mkdir(options.rootfs.c_str(), 0755);  // empty
  absl::StatusOr<std::unique_ptr<GvisorBackend>> backend =
      GvisorBackend::Create(options);
  ASSERT_TRUE(backend.ok()) << backend.status();
  ExecutionSpec spec = PythonSpec("print(1)");
  RecordingSink sink;
  Cancellation cancel;
  ExecutionResult result = (*backend)->Run(spec, sink, cancel).value();
  EXPECT_EQ(result.outcome, Outcome::kNonzeroExit) << result.message;
  EXPECT_EQ(result.exit_code, 127);
  EXPECT_THAT(sink.Stderr(), HasSubstr("launcher: python3"));
  EXPECT_EQ(sink.Stdout(), "");
  backend->reset();
  EXPECT_TRUE(RemoveTree(options.state_dir).ok());
  EXPECT_TRUE(RemoveTree(options.rootfs).ok());
}

TEST_F(GvisorBackendTest, ProfileRootfsReplacesLocalRootfs) {
  // The profile's tree, not local.rootfs (which has python3), is the
  // sandbox's root: in an empty one the interpreter is missing.
  const std::string empty_rootfs = "/var/empty-profile-rootfs-for-test";
  mkdir(empty_rootfs.c_str(), 0755);
  ExecutionSpec spec = PythonSpec("print(1)");
  spec.language.rootfs = empty_rootfs;
  RecordingSink sink;
  ExecutionResult result = Run(spec, sink);
  EXPECT_EQ(result.outcome, Outcome::kNonzeroExit) << result.message;
  EXPECT_EQ(result.exit_code, 127);
  EXPECT_THAT(sink.Stderr(), HasSubstr("launcher: python3"));
  EXPECT_TRUE(RemoveTree(empty_rootfs).ok());

  spec.language.rootfs = options_->rootfs;
  RecordingSink with_python;
  result = Run(spec, with_python);
  EXPECT_EQ(result.outcome, Outcome::kOk) << result.message;
  EXPECT_EQ(with_python.Stdout(), "1\n");
}

TEST(CheckSandboxRootfsTest, MissingTreeNamesTheKeyAndTheInstallCommand) {
  EXPECT_TRUE(CheckSandboxRootfs("local.rootfs", "/").ok());
  absl::Status missing = CheckSandboxRootfs(
      "languages.bash.rootfs", "/nonexistent/code-executor-rootfs");
  EXPECT_EQ(missing.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(missing.message(), HasSubstr("languages.bash.rootfs"));
  EXPECT_THAT(missing.message(),
              HasSubstr("/nonexistent/code-executor-rootfs"));
  EXPECT_THAT(missing.message(), HasSubstr("scripts/install-sandbox-rootfs"));
  EXPECT_FALSE(CheckSandboxRootfs("local.rootfs", "/etc/hostname").ok());
}

TEST_F(GvisorBackendTest, ConcurrentRunsAndHelloWorldLatency) {
  std::vector<ExecutionSpec> specs;
  for (int i = 0; i < 3; ++i) {
    specs.push_back(PythonSpec(absl::StrCat("print(", i, ")")));
  }
  std::vector<RecordingSink> sinks(3);
  std::vector<ExecutionResult> results(3);
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&, i] { results[i] = Run(specs[i], sinks[i]); });
  }
  for (std::thread& thread : threads) thread.join();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(results[i].outcome, Outcome::kOk) << results[i].message;
    EXPECT_EQ(sinks[i].Stdout(), absl::StrCat(i, "\n"));
  }
  // Sequential hello worlds: report the median wall time (not asserted).
  std::vector<absl::Duration> times;
  PhaseTimings last;
  for (int i = 0; i < 10; ++i) {
    RecordingSink sink;
    ExecutionSpec spec = PythonSpec("print('hello')");
    const absl::Time start = absl::Now();
    ExecutionResult result = Run(spec, sink);
    times.push_back(absl::Now() - start);
    EXPECT_EQ(result.outcome, Outcome::kOk);
    last = result.timings;
  }
  std::sort(times.begin(), times.end());
  const std::string median = absl::FormatDuration(times[times.size() / 2]);
  RecordProperty("hello_world_median", median);
  std::printf("hello-world Run() median of 10: %s (min %s, max %s)\n",
              median.c_str(), absl::FormatDuration(times.front()).c_str(),
              absl::FormatDuration(times.back()).c_str());
  std::printf("last run: create %s, start %s, run %s, cleanup %s\n",
              absl::FormatDuration(last.create).c_str(),
              absl::FormatDuration(last.start).c_str(),
              absl::FormatDuration(last.run).c_str(),
              absl::FormatDuration(last.cleanup).c_str());
}

TEST_F(GvisorBackendTest, TimingsSplitBootFromRun) {
  // No output for a second: `start` is still only the sandbox's boot, and
  // the silent second counts as `run` (bounds are loose: 2 shared cores).
  RecordingSink sink;
  ExecutionResult result = Run(PythonSpec("import time\ntime.sleep(1)"), sink);
  EXPECT_EQ(result.outcome, Outcome::kOk) << result.message;
  EXPECT_EQ(sink.Stdout(), "");
  EXPECT_GT(result.timings.start, absl::ZeroDuration());
  EXPECT_LT(result.timings.start, absl::Milliseconds(800));
  EXPECT_GT(result.timings.run, absl::Milliseconds(900));
  std::printf("silent 1 s sleep: start %s, run %s\n",
              absl::FormatDuration(result.timings.start).c_str(),
              absl::FormatDuration(result.timings.run).c_str());
}

TEST_F(GvisorBackendTest, StreamsOutputWhileRunning) {
  ExecutionSpec spec = PythonSpec(
      "import time\nprint('first', flush=True)\ntime.sleep(1.5)\n"
      "print('second')\n");
  RecordingSink sink;
  absl::Time first_output_at;
  std::thread watcher([&] {
    sink.first_output().WaitForNotification();
    first_output_at = absl::Now();
  });
  ExecutionResult result = Run(spec, sink);
  const absl::Time returned_at = absl::Now();
  watcher.join();
  EXPECT_EQ(result.outcome, Outcome::kOk);
  EXPECT_EQ(sink.Stdout(), "first\nsecond\n");
  // The first line reached the sink while the program was still sleeping.
  EXPECT_GT(returned_at - first_output_at, absl::Milliseconds(700));
}

TEST_F(GvisorBackendTest, CreateRemovesWhatACrashedServerLeft) {
  // Leave behind what a server killed mid-run would: a running container,
  // its bundle and its cgroup.
  char dir_template[] = "/tmp/gvisor_crashed_state.XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string state = dir_template;
  const std::string top_parent = absl::StrCat("codeexec-crash-test-", getpid());
  LocalBackendOptions crashed_options = *options_;
  crashed_options.state_dir = state;
  crashed_options.cgroup_parent = top_parent;
  const std::string parent = ServerCgroupParent(crashed_options);
  const std::string id = absl::StrFormat("ce-%06x0dead0", getpid() & 0xffffff);
  for (const char* dir : {"runsc", "bundles"}) {
    ASSERT_EQ(mkdir(absl::StrCat(state, "/", dir).c_str(), 0700), 0);
  }
  absl::StatusOr<CgroupLayout> layout = CgroupLayout::Detect("/sys/fs/cgroup");
  ASSERT_TRUE(layout.ok());
  absl::StatusOr<SandboxCgroup> cgroup = SandboxCgroup::Create(
      *layout, parent, id, {.memory_bytes = int64_t{256} << 20});
  ASSERT_TRUE(cgroup.ok()) << cgroup.status();
  OciBundleConfig bundle;
  bundle.args = {"sleep", "30"};
  bundle.rootfs = options_->rootfs;
  bundle.cgroups_path = cgroup->OciCgroupsPath();
  const std::string bundle_dir = absl::StrCat(state, "/bundles/", id);
  bundle.launcher_bundle_dir = bundle_dir + "/launcher";
  ASSERT_TRUE(WriteOciBundle(bundle_dir, bundle).ok());
  ASSERT_EQ(mkdir(bundle.launcher_bundle_dir.c_str(), 0755), 0);
  const std::string runsc = *ResolveExecutable(kDefaultRunscPath);
  absl::StatusOr<CommandResult> started =
      RunCommand({runsc, "--root", state + "/runsc", "--network=none", "run",
                  "--detach", "--bundle", bundle_dir, id},
                 absl::Seconds(20));
  ASSERT_TRUE(started.ok());
  ASSERT_EQ(started->exit_code, 0) << started->output;
  // runsc pinned its gofers' empty network namespace in its root: a mount
  // the crashed server never released.
  EXPECT_THAT(MountsUnder(state),
              testing::Contains(StateDir(state).RunscNullNetns()));

  absl::StatusOr<std::unique_ptr<GvisorBackend>> backend =
      GvisorBackend::Create(crashed_options);
  ASSERT_TRUE(backend.ok()) << backend.status();

  absl::StatusOr<CommandResult> list =
      RunCommand({runsc, "--root", state + "/runsc", "list", "--quiet"},
                 absl::Seconds(10));
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->output, "");
  for (const char* dir : {"runsc", "bundles"}) {
    EXPECT_THAT(ListDir(absl::StrCat(state, "/", dir)), IsEmpty()) << dir;
  }
  EXPECT_THAT(ReadWhole("/proc/self/mounts"), testing::Not(HasSubstr(state)));
  for (const std::string& hierarchy : layout->Hierarchies()) {
    EXPECT_NE(
        access(absl::StrCat(hierarchy, "/", parent, "/", id).c_str(), F_OK), 0)
        << hierarchy;
    rmdir(absl::StrCat(hierarchy, "/", parent).c_str());
    rmdir(absl::StrCat(hierarchy, "/", top_parent).c_str());
  }
  for (const std::string& pid : ListDir("/proc")) {
    std::string cmdline = ReadWhole(absl::StrCat("/proc/", pid, "/cmdline"));
    EXPECT_FALSE(absl::StrContains(cmdline, id)) << "process " << pid;
  }
  EXPECT_TRUE(RemoveTree(state).ok());
}

TEST(GvisorBackendCreateTest, MissingRunscSaysHowToInstall) {
  LocalBackendOptions options;
  options.runsc_path = "/nonexistent/runsc";
  absl::StatusOr<std::unique_ptr<GvisorBackend>> backend =
      GvisorBackend::Create(options);
  ASSERT_FALSE(backend.ok());
  EXPECT_THAT(backend.status().message(),
              HasSubstr("runsc not found at /nonexistent/runsc"));
  EXPECT_THAT(backend.status().message(),
              HasSubstr("install it with `apt-get install runsc`"));
}

TEST(GvisorBackendCreateTest, NotRootSaysSo) {
  if (geteuid() != 0 || !ResolveExecutable(kDefaultRunscPath).ok()) {
    GTEST_SKIP() << "needs root (to drop it) and runsc";
  }
  // Drop the effective uid for the duration of Create() only.
  ASSERT_EQ(seteuid(65534), 0);
  absl::StatusOr<std::unique_ptr<GvisorBackend>> backend =
      GvisorBackend::Create(LocalBackendOptions());
  ASSERT_EQ(seteuid(0), 0);
  ASSERT_FALSE(backend.ok());
  EXPECT_EQ(backend.status().message(),
            "the gvisor-local backend needs root (runsc creates sandboxes and "
            "cgroups); run as root or use the kubernetes backend");
}

}  // namespace
}  // namespace codeexec
