// Shared by the gvisor-local backend tests that run real sandboxes: a
// recording OutputSink and a fixture with one backend per test binary (own
// state dir and cgroup parent) that checks after every test that nothing of
// its runs is left. Tests skip when not root or runsc is missing.
#ifndef CODEEXEC_SERVER_LOCAL_GVISOR_TEST_FIXTURE_H_
#define CODEEXEC_SERVER_LOCAL_GVISOR_TEST_FIXTURE_H_

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/base/child_process.h"
#include "server/exec/cancellation.h"
#include "server/local/fs_util.h"
#include "server/local/gvisor_backend.h"
#include "server/local/state_dir.h"

namespace codeexec {
namespace testing_internal {

class RecordingSink : public OutputSink {
 public:
  void OnOutput(OutputStream stream, std::string_view data) override {
    absl::MutexLock lock(&mu_);
    (stream == OutputStream::kStdout ? stdout_ : stderr_).append(data);
    if (!first_output_.HasBeenNotified()) first_output_.Notify();
  }
  std::string Stdout() {
    absl::MutexLock lock(&mu_);
    return stdout_;
  }
  std::string Stderr() {
    absl::MutexLock lock(&mu_);
    return stderr_;
  }
  absl::Notification& first_output() { return first_output_; }

 private:
  absl::Mutex mu_;
  std::string stdout_;
  std::string stderr_;
  absl::Notification first_output_;
};

inline std::string ReadWhole(const std::string& path);

// Mount points under `dir`, from /proc/self/mounts.
inline std::vector<std::string> MountsUnder(const std::string& dir) {
  std::vector<std::string> mounts;
  std::istringstream table(ReadWhole("/proc/self/mounts"));
  std::string source, target, rest;
  while (table >> source >> target && std::getline(table, rest)) {
    if (absl::StartsWith(target, dir + "/") || target == dir) {
      mounts.push_back(target);
    }
  }
  return mounts;
}

// What the state dir of a backend with no run in flight may hold: only
// runsc's shared empty network namespace (StateDir::RunscNullNetns), no
// bundle, no container state, no other mount.
inline void ExpectStateDirIdle(const std::string& state_dir) {
  const StateDir state(state_dir);
  EXPECT_THAT(ListDir(state.RunscRoot()),
              ::testing::IsSubsetOf({std::string("null-netns")}));
  EXPECT_THAT(ListDir(state.BundlesDir()), ::testing::IsEmpty());
  EXPECT_THAT(MountsUnder(state_dir),
              ::testing::Each(::testing::Eq(state.RunscNullNetns())));
}

inline std::string ReadWhole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class GvisorBackendTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0 || !ResolveExecutable(kDefaultRunscPath).ok()) return;
    char dir_template[] = "/tmp/gvisor_backend_test.XXXXXX";
    ASSERT_NE(mkdtemp(dir_template), nullptr);
    options_ = new LocalBackendOptions();
    options_->state_dir = dir_template;
    options_->cgroup_parent = absl::StrCat("codeexec-test-", getpid());
    options_->max_processes = 32;
    options_->kill_grace = absl::Seconds(2);
    absl::StatusOr<std::unique_ptr<GvisorBackend>> backend =
        GvisorBackend::Create(*options_);
    ASSERT_TRUE(backend.ok()) << backend.status();
    backend_ = backend->release();
  }

  static void TearDownTestSuite() {
    if (options_ == nullptr) return;
    delete backend_;
    backend_ = nullptr;
    // A destroyed backend leaves no mount behind.
    EXPECT_THAT(MountsUnder(options_->state_dir), ::testing::IsEmpty());
    EXPECT_TRUE(RemoveTree(options_->state_dir).ok());
    for (const std::string& hierarchy : ListDir("/sys/fs/cgroup")) {
      rmdir(absl::StrCat("/sys/fs/cgroup/", hierarchy, "/",
                         options_->cgroup_parent)
                .c_str());
    }
    delete options_;
    options_ = nullptr;
  }

  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "the gvisor-local backend needs root";
    if (!ResolveExecutable(kDefaultRunscPath).ok()) {
      GTEST_SKIP() << "runsc is not installed (apt-get install runsc)";
    }
    ASSERT_NE(backend_, nullptr);
  }

  void TearDown() override {
    if (backend_ == nullptr) return;
    for (const std::string& id : ids_) ExpectNothingLeft(id);
  }

  // A Python run with generous limits; tests adjust what they need.
  ExecutionSpec PythonSpec(std::string code) {
    static std::atomic<int> counter{0};
    ExecutionSpec spec;
    spec.execution_id =
        absl::StrFormat("ce-%06x%06x", getpid() & 0xffffff, ++counter);
    ids_.push_back(spec.execution_id);
    spec.language_name = "python";
    spec.language.file_name = "main.py";
    spec.language.command = {"python3", "main.py"};
    spec.code = std::move(code);
    spec.timeout = absl::Seconds(30);
    spec.resources.memory_limit_bytes = int64_t{256} << 20;
    spec.resources.cpu_limit_millis = 1000;
    spec.max_output_bytes = int64_t{1} << 20;
    return spec;
  }

  ExecutionResult Run(const ExecutionSpec& spec, RecordingSink& sink) {
    Cancellation cancel;
    return backend_->Run(spec, sink, cancel).value();
  }

  void ExpectNothingLeft(const std::string& id) {
    // No process mentions the id (runsc, its sandbox and gofer all do).
    for (const std::string& pid : ListDir("/proc")) {
      if (!std::all_of(pid.begin(), pid.end(), ::isdigit)) continue;
      std::string cmdline = ReadWhole(absl::StrCat("/proc/", pid, "/cmdline"));
      std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
      EXPECT_FALSE(absl::StrContains(cmdline, id))
          << "process " << pid << " still runs: " << cmdline;
    }
    absl::StatusOr<CommandResult> list =
        RunCommand({*ResolveExecutable(kDefaultRunscPath), "--root",
                    options_->state_dir + "/runsc", "list", "--quiet"},
                   absl::Seconds(10));
    ASSERT_TRUE(list.ok());
    EXPECT_EQ(list->output, "") << "runsc list";
    ExpectStateDirIdle(options_->state_dir);
    for (const std::string& hierarchy : ListDir("/sys/fs/cgroup")) {
      const std::string parent = absl::StrCat("/sys/fs/cgroup/", hierarchy, "/",
                                              options_->cgroup_parent);
      for (const std::string& child : ListDir(parent)) {
        EXPECT_FALSE(absl::StrContains(child, "ce-"))
            << "cgroup left: " << parent << "/" << child;
      }
    }
  }

  static inline LocalBackendOptions* options_ = nullptr;
  static inline GvisorBackend* backend_ = nullptr;
  std::vector<std::string> ids_;
};

}  // namespace testing_internal
}  // namespace codeexec

#endif  // CODEEXEC_SERVER_LOCAL_GVISOR_TEST_FIXTURE_H_
