#include "tests/fake_kube/fault_injector.h"

#include "tests/fake_kube/label_selector.h"

namespace codeexec::fake_kube {

bool FaultInjector::Matches(const RequestMatch& match,
                            const RequestInfo& request) {
  std::string verb = match.verb;
  std::string resource = match.resource;
  if (verb == "log") {
    verb = "get";
    resource = "pods/log";
  }
  return (verb.empty() || verb == request.verb) &&
         (resource.empty() || resource == request.resource) &&
         (match.name.empty() || match.name == request.name) &&
         (match.ns.empty() || match.ns == request.ns);
}

void FaultInjector::Add(RequestMatch match, int times, Fault fault) {
  if (times == 0) return;
  absl::MutexLock lock(&mu_);
  rules_.push_back({std::move(match), times, std::move(fault)});
}

std::optional<Fault> FaultInjector::Take(const RequestInfo& request) {
  absl::MutexLock lock(&mu_);
  for (auto it = rules_.begin(); it != rules_.end(); ++it) {
    if (!Matches(it->match, request)) continue;
    Fault fault = it->fault;
    if (it->remaining > 0 && --it->remaining == 0) rules_.erase(it);
    return fault;
  }
  return std::nullopt;
}

void FaultInjector::Forbid(std::string verb, std::string resource) {
  absl::MutexLock lock(&mu_);
  forbidden_.emplace(std::move(verb), std::move(resource));
}

bool FaultInjector::IsForbidden(const RequestInfo& request) const {
  absl::MutexLock lock(&mu_);
  return forbidden_.contains({request.verb, request.resource});
}

void FaultInjector::ExpireNextWatches(int count) {
  absl::MutexLock lock(&mu_);
  watch_expiries_ += count;
}

bool FaultInjector::TakeWatchExpiry() {
  absl::MutexLock lock(&mu_);
  if (watch_expiries_ <= 0) return false;
  --watch_expiries_;
  return true;
}

void FaultInjector::DropNextAttachStreams(int count,
                                          int64_t after_output_bytes) {
  absl::MutexLock lock(&mu_);
  attach_drops_ = count;
  attach_drop_after_bytes_ = after_output_bytes;
}

std::optional<int64_t> FaultInjector::TakeAttachDrop() {
  absl::MutexLock lock(&mu_);
  if (attach_drops_ <= 0) return std::nullopt;
  --attach_drops_;
  return attach_drop_after_bytes_;
}

void FaultInjector::SetLogChunkDelay(absl::Duration delay) {
  absl::MutexLock lock(&mu_);
  log_chunk_delay_ = delay;
}

absl::Duration FaultInjector::log_chunk_delay() const {
  absl::MutexLock lock(&mu_);
  return log_chunk_delay_;
}

void FaultInjector::AddPendingFault(PendingFault fault) {
  absl::MutexLock lock(&mu_);
  pending_faults_.push_back(std::move(fault));
}

std::optional<PendingFault> FaultInjector::PendingFaultFor(
    const nlohmann::json& labels) const {
  absl::MutexLock lock(&mu_);
  for (const PendingFault& fault : pending_faults_) {
    absl::StatusOr<LabelSelector> selector =
        LabelSelector::Parse(fault.label_selector);
    if (selector.ok() && selector->Matches(labels)) return fault;
  }
  return std::nullopt;
}

void FaultInjector::Clear() {
  absl::MutexLock lock(&mu_);
  rules_.clear();
  forbidden_.clear();
  watch_expiries_ = 0;
  attach_drops_ = 0;
  log_chunk_delay_ = absl::ZeroDuration();
  pending_faults_.clear();
}

}  // namespace codeexec::fake_kube
