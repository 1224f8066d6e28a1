// A one-shot, thread-safe cancellation signal shared by the RPC (client
// cancel), the dispatcher (shutdown) and the backend running the program.
#ifndef CODEEXEC_SERVER_EXEC_CANCELLATION_H_
#define CODEEXEC_SERVER_EXEC_CANCELLATION_H_

#include <functional>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace codeexec {

class Cancellation {
 public:
  using CallbackId = int;

  Cancellation() = default;
  Cancellation(const Cancellation&) = delete;
  Cancellation& operator=(const Cancellation&) = delete;

  // Cancels with a human-readable reason ("client cancelled the call", ...).
  // Only the first call has an effect; callbacks run on the calling thread,
  // without any lock held.
  void Cancel(std::string reason);

  bool IsCancelled() const;
  // Empty until cancelled.
  std::string Reason() const;

  // Runs `callback` once on cancellation: at once (on this thread) if already
  // cancelled. The callback must not call RemoveCallback.
  CallbackId AddCallback(std::function<void()> callback) const;
  // After this returns, the callback is not running and will not run.
  void RemoveCallback(CallbackId id) const;

  // Blocks up to `timeout`; true if cancelled.
  bool WaitFor(absl::Duration timeout) const;

 private:
  mutable absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool running_callbacks_ ABSL_GUARDED_BY(mu_) = false;
  std::string reason_ ABSL_GUARDED_BY(mu_);
  // Observers register through a const reference: registration is not a
  // change of the cancellation state.
  mutable CallbackId next_id_ ABSL_GUARDED_BY(mu_) = 0;
  mutable std::map<CallbackId, std::function<void()>> callbacks_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_EXEC_CANCELLATION_H_
