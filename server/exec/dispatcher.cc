#include "server/exec/dispatcher.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/metrics/service_metrics.h"

namespace codeexec {

Dispatcher::Dispatcher(DispatcherOptions options, Backend& backend,
                       ServiceMetrics* metrics)
    : options_(options), backend_(backend), metrics_(metrics) {
  workers_.reserve(options_.workers);
  for (int i = 0; i < options_.workers; ++i) {
    workers_.emplace_back([this] { WorkerLoop(); });
  }
}

Dispatcher::~Dispatcher() {
  StopAccepting();
  CancelAll("server is shutting down");
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (auto& worker : workers_) worker.join();
}

absl::Status Dispatcher::Submit(ExecutionSpec spec,
                                std::shared_ptr<ExecutionObserver> observer,
                                std::shared_ptr<Cancellation> cancel,
                                SandboxSession* session) {
  absl::MutexLock lock(&mu_);
  if (absl::Status admitted = AdmitLocked(); !admitted.ok()) return admitted;
  queue_.push_back(Task{std::move(spec), std::move(observer), std::move(cancel),
                        absl::Now(), session, nullptr});
  PublishGauges();
  return absl::OkStatus();
}

absl::Status Dispatcher::SubmitJob(std::function<void(const Cancellation&)> job,
                                   std::shared_ptr<Cancellation> cancel) {
  absl::MutexLock lock(&mu_);
  if (absl::Status admitted = AdmitLocked(); !admitted.ok()) return admitted;
  queue_.push_back(Task{ExecutionSpec(), nullptr, std::move(cancel),
                        absl::Now(), nullptr, std::move(job)});
  PublishGauges();
  return absl::OkStatus();
}

absl::Status Dispatcher::AdmitLocked() {
  if (!accepting_) {
    if (metrics_ != nullptr) metrics_->RecordRejected("shutting_down");
    return absl::UnavailableError(
        "server is shutting down; retry on another replica");
  }
  // Free workers take tasks at once, so only what exceeds them waits.
  const int idle_workers = options_.workers - running_;
  const int waiting = static_cast<int>(queue_.size());
  if (waiting - idle_workers >= options_.queue_size) {
    if (metrics_ != nullptr) metrics_->RecordRejected("queue_full");
    return absl::ResourceExhaustedError(absl::StrCat(
        "execution queue is full (", options_.workers, " running, ", waiting,
        " waiting, queue size ", options_.queue_size, "); retry later"));
  }
  return absl::OkStatus();
}

void Dispatcher::StopAccepting() {
  absl::MutexLock lock(&mu_);
  accepting_ = false;
}

bool Dispatcher::WaitIdle(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return queue_.empty() && running_ == 0 && finishing_ == 0;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&idle), timeout);
}

void Dispatcher::CancelAll(const std::string& reason) {
  std::vector<std::shared_ptr<Cancellation>> to_cancel;
  {
    absl::MutexLock lock(&mu_);
    to_cancel = running_cancels_;
    for (const Task& task : queue_) to_cancel.push_back(task.cancel);
  }
  for (auto& cancel : to_cancel) cancel->Cancel(reason);
}

int Dispatcher::queued() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(queue_.size());
}

int Dispatcher::running() const {
  absl::MutexLock lock(&mu_);
  return running_;
}

void Dispatcher::PublishGauges() {
  if (metrics_ == nullptr) return;
  metrics_->SetQueueDepth(static_cast<int>(queue_.size()));
  metrics_->SetInflight(running_);
}

void Dispatcher::WorkerLoop() {
  while (true) {
    Task task;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !queue_.empty() || stopping_;
      };
      mu_.Await(absl::Condition(&ready));
      if (queue_.empty()) return;  // stopping, nothing left
      task = std::move(queue_.front());
      queue_.pop_front();
      ++running_;
      running_cancels_.push_back(task.cancel);
      PublishGauges();
    }
    const absl::Duration queue_wait = absl::Now() - task.enqueued;
    if (task.job) {
      task.job(*task.cancel);
      absl::MutexLock lock(&mu_);
      --running_;
      running_cancels_.erase(std::find(running_cancels_.begin(),
                                       running_cancels_.end(), task.cancel));
      PublishGauges();
      continue;
    }
    absl::StatusOr<ExecutionResult> result = RunTask(task, queue_wait);
    // The sandbox is gone: no longer in flight, even before the client
    // hears of it (so a client that got Finished sees the gauge at rest).
    {
      absl::MutexLock lock(&mu_);
      --running_;
      ++finishing_;
      running_cancels_.erase(std::find(running_cancels_.begin(),
                                       running_cancels_.end(), task.cancel));
      PublishGauges();
    }
    // A failure of the service counts as a sandbox error, with the phases
    // the run got through; the observer gets its code and message only.
    ExecutionResult failed;
    if (!result.ok()) {
      failed.timings = PhaseTimingsOf(result.status());
      result = absl::Status(result.status().code(), result.status().message());
    }
    failed.timings.queue = queue_wait;
    if (metrics_ != nullptr) {
      metrics_->RecordExecution(backend_.Name(),
                                result.ok() ? *result : failed);
    }
    task.observer->OnFinished(result);
    absl::MutexLock lock(&mu_);
    --finishing_;
  }
}

namespace {

// Forwards output and backpressure to the observer; counts the output and
// whether the run is paused for its client.
class CountingSink : public OutputSink {
 public:
  CountingSink(ExecutionObserver& observer, ServiceMetrics* metrics)
      : observer_(observer), metrics_(metrics) {}
  ~CountingSink() override { SetPaused(false); }
  void OnOutput(OutputStream stream, std::string_view data) override {
    if (metrics_ != nullptr) metrics_->RecordOutputBytes(stream, data.size());
    observer_.OnOutput(stream, data);
  }
  bool WaitForRoom(absl::Time deadline) override {
    // Without waiting first, so the gauge only counts runs that do wait.
    if (!paused_ && observer_.WaitForRoom(absl::InfinitePast())) return true;
    SetPaused(true);
    const bool room = observer_.WaitForRoom(deadline);
    if (room) SetPaused(false);
    return room;
  }

 private:
  void SetPaused(bool paused) {
    if (paused == paused_) return;
    paused_ = paused;
    if (metrics_ != nullptr) metrics_->AddOutputPaused(paused ? 1 : -1);
  }

  ExecutionObserver& observer_;
  ServiceMetrics* metrics_;
  bool paused_ = false;
};

}  // namespace

absl::StatusOr<ExecutionResult> Dispatcher::RunTask(Task& task,
                                                    absl::Duration queue_wait) {
  absl::StatusOr<ExecutionResult> result = ExecutionResult();
  task.observer->OnStarted(queue_wait);
  if (task.cancel->IsCancelled()) {
    result->outcome = Outcome::kCancelled;
    result->message =
        absl::StrCat("cancelled before it started: ", task.cancel->Reason());
  } else {
    CountingSink sink(*task.observer, metrics_);
    result = task.session != nullptr
                 ? task.session->RunCell(task.spec, sink, *task.cancel)
                 : backend_.Run(task.spec, sink, *task.cancel);
  }
  if (result.ok()) result->timings.queue = queue_wait;
  return result;
}

}  // namespace codeexec
