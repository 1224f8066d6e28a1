// Client-side token bucket shared by all requests of a RestClient.
#ifndef CODEEXEC_SERVER_KUBE_CLIENT_RATE_LIMITER_H_
#define CODEEXEC_SERVER_KUBE_CLIENT_RATE_LIMITER_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/exec/cancellation.h"

namespace codeexec::kube {

// `burst` tokens at most, refilled at `qps` per second. Thread-safe. Callers
// are served in arrival order: each reserves the next token and sleeps until
// it is due.
class RateLimiter {
 public:
  // qps <= 0 disables limiting; burst < 1 is taken as 1.
  RateLimiter(double qps, int burst);

  // Blocks until a token is available. False (and no token taken) when
  // `cancel` fires first.
  bool Acquire(const Cancellation* cancel = nullptr);

 private:
  const double qps_;
  const double burst_;
  absl::Mutex mu_;
  // Tokens at `updated_` (negative: owed to callers already waiting).
  double tokens_ ABSL_GUARDED_BY(mu_);
  absl::Time updated_ ABSL_GUARDED_BY(mu_);
};

}  // namespace codeexec::kube

#endif  // CODEEXEC_SERVER_KUBE_CLIENT_RATE_LIMITER_H_
