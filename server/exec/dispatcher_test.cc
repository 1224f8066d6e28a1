#include "server/exec/dispatcher.h"

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "server/metrics/service_metrics.h"

namespace codeexec {
namespace {

// A backend whose runs block until released or cancelled; it records the
// specs it ran. (Unit-test double: the real backends are tested elsewhere.)
class GatedBackend : public Backend {
 public:
  std::string_view Name() const override { return "gated"; }
  absl::StatusOr<ExecutionResult> Run(const ExecutionSpec& spec,
                                      OutputSink& sink,
                                      const Cancellation& cancel) override {
    {
      absl::MutexLock lock(&mu_);
      started_.push_back(spec.execution_id);
    }
    sink.OnOutput(OutputStream::kStdout, "out:" + spec.execution_id);
    ExecutionResult result;
    while (!release_.HasBeenNotified()) {
      if (cancel.WaitFor(absl::Milliseconds(5))) {
        result.outcome = Outcome::kCancelled;
        result.message = cancel.Reason();
        return result;
      }
    }
    result.outcome = Outcome::kOk;
    result.exit_code = 0;
    return result;
  }
  void Release() { release_.Notify(); }
  int started() {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(started_.size());
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> started_;
  absl::Notification release_;
};

class RecordingObserver : public ExecutionObserver {
 public:
  void OnStarted(absl::Duration queue_wait) override {
    absl::MutexLock lock(&mu_);
    events_.push_back("started");
  }
  void OnOutput(OutputStream stream, std::string_view data) override {
    absl::MutexLock lock(&mu_);
    events_.push_back(std::string(data));
  }
  void OnFinished(const absl::StatusOr<ExecutionResult>& result) override {
    absl::MutexLock lock(&mu_);
    events_.push_back(
        result.ok() ? "finished:" + std::string(OutcomeName(result->outcome))
                    : absl::StrCat("failed:", result.status().ToString()));
    finished_.Notify();
  }
  bool WaitFinished() {
    return finished_.WaitForNotificationWithTimeout(absl::Seconds(30));
  }
  std::vector<std::string> events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> events_;
  absl::Notification finished_;
};

ExecutionSpec Spec(std::string id) {
  ExecutionSpec spec;
  spec.execution_id = std::move(id);
  return spec;
}

TEST(DispatcherTest, RunsInOrderStartedOutputFinished) {
  GatedBackend backend;
  Dispatcher dispatcher({.workers = 1, .queue_size = 4}, backend, nullptr);
  auto observer = std::make_shared<RecordingObserver>();
  backend.Release();
  ASSERT_TRUE(
      dispatcher.Submit(Spec("a"), observer, std::make_shared<Cancellation>())
          .ok());
  ASSERT_TRUE(observer->WaitFinished());
  EXPECT_EQ(observer->events(),
            (std::vector<std::string>{"started", "out:a", "finished:ok"}));
}

TEST(DispatcherTest, FullQueueIsRefusedAtOnceWithResourceExhausted) {
  GatedBackend backend;
  ServiceMetrics metrics;
  Dispatcher dispatcher({.workers = 1, .queue_size = 1}, backend, &metrics);
  std::vector<std::shared_ptr<RecordingObserver>> observers;
  for (int i = 0; i < 3; ++i) {
    observers.push_back(std::make_shared<RecordingObserver>());
  }
  ASSERT_TRUE(
      dispatcher
          .Submit(Spec("a"), observers[0], std::make_shared<Cancellation>())
          .ok());
  ASSERT_TRUE(
      dispatcher
          .Submit(Spec("b"), observers[1], std::make_shared<Cancellation>())
          .ok());
  absl::Status third = dispatcher.Submit(Spec("c"), observers[2],
                                         std::make_shared<Cancellation>());
  EXPECT_EQ(third.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(third.message().find("queue is full"), std::string::npos);
  backend.Release();
  EXPECT_TRUE(observers[0]->WaitFinished());
  EXPECT_TRUE(observers[1]->WaitFinished());
  EXPECT_TRUE(observers[2]->events().empty());
}

TEST(DispatcherTest, CancelWhileQueuedFinishesCancelledWithoutRunning) {
  GatedBackend backend;
  Dispatcher dispatcher({.workers = 1, .queue_size = 2}, backend, nullptr);
  auto first = std::make_shared<RecordingObserver>();
  auto second = std::make_shared<RecordingObserver>();
  auto second_cancel = std::make_shared<Cancellation>();
  ASSERT_TRUE(
      dispatcher.Submit(Spec("a"), first, std::make_shared<Cancellation>())
          .ok());
  ASSERT_TRUE(dispatcher.Submit(Spec("b"), second, second_cancel).ok());
  second_cancel->Cancel("client went away");
  backend.Release();
  ASSERT_TRUE(second->WaitFinished());
  EXPECT_EQ(second->events(),
            (std::vector<std::string>{"started", "finished:cancelled"}));
  EXPECT_TRUE(first->WaitFinished());
  EXPECT_EQ(backend.started(), 1);
}

TEST(DispatcherTest, ShutdownRefusesNewWorkAndCancelsRunning) {
  GatedBackend backend;
  Dispatcher dispatcher({.workers = 2, .queue_size = 2}, backend, nullptr);
  auto running = std::make_shared<RecordingObserver>();
  ASSERT_TRUE(
      dispatcher.Submit(Spec("a"), running, std::make_shared<Cancellation>())
          .ok());
  dispatcher.StopAccepting();
  EXPECT_EQ(dispatcher
                .Submit(Spec("b"), std::make_shared<RecordingObserver>(),
                        std::make_shared<Cancellation>())
                .code(),
            absl::StatusCode::kUnavailable);
  EXPECT_FALSE(dispatcher.WaitIdle(absl::Milliseconds(50)));
  dispatcher.CancelAll("server is shutting down");
  EXPECT_TRUE(dispatcher.WaitIdle(absl::Seconds(30)));
  ASSERT_TRUE(running->WaitFinished());
  EXPECT_EQ(running->events().back(), "finished:cancelled");
}

TEST(DispatcherTest, RunsUpToWorkersAtOnce) {
  GatedBackend backend;
  Dispatcher dispatcher({.workers = 3, .queue_size = 8}, backend, nullptr);
  std::vector<std::shared_ptr<RecordingObserver>> observers;
  for (int i = 0; i < 6; ++i) {
    observers.push_back(std::make_shared<RecordingObserver>());
    ASSERT_TRUE(dispatcher
                    .Submit(Spec(std::to_string(i)), observers.back(),
                            std::make_shared<Cancellation>())
                    .ok());
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (backend.started() < 3 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(backend.started(), 3);
  EXPECT_EQ(dispatcher.running(), 3);
  EXPECT_EQ(dispatcher.queued(), 3);
  backend.Release();
  for (auto& observer : observers) EXPECT_TRUE(observer->WaitFinished());
}

// Backpressure reaches the observer through the dispatcher's sink.
class RoomBackend : public Backend {
 public:
  std::string_view Name() const override { return "room"; }
  absl::StatusOr<ExecutionResult> Run(const ExecutionSpec& spec,
                                      OutputSink& sink,
                                      const Cancellation& cancel) override {
    room_seen = sink.WaitForRoom(absl::Now() + absl::Seconds(5));
    ExecutionResult result;
    result.outcome = Outcome::kOk;
    return result;
  }
  std::atomic<bool> room_seen{true};
};

class NoRoomObserver : public RecordingObserver {
 public:
  bool WaitForRoom(absl::Time deadline) override {
    asked.fetch_add(1);
    return false;
  }
  std::atomic<int> asked{0};
};

TEST(DispatcherTest, WaitForRoomIsForwardedToTheObserver) {
  RoomBackend backend;
  ServiceMetrics metrics;
  Dispatcher dispatcher({.workers = 1, .queue_size = 1}, backend, &metrics);
  auto observer = std::make_shared<NoRoomObserver>();
  ASSERT_TRUE(
      dispatcher.Submit(Spec("a"), observer, std::make_shared<Cancellation>())
          .ok());
  ASSERT_TRUE(observer->WaitFinished());
  EXPECT_FALSE(backend.room_seen.load());
  // A probe without waiting, then the wait itself.
  EXPECT_EQ(observer->asked.load(), 2);
}

// A failure of the service (an error from Run) reaches the observer as the
// status, and counts as a sandbox error in the metrics, with the phases it
// got through.
class RefusedBackend : public Backend {
 public:
  std::string_view Name() const override { return "refused"; }
  absl::StatusOr<ExecutionResult> Run(const ExecutionSpec& spec,
                                      OutputSink& sink,
                                      const Cancellation& cancel) override {
    PhaseTimings got_through;
    got_through.create = absl::Milliseconds(20);
    got_through.schedule = absl::Seconds(1);
    return WithPhaseTimings(
        absl::PermissionDeniedError("cannot get resource \"pods/log\""),
        got_through);
  }
};

TEST(DispatcherTest, AServiceFailureReachesTheObserverAsItsStatus) {
  RefusedBackend backend;
  ServiceMetrics metrics;
  Dispatcher dispatcher({.workers = 1, .queue_size = 1}, backend, &metrics);
  auto observer = std::make_shared<RecordingObserver>();
  ASSERT_TRUE(
      dispatcher.Submit(Spec("a"), observer, std::make_shared<Cancellation>())
          .ok());
  ASSERT_TRUE(observer->WaitFinished());
  EXPECT_EQ(observer->events(),
            (std::vector<std::string>{
                "started",
                "failed:PERMISSION_DENIED: cannot get resource \"pods/log\""}));
  bool counted = false;
  for (const prometheus::MetricFamily& family : metrics.registry()->Collect()) {
    if (family.name != "codeexec_executions_total") continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      for (const prometheus::ClientMetric::Label& label : metric.label) {
        if (label.name == "outcome" && label.value == "sandbox_error") {
          counted = metric.counter.value == 1;
        }
      }
    }
  }
  EXPECT_TRUE(counted);
  // The phases it got through are in the duration histogram.
  std::map<std::string, double> phase_sums;
  for (const prometheus::MetricFamily& family : metrics.registry()->Collect()) {
    if (family.name != "codeexec_execution_duration_seconds") continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      for (const prometheus::ClientMetric::Label& label : metric.label) {
        if (label.name == "phase") {
          phase_sums[label.value] = metric.histogram.sample_sum;
        }
      }
    }
  }
  EXPECT_DOUBLE_EQ(phase_sums["create"], 0.02);
  EXPECT_DOUBLE_EQ(phase_sums["schedule"], 1.0);
  EXPECT_FALSE(phase_sums.contains("run"));
}

}  // namespace
}  // namespace codeexec
