// The gvisor-local warm pool with real runsc: runs in warm sandboxes are
// byte-exact like cold ones, get their limits, leave nothing for the next
// run, and fall back to the cold path when the pool cannot serve; a
// destroyed backend leaves no sandbox, file, mount or cgroup. Each test has
// a backend (and pool) of its own.
#include <openssl/evp.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "prometheus/registry.h"
#include "server/local/gvisor_test_fixture.h"

namespace codeexec {
namespace {

using testing_internal::ExpectStateDirIdle;
using testing_internal::MountsUnder;
using testing_internal::ReadWhole;
using testing_internal::RecordingSink;

constexpr int64_t kPoolMemory = int64_t{256} << 20;
constexpr int64_t kPoolCpuMillis = 1000;

std::string Digest(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr);
  return absl::StrCat(data.size(), " bytes, sha256 ",
                      absl::BytesToHexString(std::string(
                          reinterpret_cast<char*>(digest), length)));
}

// Every byte value, then invalid UTF-8, repeated to `size`.
std::string HostileBytes(size_t size) {
  std::string unit;
  for (int i = 0; i < 256; ++i) unit.push_back(static_cast<char>(i));
  unit += "\xff\xfe\xc3\x28\xe2\x82";
  std::string data;
  while (data.size() < size) data += unit;
  data.resize(size);
  return data;
}

// Sum over the metrics of family `name` whose labels include `label`="value"
// (all, if label is empty) of their value (a histogram's: its count).
double MetricValue(prometheus::Registry& registry, const std::string& name,
                   const std::string& label = "",
                   const std::string& value = "") {
  double sum = 0;
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      bool match = label.empty();
      for (const auto& pair : metric.label) {
        if (pair.name == label && pair.value == value) match = true;
      }
      if (!match) continue;
      switch (family.type) {
        case prometheus::MetricType::Gauge:
          sum += metric.gauge.value;
          break;
        case prometheus::MetricType::Histogram:
          sum += static_cast<double>(metric.histogram.sample_count);
          break;
        default:
          sum += metric.counter.value;
      }
    }
  }
  return sum;
}

class GvisorWarmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "the gvisor-local backend needs root";
    if (!ResolveExecutable(kDefaultRunscPath).ok()) {
      GTEST_SKIP() << "runsc is not installed (scripts/setup installs it)";
    }
    char dir_template[] = "/tmp/gvisor_warm_test.XXXXXX";
    ASSERT_NE(mkdtemp(dir_template), nullptr);
    options_.state_dir = dir_template;
    options_.cgroup_parent = absl::StrCat("codeexec-test-", getpid());
    options_.kill_grace = absl::Seconds(2);
  }

  void TearDown() override {
    if (options_.state_dir.empty()) return;
    backend_.reset();
    // Nothing of the pool survives its backend: no runsc process of it, no
    // container, bundle, mount or cgroup.
    for (const std::string& pid : ListDir("/proc")) {
      if (!std::all_of(pid.begin(), pid.end(), ::isdigit)) continue;
      std::string cmdline = ReadWhole(absl::StrCat("/proc/", pid, "/cmdline"));
      std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
      EXPECT_FALSE(absl::StrContains(cmdline, options_.state_dir))
          << "process " << pid << " still runs: " << cmdline;
    }
    if (backend_created_) ExpectStateDirIdle(options_.state_dir);
    EXPECT_THAT(MountsUnder(options_.state_dir), ::testing::IsEmpty());
    const std::string server_parent = ServerCgroupParent(options_);
    for (const std::string& hierarchy : ListDir("/sys/fs/cgroup")) {
      const std::string parent =
          absl::StrCat("/sys/fs/cgroup/", hierarchy, "/", server_parent);
      for (const std::string& child : ListDir(parent)) {
        EXPECT_FALSE(absl::StrContains(child, "warm-") ||
                     absl::StrContains(child, "ce-"))
            << "cgroup left: " << parent << "/" << child;
      }
      rmdir(parent.c_str());
      rmdir(absl::StrCat("/sys/fs/cgroup/", hierarchy, "/",
                         options_.cgroup_parent)
                .c_str());
    }
    EXPECT_TRUE(RemoveTree(options_.state_dir).ok());
  }

  // A backend with `size` warm sandboxes, once they are all ready.
  void StartBackend(int size) {
    options_.warm_pool.size = size;
    options_.warm_pool.max_starting = 2;
    absl::StatusOr<std::unique_ptr<GvisorBackend>> backend =
        GvisorBackend::Create(options_,
                              SandboxShape{.rootfs = options_.rootfs,
                                           .memory_limit_bytes = kPoolMemory,
                                           .cpu_limit_millis = kPoolCpuMillis},
                              &registry_);
    ASSERT_TRUE(backend.ok()) << backend.status();
    backend_ = *std::move(backend);
    backend_created_ = true;
    ASSERT_NE(backend_->warm_pool(), nullptr);
    ASSERT_TRUE(backend_->warm_pool()->WaitForIdle(
        size, absl::Now() + absl::Seconds(60)));
  }

  // A Python run of the pool's shape.
  ExecutionSpec PythonSpec(std::string code) {
    static int counter = 0;
    ExecutionSpec spec;
    spec.execution_id =
        absl::StrFormat("ce-%06x%06x", getpid() & 0xffffff, ++counter);
    spec.language_name = "python";
    spec.language.file_name = "main.py";
    spec.language.command = {"python3", "main.py"};
    spec.code = std::move(code);
    spec.timeout = absl::Seconds(30);
    spec.resources.memory_limit_bytes = kPoolMemory;
    spec.resources.cpu_limit_millis = kPoolCpuMillis;
    spec.max_output_bytes = int64_t{8} << 20;
    return spec;
  }

  ExecutionResult Run(const ExecutionSpec& spec, RecordingSink& sink) {
    Cancellation cancel;
    return backend_->Run(spec, sink, cancel).value();
  }

  double Claims() {
    return MetricValue(registry_, "codeexec_warm_pool_claims_total");
  }
  double ColdRuns(const std::string& reason) {
    return MetricValue(registry_, "codeexec_warm_pool_cold_runs_total",
                       "reason", reason);
  }

  LocalBackendOptions options_;
  prometheus::Registry registry_;
  std::unique_ptr<GvisorBackend> backend_;
  bool backend_created_ = false;
};

