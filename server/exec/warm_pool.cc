#include "server/exec/warm_pool.h"

#include <algorithm>
#include <utility>

#include "absl/time/clock.h"

namespace codeexec {

const char* ColdReasonName(ColdReason reason) {
  switch (reason) {
    case ColdReason::kShape:
      return "shape";
    case ColdReason::kEmpty:
      return "empty";
    case ColdReason::kDead:
      return "dead";
  }
  return "unknown";
}

WarmPool::WarmPool(WarmPoolOptions options, Hooks hooks)
    : options_(std::move(options)), hooks_(std::move(hooks)) {
  if (!enabled()) return;
  const int threads = std::max(1, options_.max_starting);
  for (int i = 0; i < threads; ++i) {
    threads_.emplace_back([this] { RefillLoop(); });
  }
}

WarmPool::~WarmPool() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& thread : threads_) thread.join();
  std::vector<std::unique_ptr<WarmSandbox>> left;
  {
    absl::MutexLock lock(&mu_);
    left = std::move(retiring_);
    for (auto& sandbox : idle_) left.push_back(std::move(sandbox));
    idle_.clear();
    ReportCountsLocked();
  }
  for (auto& sandbox : left) hooks_.retire(std::move(sandbox));
}

std::unique_ptr<WarmSandbox> WarmPool::Claim() {
  if (!enabled()) return nullptr;
  absl::MutexLock lock(&mu_);
  ExpireLocked(absl::Now());
  while (!idle_.empty()) {
    std::unique_ptr<WarmSandbox> sandbox = std::move(idle_.front());
    idle_.pop_front();
    if (sandbox->Alive()) {
      ReportCountsLocked();
      return sandbox;
    }
    retiring_.push_back(std::move(sandbox));
  }
  ReportCountsLocked();
  return nullptr;
}

WarmPoolCounts WarmPool::Counts() const {
  absl::MutexLock lock(&mu_);
  return WarmPoolCounts{.idle = static_cast<int>(idle_.size()),
                        .starting = starting_};
}

bool WarmPool::WaitForIdle(int idle, absl::Time deadline) const {
  absl::MutexLock lock(&mu_);
  auto ready = [this, idle]() {
    return static_cast<int>(idle_.size()) >= idle;
  };
  while (!ready()) {
    if (mu_.AwaitWithDeadline(absl::Condition(&ready), deadline)) break;
    if (absl::Now() >= deadline) return ready();
  }
  return true;
}

void WarmPool::ExpireLocked(absl::Time now) {
  while (!idle_.empty() &&
         now - idle_.front()->ready_time >= options_.max_age) {
    retiring_.push_back(std::move(idle_.front()));
    idle_.pop_front();
  }
}

bool WarmPool::HasWorkLocked() const {
  if (stopping_ || !retiring_.empty()) return true;
  if (!idle_.empty() &&
      absl::Now() - idle_.front()->ready_time >= options_.max_age) {
    return true;
  }
  return static_cast<int>(idle_.size()) + starting_ < options_.size &&
         absl::Now() >= next_start_;
}

absl::Time WarmPool::NextWakeLocked() const {
  absl::Time wake = absl::InfiniteFuture();
  if (!idle_.empty()) wake = idle_.front()->ready_time + options_.max_age;
  if (static_cast<int>(idle_.size()) + starting_ < options_.size) {
    wake = std::min(wake, next_start_);
  }
  return wake;
}

void WarmPool::ReportCountsLocked() {
  if (hooks_.on_counts) {
    hooks_.on_counts(WarmPoolCounts{.idle = static_cast<int>(idle_.size()),
                                    .starting = starting_});
  }
}

void WarmPool::RefillLoop() {
  absl::MutexLock lock(&mu_);
  while (true) {
    mu_.AwaitWithDeadline(absl::Condition(this, &WarmPool::HasWorkLocked),
                          NextWakeLocked());
    if (stopping_) return;
    ExpireLocked(absl::Now());
    if (!retiring_.empty()) {
      std::vector<std::unique_ptr<WarmSandbox>> retired = std::move(retiring_);
      retiring_.clear();
      ReportCountsLocked();
      mu_.Unlock();
      for (auto& sandbox : retired) hooks_.retire(std::move(sandbox));
      mu_.Lock();
      continue;
    }
    if (static_cast<int>(idle_.size()) + starting_ >= options_.size ||
        absl::Now() < next_start_) {
      continue;
    }
    ++starting_;
    ReportCountsLocked();
    mu_.Unlock();
    absl::StatusOr<std::unique_ptr<WarmSandbox>> started = hooks_.start();
    mu_.Lock();
    --starting_;
    if (started.ok()) {
      consecutive_failures_ = 0;
      (*started)->ready_time = absl::Now();
      // A sandbox that comes up during shutdown is retired by the destructor.
      idle_.push_back(*std::move(started));
    } else {
      absl::Duration backoff = options_.start_backoff;
      for (int i = 0;
           i < consecutive_failures_ && backoff < options_.max_start_backoff;
           ++i) {
        backoff *= 2;
      }
      ++consecutive_failures_;
      next_start_ = absl::Now() + std::min(backoff, options_.max_start_backoff);
      if (hooks_.on_start_failure) {
        mu_.Unlock();
        hooks_.on_start_failure(started.status());
        mu_.Lock();
      }
    }
    ReportCountsLocked();
  }
}

}  // namespace codeexec
