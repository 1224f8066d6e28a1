// Whole-binary tests of output backpressure (server.maxUnsentOutputBytes):
// clients that stop reading pause their programs instead of growing the
// server's memory, lose nothing when they read again, and do not hold a
// worker once their run has finished.
//
// BACKPRESSURE_TEST_MAX_UNSENT=1Gi (env) runs the big test with that bound
// instead of the default, e.g. to measure the server without backpressure.
#include <openssl/evp.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server_process.h"

namespace codeexec::testing {
namespace {

using ::codeexecutor::v1::ExecuteRequest;
using ::codeexecutor::v1::ExecuteResponse;
using ::codeexecutor::v1::Finished;
using ::codeexecutor::v1::Output;
using ::testing::HasSubstr;

constexpr int kClients = 24;
// Each program writes kChunks chunks of kChunkBytes (16 MiB, 8 times the
// default bound): an 8-byte big-endian counter, then a slice of a block from
// a 64-bit LCG seeded per client, so a lost, repeated or misplaced chunk
// changes the hash.
constexpr int64_t kChunkBytes = 8192;
constexpr int64_t kChunks = 2048;
constexpr int64_t kProgramBytes = kChunkBytes * kChunks;
constexpr int kBlockWords = 9216;  // 72 KiB: every slice fits
constexpr int64_t kMaxVmHwmBytes = int64_t{150} << 20;

std::unique_ptr<ServerProcess> StartServer(std::vector<std::string> args) {
  auto started = ServerProcess::Start(std::move(args));
  EXPECT_TRUE(started.ok()) << started.status();
  return started.ok() ? std::move(*started) : nullptr;
}

std::string FloodProgram(uint64_t seed) {
  return absl::StrCat(R"py(import hashlib, os, sys
A, C, M = 6364136223846793005, 1442695040888963407, (1 << 64) - 1
x = )py",
                      seed, R"py(
words = []
for _ in range()py",
                      kBlockWords, R"py():
    x = (x * A + C) & M
    words.append(x.to_bytes(8, 'little'))
block = b''.join(words)
h = hashlib.sha256()
n = 0
for i in range()py",
                      kChunks, R"py():
    off = (i * 4099) % 65536
    chunk = i.to_bytes(8, 'big') + block[off:off + )py",
                      kChunkBytes - 8, R"py(]
    h.update(chunk)
    n += len(chunk)
    view = memoryview(chunk)
    while view:
        view = view[os.write(1, view):]
sys.stderr.write('wrote %d %s\n' % (n, h.hexdigest()))
)py");
}

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) {
    EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr);
  }
  ~Sha256() { EVP_MD_CTX_free(ctx_); }
  void Update(std::string_view data) {
    EVP_DigestUpdate(ctx_, data.data(), data.size());
  }
  std::string HexDigest() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_DigestFinal_ex(ctx_, digest, &size);
    return absl::BytesToHexString(
        absl::string_view(reinterpret_cast<char*>(digest), size));
  }

 private:
  EVP_MD_CTX* ctx_;
};

// sha256 of what FloodProgram(seed) writes, computed here.
std::string ExpectedSha256(uint64_t seed) {
  std::string block;
  uint64_t x = seed;
  for (int i = 0; i < kBlockWords; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    for (int b = 0; b < 8; ++b)
      block.push_back(static_cast<char>(x >> (8 * b)));
  }
  Sha256 sha;
  std::string chunk;
  for (int64_t i = 0; i < kChunks; ++i) {
    chunk.clear();
    for (int b = 7; b >= 0; --b)
      chunk.push_back(static_cast<char>(i >> (8 * b)));
    chunk.append(block, (i * 4099) % 65536, kChunkBytes - 8);
    sha.Update(chunk);
  }
  return sha.HexDigest();
}

// VmHWM (peak resident set) of `pid`, in bytes.
int64_t VmHwmBytes(pid_t pid) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (!absl::StartsWith(line, "VmHWM:")) continue;
    std::vector<std::string> parts = absl::StrSplit(
        absl::StripAsciiWhitespace(line.substr(6)), ' ', absl::SkipEmpty());
    int64_t kb = 0;
    if (!parts.empty() && absl::SimpleAtoi(parts[0], &kb)) return kb * 1024;
  }
  return -1;
}

// Waits until the gauge `sample` reaches `want`; returns the last value.
double WaitForMetric(const ServerProcess& server, const std::string& sample,
                     double want, absl::Duration timeout) {
  double value = -1;
  const absl::Time give_up = absl::Now() + timeout;
  do {
    if (auto page = ScrapeMetrics(server.metrics_port()); page.ok()) {
      value = MetricValue(*page, sample).value_or(-1);
      if (value == want) break;
    }
    absl::SleepFor(absl::Milliseconds(200));
  } while (absl::Now() < give_up);
  return value;
}