TEST_F(GvisorWarmTest, WarmRunStreamsEveryByteExactly) {
  StartBackend(1);
  const std::string expected_out = HostileBytes(3 << 20);
  const std::string expected_err = HostileBytes(70000).substr(11);
  RecordingSink sink;
  ExecutionResult result =
      Run(PythonSpec(
              "import sys\n"
              "unit = bytes(range(256)) + b'\\xff\\xfe\\xc3\\x28\\xe2\\x82'\n"
              "out = (unit * (3 * 2**20 // len(unit) + 1))[:3 * 2**20]\n"
              "for i in range(0, len(out), 65537):\n"
              "    sys.stdout.buffer.write(out[i:i + 65537])\n"
              "sys.stderr.buffer.write((unit * 300)[:70000][11:])\n"
              "sys.exit(3)\n"),
          sink);
  EXPECT_EQ(result.outcome, Outcome::kNonzeroExit) << result.message;
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_EQ(Digest(sink.Stdout()), Digest(expected_out));
  EXPECT_EQ(Digest(sink.Stderr()), Digest(expected_err));
  EXPECT_EQ(result.timings.start, absl::ZeroDuration()) << "not warm";
  EXPECT_EQ(Claims(), 1);
  EXPECT_EQ(MetricValue(registry_, "codeexec_warm_pool_first_output_seconds"),
            1);
  EXPECT_EQ(MetricValue(registry_, "codeexec_warm_pool_claim_seconds"), 1);
}

TEST_F(GvisorWarmTest, LargeStdinAndInputFilesArriveExactly) {
  // The request is far larger than a pipe: the launcher reads it while the
  // server writes it.
  StartBackend(1);
  ExecutionSpec spec = PythonSpec(
      "import hashlib, sys\n"
      "data = sys.stdin.buffer.read()\n"
      "blob = open('in/blob.bin', 'rb').read()\n"
      "for d in (data, blob):\n"
      "    print(len(d), hashlib.sha256(d).hexdigest())\n");
  spec.stdin_data = HostileBytes(2 << 20);
  spec.input_files.push_back(
      WorkspaceFile{.path = "in/blob.bin", .content = HostileBytes(3 << 20)});
  RecordingSink sink;
  ExecutionResult result = Run(spec, sink);
  ASSERT_EQ(result.outcome, Outcome::kOk) << result.message << sink.Stderr();
  auto digest_line = [](const std::string& data) {
    std::string digest = Digest(data);  // "<n> bytes, sha256 <hex>"
    return absl::StrCat(data.size(), " ", digest.substr(digest.rfind(' ') + 1),
                        "\n");
  };
  EXPECT_EQ(sink.Stdout(), digest_line(spec.stdin_data) +
                               digest_line(spec.input_files[0].content));
  EXPECT_EQ(Claims(), 1);
}

TEST_F(GvisorWarmTest, OneRunLeavesNothingForTheNext) {
  StartBackend(2);
  RecordingSink first_sink;
  ExecutionResult first = Run(
      PythonSpec("import os, subprocess\n"
                 "open('/workspace/secret', 'w').write('a')\n"
                 "open('/tmp/secret', 'w').write('b')\n"
                 "subprocess.Popen(['sleep', '1000'], start_new_session=True)\n"
                 "print('planted')\n"),
      first_sink);
  ASSERT_EQ(first.outcome, Outcome::kOk) << first.message;
  ASSERT_EQ(first_sink.Stdout(), "planted\n");

  RecordingSink second_sink;
  ExecutionResult second =
      Run(PythonSpec("import os\n"
                     "print(os.path.exists('/workspace/secret'),\n"
                     "      os.path.exists('/tmp/secret'))\n"
                     "names = []\n"
                     "for pid in os.listdir('/proc'):\n"
                     "    if pid.isdigit():\n"
                     "        try:\n"
                     "            names.append(open(f'/proc/{pid}/comm').read()"
                     ".strip())\n"
                     "        except OSError:\n"
                     "            pass\n"
                     "print('sleep' in names)\n"),
          second_sink);
  ASSERT_EQ(second.outcome, Outcome::kOk)
      << second.message << second_sink.Stderr();
  EXPECT_EQ(second_sink.Stdout(), "False False\nFalse\n");
  EXPECT_EQ(second.timings.start, absl::ZeroDuration()) << "not warm";
  EXPECT_EQ(Claims(), 2);
}

