// Bounded queue + fixed pool of workers that run executions on a Backend.
#ifndef CODEEXEC_SERVER_EXEC_DISPATCHER_H_
#define CODEEXEC_SERVER_EXEC_DISPATCHER_H_

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/exec/backend.h"
#include "server/exec/cancellation.h"
#include "server/exec/dispatcher_options.h"
#include "server/exec/execution_spec.h"

namespace codeexec {

class ServiceMetrics;

// Receives the lifecycle of one execution. Output comes through OutputSink.
// OnStarted is called once before any output, OnFinished exactly once, last.
class ExecutionObserver : public OutputSink {
 public:
  virtual void OnStarted(absl::Duration queue_wait) = 0;
  // An error is the service's failure (Backend::Run), ending the call.
  virtual void OnFinished(const absl::StatusOr<ExecutionResult>& result) = 0;
};

class Dispatcher {
 public:
  // `backend` and `metrics` (may be null) must outlive the dispatcher.
  Dispatcher(DispatcherOptions options, Backend& backend,
             ServiceMetrics* metrics);
  // Cancels what is left and joins the workers.
  ~Dispatcher();

  // Queues an execution. RESOURCE_EXHAUSTED when the queue is full,
  // UNAVAILABLE once StopAccepting was called. On OK the observer gets
  // OnFinished exactly once, even if cancelled while still queued.
  // With `session` (which must outlive the execution: the observer holds
  // it), the run is a cell of that session (SandboxSession::RunCell).
  absl::Status Submit(ExecutionSpec spec,
                      std::shared_ptr<ExecutionObserver> observer,
                      std::shared_ptr<Cancellation> cancel,
                      SandboxSession* session = nullptr);

  // Queues `job` (a session's sandbox start) like an execution: the same
  // bound, a worker of the same pool; it gets `cancel` (which shutdown
  // fires) and must call back whoever waits for it. Errors as Submit's.
  absl::Status SubmitJob(std::function<void(const Cancellation&)> job,
                         std::shared_ptr<Cancellation> cancel);

  // Shutdown, phase 1: refuse new executions; queued and running go on.
  void StopAccepting();
  // Waits until nothing is queued or running; true if that happened in time.
  bool WaitIdle(absl::Duration timeout);
  // Shutdown, phase 2: cancels every queued and running execution.
  void CancelAll(const std::string& reason);

  int queued() const;
  int running() const;

 private:
  struct Task {
    ExecutionSpec spec;
    std::shared_ptr<ExecutionObserver> observer;
    std::shared_ptr<Cancellation> cancel;
    absl::Time enqueued;
    SandboxSession* session = nullptr;
    // Set for SubmitJob's tasks (then spec and observer are unused).
    std::function<void(const Cancellation&)> job;
  };
  // OK if one more task may be queued; counts a refusal.
  absl::Status AdmitLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WorkerLoop();
  // Runs the task on the backend (OnStarted, output); OnFinished is left to
  // the caller.
  absl::StatusOr<ExecutionResult> RunTask(Task& task,
                                          absl::Duration queue_wait);
  void PublishGauges() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const DispatcherOptions options_;
  Backend& backend_;
  ServiceMetrics* const metrics_;
  mutable absl::Mutex mu_;
  std::deque<Task> queue_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<Cancellation>> running_cancels_
      ABSL_GUARDED_BY(mu_);
  int running_ ABSL_GUARDED_BY(mu_) = 0;
  // Runs whose sandbox is gone but whose OnFinished is still being called.
  int finishing_ ABSL_GUARDED_BY(mu_) = 0;
  bool accepting_ ABSL_GUARDED_BY(mu_) = true;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_;
};

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_EXEC_DISPATCHER_H_