// One Execute call that is read only when told to.
struct LazyCall {
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<ExecuteResponse>> reader;

  bool ReadStarted() {
    ExecuteResponse response;
    return reader->Read(&response) && response.has_started();
  }
  struct Rest {
    grpc::Status status;
    std::optional<Finished> finished;
    int64_t stdout_bytes = 0;
    std::string stdout_sha256;
    std::string stdout_text;  // only if keep_stdout
    std::string stderr_text;
  };
  Rest ReadToEnd(bool keep_stdout = false) {
    Rest rest;
    Sha256 sha;
    ExecuteResponse response;
    while (reader->Read(&response)) {
      if (response.has_finished()) rest.finished = response.finished();
      if (!response.has_output()) continue;
      const std::string& data = response.output().data();
      if (response.output().stream() == Output::STDERR) {
        rest.stderr_text += data;
        continue;
      }
      rest.stdout_bytes += static_cast<int64_t>(data.size());
      sha.Update(data);
      if (keep_stdout) rest.stdout_text += data;
    }
    rest.status = reader->Finish();
    rest.stdout_sha256 = sha.HexDigest();
    return rest;
  }
};

ExecuteRequest Request(std::string code, uint32_t timeout_seconds,
                       uint64_t max_output_bytes = 0) {
  ExecuteRequest request = MakeRequest(std::move(code));
  request.mutable_limits()->set_timeout_seconds(timeout_seconds);
  request.mutable_limits()->set_max_output_bytes(max_output_bytes);
  return request;
}

TEST(OutputBackpressureTest, StalledClientsBoundServerMemoryAndLoseNothing) {
  std::vector<std::string> args = {
      "--set", absl::StrCat("dispatcher.workers=", kClients),
      "--set", "dispatcher.queueSize=0",
      "--set", "limits.maxima.outputBytes=128Mi"};
  if (const char* bound = std::getenv("BACKPRESSURE_TEST_MAX_UNSENT")) {
    args.insert(args.end(),
                {"--set", absl::StrCat("server.maxUnsentOutputBytes=", bound)});
  }
  auto server = StartServer(args);
  ASSERT_NE(server, nullptr);
  // A client that does not read stops accepting after a small, fixed window
  // (no BDP probing growing it), so every run reaches the server's bound
  // after a few MiB, however fast or loaded the machine is.
  grpc::ChannelArguments channel_args;
  channel_args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  channel_args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 256 << 10);
  auto stub = codeexecutor::v1::CodeExecutor::NewStub(grpc::CreateCustomChannel(
      server->target(), grpc::InsecureChannelCredentials(), channel_args));
  const int64_t rss_at_start = VmHwmBytes(server->pid());

  std::vector<std::unique_ptr<LazyCall>> calls;
  for (int i = 0; i < kClients; ++i) {
    auto call = std::make_unique<LazyCall>();
    call->context.set_deadline(
        absl::ToChronoTime(absl::Now() + absl::Seconds(600)));
    call->reader = stub->Execute(
        &call->context,
        Request(FloodProgram(1000 + i), 540, kProgramBytes + (1 << 20)));
    calls.push_back(std::move(call));
  }
  for (auto& call : calls) ASSERT_TRUE(call->ReadStarted());
  // Every program is now blocked on a write, none of their output read.
  const absl::Time opened = absl::Now();
  EXPECT_EQ(WaitForMetric(*server, "codeexec_output_paused_runs", kClients,
                          absl::Seconds(240)),
            kClients)
      << server->Log();
  const absl::Duration to_pause = absl::Now() - opened;
  absl::SleepFor(absl::Seconds(3));
  const int64_t hwm = VmHwmBytes(server->pid());
  std::printf(
      "server VmHWM: %.1f MiB at start, %.1f MiB with %d stalled clients "
      "(all paused after %s)\n",
      rss_at_start / 1048576.0, hwm / 1048576.0, kClients,
      absl::FormatDuration(to_pause).c_str());
  EXPECT_GT(hwm, 0);
  EXPECT_LT(hwm, kMaxVmHwmBytes);

  // Now read them all to the end, at once.
  std::vector<LazyCall::Rest> results(kClients);
  std::vector<std::thread> readers;
  const absl::Time read_start = absl::Now();
  for (int i = 0; i < kClients; ++i) {
    readers.emplace_back([&, i] { results[i] = calls[i]->ReadToEnd(); });
  }
  for (auto& reader : readers) reader.join();
  std::printf("read %d x %lld bytes in %s; server VmHWM now %.1f MiB\n",
              kClients, static_cast<long long>(kProgramBytes),
              absl::FormatDuration(absl::Now() - read_start).c_str(),
              VmHwmBytes(server->pid()) / 1048576.0);
  int complete = 0;
  for (int i = 0; i < kClients; ++i) {
    const LazyCall::Rest& rest = results[i];
    if (rest.status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      std::printf("client %d: DEADLINE_EXCEEDED\n", i);
      continue;
    }
    ASSERT_TRUE(rest.status.ok()) << i << ": " << rest.status.error_message();
    ASSERT_TRUE(rest.finished.has_value()) << i;
    EXPECT_EQ(rest.finished->outcome(), Finished::OK)
        << i << ": " << rest.finished->message() << rest.stderr_text;
    const std::string expected = ExpectedSha256(1000 + i);
    EXPECT_EQ(rest.stdout_bytes, kProgramBytes) << i;
    EXPECT_EQ(rest.stdout_sha256, expected) << i;
    // What the program says it wrote.
    EXPECT_EQ(rest.stderr_text,
              absl::StrCat("wrote ", kProgramBytes, " ", expected, "\n"))
        << i;
    ++complete;
  }
  EXPECT_GT(complete, 0) << "every client's deadline passed";
  EXPECT_EQ(WaitForMetric(*server, "codeexec_output_paused_runs", 0,
                          absl::Seconds(10)),
            0);
}