TEST_F(GvisorWarmTest, WarmSandboxKeepsItsLimits) {
  StartBackend(1);
  RecordingSink sink;
  ExecutionResult result =
      Run(PythonSpec("chunks = []\n"
                     "while True:\n"
                     "    chunks.append(bytearray(16 << 20))\n"),
          sink);
  EXPECT_EQ(result.outcome, Outcome::kOomKilled) << result.message;
  EXPECT_EQ(Claims(), 1);
}

TEST_F(GvisorWarmTest, TimeoutAndCancellationEndAWarmRun) {
  StartBackend(2);
  ExecutionSpec spec = PythonSpec("while True:\n    pass\n");
  spec.timeout = absl::Seconds(1);
  RecordingSink sink;
  ExecutionResult timed_out = Run(spec, sink);
  EXPECT_EQ(timed_out.outcome, Outcome::kTimeout) << timed_out.message;

  Cancellation cancel;
  RecordingSink cancel_sink;
  std::thread canceller([&] {
    cancel_sink.first_output().WaitForNotificationWithTimeout(
        absl::Seconds(20));
    cancel.Cancel("client went away");
  });
  ExecutionResult cancelled =
      backend_
          ->Run(PythonSpec("import time\nprint('up', flush=True)\n"
                           "time.sleep(600)\n"),
                cancel_sink, cancel)
          .value();
  canceller.join();
  EXPECT_EQ(cancelled.outcome, Outcome::kCancelled) << cancelled.message;
  EXPECT_EQ(Claims(), 2);
}

TEST_F(GvisorWarmTest, OtherLimitsRunColdAndLeaveThePoolAlone) {
  StartBackend(1);
  ExecutionSpec spec = PythonSpec("print('cold')\n");
  spec.resources.memory_limit_bytes = int64_t{128} << 20;
  RecordingSink sink;
  ExecutionResult result = Run(spec, sink);
  ASSERT_EQ(result.outcome, Outcome::kOk) << result.message;
  EXPECT_EQ(sink.Stdout(), "cold\n");
  EXPECT_GT(result.timings.start, absl::ZeroDuration()) << "not cold";
  EXPECT_EQ(ColdRuns("shape"), 1);
  EXPECT_EQ(Claims(), 0);
  EXPECT_EQ(backend_->warm_pool()->Counts().idle, 1);
}

TEST_F(GvisorWarmTest, DeadIdleSandboxIsReplacedAndTheRunGoesCold) {
  StartBackend(1);
  // Whatever ends an idle sandbox (here runsc kill of its launcher), the
  // next run must not fail for it.
  absl::StatusOr<CommandResult> list =
      RunCommand({*ResolveExecutable(kDefaultRunscPath), "--root",
                  options_.state_dir + "/runsc", "list", "--quiet"},
                 absl::Seconds(10));
  ASSERT_TRUE(list.ok());
  const std::string idle_id(absl::StripAsciiWhitespace(list->output));
  ASSERT_TRUE(absl::StartsWith(idle_id, "warm-")) << list->output;
  absl::StatusOr<CommandResult> killed =
      RunCommand({*ResolveExecutable(kDefaultRunscPath), "--root",
                  options_.state_dir + "/runsc", "kill", idle_id, "KILL"},
                 absl::Seconds(10));
  ASSERT_TRUE(killed.ok());
  ASSERT_EQ(killed->exit_code, 0) << killed->output;
  absl::SleepFor(absl::Milliseconds(500));  // let runsc notice

  RecordingSink sink;
  ExecutionResult result = Run(PythonSpec("print('still served')\n"), sink);
  ASSERT_EQ(result.outcome, Outcome::kOk) << result.message;
  EXPECT_EQ(sink.Stdout(), "still served\n");
  EXPECT_EQ(ColdRuns("empty") + ColdRuns("dead"), 1);
  // The pool replaced it.
  EXPECT_TRUE(
      backend_->warm_pool()->WaitForIdle(1, absl::Now() + absl::Seconds(60)));
}

TEST_F(GvisorWarmTest, RequestTheFormatCannotCarryFailsLikeACold) {
  StartBackend(1);
  ExecutionSpec spec = PythonSpec("print(1)\n");
  spec.env.push_back({"BAD=NAME", "x"});
  RecordingSink sink;
  ExecutionResult result = Run(spec, sink);
  EXPECT_EQ(result.outcome, Outcome::kSandboxError);
  EXPECT_THAT(result.message, ::testing::HasSubstr("env"));
  EXPECT_EQ(Claims(), 0);
  EXPECT_EQ(backend_->warm_pool()->Counts().idle, 1) << "sandbox used up";
}

}  // namespace
}  // namespace codeexec
