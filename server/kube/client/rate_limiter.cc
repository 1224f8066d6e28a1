#include "server/kube/client/rate_limiter.h"

#include <algorithm>

namespace codeexec::kube {

RateLimiter::RateLimiter(double qps, int burst)
    : qps_(qps),
      burst_(std::max(burst, 1)),
      tokens_(std::max(burst, 1)),
      updated_(absl::Now()) {}

bool RateLimiter::Acquire(const Cancellation* cancel) {
  if (qps_ <= 0) return cancel == nullptr || !cancel->IsCancelled();
  absl::Duration wait;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = absl::Now();
    tokens_ = std::min(burst_,
                       tokens_ + absl::ToDoubleSeconds(now - updated_) * qps_);
    updated_ = now;
    tokens_ -= 1;
    wait = tokens_ >= 0 ? absl::ZeroDuration() : absl::Seconds(-tokens_ / qps_);
  }
  if (wait == absl::ZeroDuration()) return true;
  if (cancel == nullptr) {
    absl::SleepFor(wait);
    return true;
  }
  if (!cancel->WaitFor(wait)) return true;
  // Give the reserved token back: later callers need not wait for it.
  absl::MutexLock lock(&mu_);
  tokens_ += 1;
  return false;
}

}  // namespace codeexec::kube
