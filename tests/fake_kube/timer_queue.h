// Runs small tasks at given times on one thread (the fake controllers'
// deadlines, TTLs and the instant kubelet).
#ifndef CODEEXEC_TESTS_FAKE_KUBE_TIMER_QUEUE_H_
#define CODEEXEC_TESTS_FAKE_KUBE_TIMER_QUEUE_H_

#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <map>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace codeexec::fake_kube {

class TimerQueue {
 public:
  TimerQueue() : thread_([this] { Loop(); }) {}
  ~TimerQueue() { Stop(); }
  TimerQueue(const TimerQueue&) = delete;
  TimerQueue& operator=(const TimerQueue&) = delete;

  // Runs `task` at `when` (tasks due at the same time run in the order
  // scheduled). Ignored after Stop().
  void Schedule(absl::Time when, std::function<void()> task) {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    tasks_.emplace(std::make_pair(when, next_sequence_++), std::move(task));
  }
  // Drops the pending tasks and joins the thread.
  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      stopping_ = true;
      tasks_.clear();
    }
    thread_.join();
  }

 private:
  void Loop() {
    absl::MutexLock lock(&mu_);
    while (!stopping_) {
      const absl::Time next =
          tasks_.empty() ? absl::InfiniteFuture() : tasks_.begin()->first.first;
      if (next > absl::Now()) {
        // Re-evaluated when tasks change: wake for an earlier task, at
        // `next`, or to stop.
        auto woken = [this, next]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
          return stopping_ ||
                 (!tasks_.empty() && tasks_.begin()->first.first < next);
        };
        mu_.AwaitWithDeadline(absl::Condition(&woken), next);
        continue;
      }
      std::function<void()> task = std::move(tasks_.begin()->second);
      tasks_.erase(tasks_.begin());
      mu_.Unlock();
      try {
        task();
      } catch (const std::exception& e) {
        // A malformed object must not take the fake down.
        std::fprintf(stderr, "fake kube-apiserver: task failed: %s\n",
                     e.what());
      }
      mu_.Lock();
    }
  }

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t next_sequence_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::pair<absl::Time, uint64_t>, std::function<void()>> tasks_
      ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace codeexec::fake_kube

#endif  // CODEEXEC_TESTS_FAKE_KUBE_TIMER_QUEUE_H_