TEST(OutputBackpressureTest, FinishedRunOfANonReadingClientFreesItsWorker) {
  auto server = StartServer({"--set", "dispatcher.workers=1"});
  ASSERT_NE(server, nullptr);
  auto stub = server->NewStub();
  // 1 MiB: more than gRPC's windows take, less than the default bound, so
  // the program finishes and its output and Finished wait in the queue.
  LazyCall idle;
  idle.reader = stub->Execute(
      &idle.context,
      Request("import os\nfor _ in range(128):\n    os.write(1, b'y' * 8192)\n",
              60));
  ASSERT_TRUE(idle.ReadStarted());
  // The only worker is free again although the first client reads nothing.
  ExecuteOutcome second =
      Execute(*stub, MakeRequest("print('second')"), absl::Seconds(60));
  ASSERT_TRUE(second.status.ok()) << second.status.error_message();
  EXPECT_EQ(second.finished.outcome(), Finished::OK);
  EXPECT_EQ(second.stdout_text, "second\n");
  LazyCall::Rest rest = idle.ReadToEnd(/*keep_stdout=*/true);
  ASSERT_TRUE(rest.status.ok()) << rest.status.error_message();
  ASSERT_TRUE(rest.finished.has_value());
  EXPECT_EQ(rest.finished->outcome(), Finished::OK);
  EXPECT_EQ(rest.stdout_text.size(), size_t{1} << 20);
  EXPECT_TRUE(rest.stdout_text == std::string(1 << 20, 'y'));
}

TEST(OutputBackpressureTest, PausedProgramStillTimesOut) {
  auto server = StartServer({});
  ASSERT_NE(server, nullptr);
  auto stub = server->NewStub();
  LazyCall idle;
  idle.reader = stub->Execute(
      &idle.context,
      // 20 s: room to fill the client's window and the bound first, even
      // when CI runs the 24-client test beside it.
      Request("import os\nwhile True:\n    os.write(1, b'z' * 8192)\n", 20));
  ASSERT_TRUE(idle.ReadStarted());
  EXPECT_EQ(WaitForMetric(*server, "codeexec_output_paused_runs", 1,
                          absl::Seconds(20)),
            1);
  // The run ends at its timeout although the client still reads nothing.
  EXPECT_EQ(WaitForMetric(*server,
                          "codeexec_executions_total{backend=\"gvisor-"
                          "local\",outcome=\"timeout\"}",
                          1, absl::Seconds(60)),
            1);
  EXPECT_EQ(MetricValue(*ScrapeMetrics(server->metrics_port()),
                        "codeexec_output_paused_runs")
                .value_or(-1),
            0);
  LazyCall::Rest rest = idle.ReadToEnd();
  ASSERT_TRUE(rest.status.ok()) << rest.status.error_message();
  ASSERT_TRUE(rest.finished.has_value());
  EXPECT_EQ(rest.finished->outcome(), Finished::TIMEOUT);
  EXPECT_THAT(rest.finished->message(), HasSubstr("timed out"));
  EXPECT_GT(rest.stdout_bytes, 0);
}

}  // namespace
}  // namespace codeexec::testing
