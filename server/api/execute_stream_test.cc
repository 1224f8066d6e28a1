// ExecuteStream's backpressure through a real in-process gRPC server: the
// service, the dispatcher and a fake backend that floods the sink, calling
// WaitForRoom before each chunk like the real backends do.
#include "server/api/execute_stream.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "server/api/code_executor_service.h"
#include "server/exec/dispatcher.h"

namespace codeexec {
namespace {

using ::codeexecutor::v1::CodeExecutor;
using ::codeexecutor::v1::ExecuteRequest;
using ::codeexecutor::v1::ExecuteResponse;
using ::codeexecutor::v1::Finished;

constexpr int64_t kBound = 256 * 1024;
constexpr size_t kChunk = 16 * 1024;

// Byte `i` of the fake program's output.
char PatternByte(int64_t i) { return static_cast<char>((i * 131 + i / 4093)); }

// Writes `total` bytes of the pattern in kChunk pieces, waiting for room
// before each in short slices (like IoPump), and records how far it got.
class FloodBackend : public Backend {
 public:
  explicit FloodBackend(int64_t total) : total_(total) {}
  std::string_view Name() const override { return "flood"; }
  absl::StatusOr<ExecutionResult> Run(const ExecutionSpec& spec,
                                      OutputSink& sink,
                                      const Cancellation& cancel) override {
    ExecutionResult result;
    const absl::Time deadline = absl::Now() + spec.timeout;
    std::string chunk(kChunk, '\0');
    int64_t written = 0;
    while (written < total_) {
      if (cancel.IsCancelled()) {
        result.outcome = Outcome::kCancelled;
        result.message = cancel.Reason();
        return Done(result);
      }
      if (absl::Now() >= deadline) {
        result.outcome = Outcome::kTimeout;
        return Done(result);
      }
      if (!sink.WaitForRoom(
              std::min(deadline, absl::Now() + absl::Milliseconds(50)))) {
        waits_without_room_.fetch_add(1);
        continue;
      }
      for (size_t i = 0; i < kChunk; ++i) chunk[i] = PatternByte(written + i);
      sink.OnOutput(OutputStream::kStdout, chunk);
      written += kChunk;
      written_.store(written);
    }
    result.outcome = Outcome::kOk;
    return Done(result);
  }
  int64_t written() const { return written_.load(); }
  int waits_without_room() const { return waits_without_room_.load(); }
  bool WaitDone(absl::Duration timeout) {
    return done_.WaitForNotificationWithTimeout(timeout);
  }

 private:
  ExecutionResult Done(ExecutionResult result) {
    done_.Notify();
    return result;
  }
  const int64_t total_;
  std::atomic<int64_t> written_{0};
  std::atomic<int> waits_without_room_{0};
  absl::Notification done_;
};

// The service on 127.0.0.1 with one worker and a FloodBackend.
class Harness {
 public:
  explicit Harness(int64_t total) : backend_(total) {
    options_.languages["python"] = {
        "main.py", {"python3", "main.py"}, "", {}, ""};
    dispatcher_ = std::make_unique<Dispatcher>(DispatcherOptions{1, 4},
                                               backend_, nullptr);
    service_ = std::make_unique<CodeExecutorService>(options_, kBound, backend_,
                                                     *dispatcher_, nullptr);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port_);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    // Without BDP probing the client's flow-control window stays at its
    // initial 64 KiB, so what leaves the server while nobody reads is small
    // and the bound can be checked.
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    stub_ = CodeExecutor::NewStub(
        grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port_),
                                  grpc::InsecureChannelCredentials(), args));
  }
  ~Harness() {
    dispatcher_->CancelAll("test over");
    server_->Shutdown(std::chrono::system_clock::now());
  }
  CodeExecutor::Stub& stub() { return *stub_; }
  FloodBackend& backend() { return backend_; }
  Dispatcher& dispatcher() { return *dispatcher_; }

  // Waits until the backend has been refused room (the run is paused).
  bool WaitPaused() {
    const absl::Time give_up = absl::Now() + absl::Seconds(20);
    while (backend_.waits_without_room() == 0 && absl::Now() < give_up) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    return backend_.waits_without_room() > 0;
  }

 private:
  ValidatorOptions options_;
  FloodBackend backend_;
  std::unique_ptr<Dispatcher> dispatcher_;
  std::unique_ptr<CodeExecutorService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<CodeExecutor::Stub> stub_;
  int port_ = 0;
};

ExecuteRequest Request(int timeout_seconds) {
  ExecuteRequest request;
  request.set_code("flood");
  request.mutable_limits()->set_timeout_seconds(timeout_seconds);
  request.mutable_limits()->set_max_output_bytes(int64_t{64} << 20);
  return request;
}

