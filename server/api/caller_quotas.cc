#include "server/api/caller_quotas.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/exec/quota_status.h"

namespace codeexec {
namespace {

constexpr absl::Duration kWindow = absl::Minutes(1);
// Above this many tracked callers, Admit prunes them all first.
constexpr size_t kSweepAbove = 64;

std::string CallerName(const std::string& caller) {
  return caller.empty() ? "anonymous" : absl::StrCat("\"", caller, "\"");
}

}  // namespace

CallerQuotas::Lease::Lease(std::shared_ptr<CallerQuotas> quotas,
                           std::string caller)
    : quotas_(std::move(quotas)), caller_(std::move(caller)) {}

CallerQuotas::Lease::~Lease() { quotas_->Release(caller_); }

std::shared_ptr<CallerQuotas> CallerQuotas::Create(QuotaOptions options) {
  return std::shared_ptr<CallerQuotas>(new CallerQuotas(options));
}

absl::StatusOr<std::unique_ptr<CallerQuotas::Lease>> CallerQuotas::Admit(
    const std::string& caller) {
  const absl::Time now = absl::Now();
  {
    absl::MutexLock lock(&mu_);
    if (usage_.size() > kSweepAbove) {  // callers gone quiet a minute ago
      for (auto it = usage_.begin(); it != usage_.end();)
        PruneLocked(it++, now);
    }
    auto it = usage_.try_emplace(caller).first;
    Usage& usage = it->second;
    DropOldStarts(usage, now);
    const int concurrent = options_.concurrent_executions;
    const int per_minute = options_.executions_per_minute;
    std::string exceeded;
    if (concurrent > 0 && usage.running >= concurrent) {
      exceeded =
          absl::StrCat("caller ", CallerName(caller), " has ", usage.running,
                       " executions queued or running, its quota "
                       "(server.quotas.concurrentExecutions ",
                       concurrent, "); wait for one to finish");
    } else if (per_minute > 0 &&
               static_cast<int>(usage.started.size()) >= per_minute) {
      exceeded = absl::StrCat(
          "caller ", CallerName(caller), " started ", usage.started.size(),
          " executions in the last minute, its quota "
          "(server.quotas.executionsPerMinute ",
          per_minute, "); retry in ",
          absl::FormatDuration(absl::Ceil(usage.started.front() + kWindow - now,
                                          absl::Seconds(1))));
    }
    if (!exceeded.empty()) {
      PruneLocked(it, now);
      return QuotaExceededError(exceeded);
    }
    ++usage.running;
    if (per_minute > 0) usage.started.push_back(now);
  }
  return std::unique_ptr<Lease>(new Lease(shared_from_this(), caller));
}

void CallerQuotas::DropOldStarts(Usage& usage, absl::Time now) {
  while (!usage.started.empty() && usage.started.front() <= now - kWindow) {
    usage.started.pop_front();
  }
}

void CallerQuotas::Release(const std::string& caller) {
  absl::MutexLock lock(&mu_);
  auto it = usage_.find(caller);
  if (it == usage_.end()) return;
  --it->second.running;
  PruneLocked(it, absl::Now());
}

void CallerQuotas::PruneLocked(std::map<std::string, Usage>::iterator it,
                               absl::Time now) {
  Usage& usage = it->second;
  DropOldStarts(usage, now);
  if (usage.running == 0 && usage.started.empty()) usage_.erase(it);
}

int CallerQuotas::tracked_callers() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(usage_.size());
}

}  // namespace codeexec
