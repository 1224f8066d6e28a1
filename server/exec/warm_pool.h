// A pool of idle sandboxes started ahead of demand, shared by the backends:
// the pool decides when to start, hand out and retire sandboxes; the backend
// says how (WarmPool::Hooks). Each sandbox serves one claim and is then the
// claimer's to tear down; refill happens on the pool's own threads, never
// on a claim's path. A claim that finds nothing usable says why, and the
// backend takes its cold path.
#ifndef CODEEXEC_SERVER_EXEC_WARM_POOL_H_
#define CODEEXEC_SERVER_EXEC_WARM_POOL_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace codeexec {

// Upper bounds of WarmPoolOptions::size and max_starting (config checks).
inline constexpr int kMaxWarmPoolSize = 64;
inline constexpr int kMaxWarmPoolStarting = 16;

// Config `<backend>.warmPool`.
struct WarmPoolOptions {
  // Idle sandboxes of the default language (and default limits) kept ready;
  // 0 turns the pool off (every run starts its own sandbox).
  int size = 0;
  // An idle sandbox older than this is retired and replaced, so none runs
  // for days on an old rootfs, image or node state.
  absl::Duration max_age = absl::Minutes(10);
  // Sandboxes being started at once (refill threads). Starting one costs
  // about a core for its boot; more than this waits.
  int max_starting = 1;
  // After a start fails, the next waits this long, doubling per further
  // failure up to max_start_backoff (a broken runtime is not hammered).
  absl::Duration start_backoff = absl::Milliseconds(500);
  absl::Duration max_start_backoff = absl::Seconds(30);
};

// One started sandbox, waiting for its one request. Backends derive their
// own (what they need to deliver the request and tear it down).
class WarmSandbox {
 public:
  virtual ~WarmSandbox() = default;
  // Whether it can still take a request (its process or pod is alive).
  virtual bool Alive() = 0;

  // When the pool took it in (ready).
  absl::Time ready_time;
};

// Why a claim got no sandbox: the backend's cold-path reason (a metrics
// label, so a fixed set).
enum class ColdReason {
  kShape,  // the run's language or limits are not the pool's
  kEmpty,  // no idle sandbox
  kDead,   // the claimed sandbox was gone when the request was delivered
};
const char* ColdReasonName(ColdReason reason);

struct WarmPoolCounts {
  int idle = 0;
  int starting = 0;
};

class WarmPool {
 public:
  struct Hooks {
    // Starts one sandbox and returns once it waits for its request (runs on
    // a refill thread; may block for the sandbox's boot).
    std::function<absl::StatusOr<std::unique_ptr<WarmSandbox>>()> start;
    // Tears down a sandbox the pool retires (too old, dead, shutdown).
    std::function<void(std::unique_ptr<WarmSandbox>)> retire;
    // Told the counts whenever they change (metrics); may be empty.
    std::function<void(WarmPoolCounts)> on_counts;
    // Told each failed start (logging, metrics); may be empty.
    std::function<void(const absl::Status&)> on_start_failure;
  };

  // Starts the refill threads if options.size > 0.
  WarmPool(WarmPoolOptions options, Hooks hooks);
  WarmPool(const WarmPool&) = delete;
  WarmPool& operator=(const WarmPool&) = delete;
  // Stops refilling, waits for starts under way, retires every idle sandbox.
  ~WarmPool();

  bool enabled() const { return options_.size > 0; }

  // The oldest idle sandbox that is alive and younger than max_age (the
  // others found on the way are retired by the refill threads), or null:
  // the caller runs cold. Never waits for a start.
  std::unique_ptr<WarmSandbox> Claim();

  WarmPoolCounts Counts() const;

  // Blocks until `idle` sandboxes are ready or `deadline` passes (tests,
  // benchmarks, a server that wants a full pool before it serves); true if
  // they are.
  bool WaitForIdle(int idle, absl::Time deadline) const;

 private:
  void RefillLoop();
  // Moves idle sandboxes older than max_age to retiring_.
  void ExpireLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether a refill thread has something to do now.
  bool HasWorkLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // When a refill thread must look again without being woken (the next
  // expiry or the end of a start backoff).
  absl::Time NextWakeLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReportCountsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const WarmPoolOptions options_;
  const Hooks hooks_;
  mutable absl::Mutex mu_;
  // Oldest first.
  std::deque<std::unique_ptr<WarmSandbox>> idle_ ABSL_GUARDED_BY(mu_);
  // Dead or expired, for a refill thread to tear down.
  std::vector<std::unique_ptr<WarmSandbox>> retiring_ ABSL_GUARDED_BY(mu_);
  int starting_ ABSL_GUARDED_BY(mu_) = 0;
  int consecutive_failures_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time next_start_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_EXEC_WARM_POOL_H_