// Opens the call and reads Started only.
std::unique_ptr<grpc::ClientReader<ExecuteResponse>> OpenAndReadStarted(
    CodeExecutor::Stub& stub, grpc::ClientContext& context, int timeout_s) {
  auto reader = stub.Execute(&context, Request(timeout_s));
  ExecuteResponse response;
  EXPECT_TRUE(reader->Read(&response));
  EXPECT_TRUE(response.has_started());
  return reader;
}

TEST(ExecuteStreamTest, NonReadingClientPausesTheRunNearTheBound) {
  constexpr int64_t kTotal = int64_t{32} << 20;
  Harness harness(kTotal);
  grpc::ClientContext context;
  auto reader = OpenAndReadStarted(harness.stub(), context, 60);
  ASSERT_TRUE(harness.WaitPaused());
  absl::SleepFor(absl::Milliseconds(300));
  const int64_t paused_at = harness.backend().written();
  absl::SleepFor(absl::Milliseconds(300));
  // Paused for good: nothing more was produced while nobody read. Besides
  // the bound, only what flow control let through has left the server.
  EXPECT_EQ(harness.backend().written(), paused_at);
  std::printf("paused after %lld bytes (bound %lld)\n",
              static_cast<long long>(paused_at),
              static_cast<long long>(kBound));
  EXPECT_LT(paused_at, 2 * kBound + (1 << 20)) << "the queue passed the bound";

  // Reading resumes the run; every byte arrives, in order.
  std::string out;
  std::optional<Finished> finished;
  ExecuteResponse response;
  while (reader->Read(&response)) {
    if (response.has_output()) out += response.output().data();
    if (response.has_finished()) finished = response.finished();
  }
  EXPECT_TRUE(reader->Finish().ok());
  ASSERT_TRUE(finished.has_value());
  EXPECT_EQ(finished->outcome(), Finished::OK);
  ASSERT_EQ(static_cast<int64_t>(out.size()), kTotal);
  for (int64_t i = 0; i < kTotal; ++i) {
    if (out[i] != PatternByte(i)) {
      FAIL() << "byte " << i << " differs";
    }
  }
}

TEST(ExecuteStreamTest, ClientCancelWakesAPausedRun) {
  Harness harness(int64_t{64} << 20);
  grpc::ClientContext context;
  auto reader = OpenAndReadStarted(harness.stub(), context, 60);
  ASSERT_TRUE(harness.WaitPaused());
  const absl::Time cancelled_at = absl::Now();
  context.TryCancel();
  EXPECT_FALSE(reader->Finish().ok());
  ASSERT_TRUE(harness.backend().WaitDone(absl::Seconds(20)));
  EXPECT_LT(absl::Now() - cancelled_at, absl::Seconds(5));
}

TEST(ExecuteStreamTest, ShutdownCancelWakesAPausedRun) {
  Harness harness(int64_t{64} << 20);
  grpc::ClientContext context;
  auto reader = OpenAndReadStarted(harness.stub(), context, 60);
  ASSERT_TRUE(harness.WaitPaused());
  const absl::Time cancelled_at = absl::Now();
  // The dispatcher's CancelAll (server shutdown) cancels the stream's own
  // Cancellation while the client is still there and the queue still full.
  harness.dispatcher().CancelAll("the server is shutting down");
  ASSERT_TRUE(harness.backend().WaitDone(absl::Seconds(20)));
  EXPECT_LT(absl::Now() - cancelled_at, absl::Seconds(5));
  context.TryCancel();
}

TEST(ExecuteStreamTest, PausedRunStillTimesOut) {
  Harness harness(int64_t{64} << 20);
  grpc::ClientContext context;
  const absl::Time start = absl::Now();
  auto reader = OpenAndReadStarted(harness.stub(), context, 2);
  ASSERT_TRUE(harness.backend().WaitDone(absl::Seconds(20)));
  const absl::Duration took = absl::Now() - start;
  EXPECT_GE(took, absl::Seconds(1.5));
  EXPECT_LT(took, absl::Seconds(6));
  EXPECT_GT(harness.backend().waits_without_room(), 0);
  // The client then reads what was queued and the TIMEOUT.
  std::optional<Finished> finished;
  ExecuteResponse response;
  while (reader->Read(&response)) {
    if (response.has_finished()) finished = response.finished();
  }
  EXPECT_TRUE(reader->Finish().ok());
  ASSERT_TRUE(finished.has_value());
  EXPECT_EQ(finished->outcome(), Finished::TIMEOUT);
}

}  // namespace
}  // namespace codeexec
