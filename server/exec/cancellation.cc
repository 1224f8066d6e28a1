#include "server/exec/cancellation.h"

#include <utility>
#include <vector>

namespace codeexec {

void Cancellation::Cancel(std::string reason) {
  std::vector<std::function<void()>> to_run;
  {
    absl::MutexLock lock(&mu_);
    if (cancelled_) return;
    cancelled_ = true;
    reason_ = std::move(reason);
    for (auto& [id, callback] : callbacks_) to_run.push_back(callback);
    running_callbacks_ = true;
  }
  for (auto& callback : to_run) callback();
  absl::MutexLock lock(&mu_);
  running_callbacks_ = false;
}

bool Cancellation::IsCancelled() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

std::string Cancellation::Reason() const {
  absl::MutexLock lock(&mu_);
  return reason_;
}

Cancellation::CallbackId Cancellation::AddCallback(
    std::function<void()> callback) const {
  {
    absl::MutexLock lock(&mu_);
    if (!cancelled_) {
      CallbackId id = next_id_++;
      callbacks_.emplace(id, std::move(callback));
      return id;
    }
  }
  callback();
  return -1;
}

void Cancellation::RemoveCallback(CallbackId id) const {
  absl::MutexLock lock(&mu_);
  callbacks_.erase(id);
  // A callback copied out by Cancel() may still be running: wait for it.
  auto callbacks_done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !running_callbacks_;
  };
  mu_.Await(absl::Condition(&callbacks_done));
}

bool Cancellation::WaitFor(absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&cancelled_), timeout);
}

}  // namespace codeexec
