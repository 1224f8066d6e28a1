// Per-caller quotas (server.quotas) on executions: how many of a caller's
// run at once and how many it starts per minute. Sessions are counted by
// the SessionRegistry (it knows when one ends), with the same options.
#ifndef CODEEXEC_SERVER_API_CALLER_QUOTAS_H_
#define CODEEXEC_SERVER_API_CALLER_QUOTAS_H_

#include <deque>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/api/auth_options.h"

namespace codeexec {

class CallerQuotas : public std::enable_shared_from_this<CallerQuotas> {
 public:
  // Held by an admitted execution until it has finished: its slot of the
  // caller's concurrent executions.
  class Lease {
   public:
    ~Lease();
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;

   private:
    friend class CallerQuotas;
    Lease(std::shared_ptr<CallerQuotas> quotas, std::string caller);
    const std::shared_ptr<CallerQuotas> quotas_;
    const std::string caller_;
  };

  static std::shared_ptr<CallerQuotas> Create(QuotaOptions options);

  // One more execution of `caller`, or RESOURCE_EXHAUSTED naming the quota
  // it would exceed (nothing counted then).
  absl::StatusOr<std::unique_ptr<Lease>> Admit(const std::string& caller);

  // Callers with state held (tests: nothing of a caller lingers once its
  // runs are done and its minute has passed).
  int tracked_callers() const;

 private:
  explicit CallerQuotas(QuotaOptions options) : options_(options) {}
  struct Usage {
    int running = 0;
    // When its executions of the last 60 s started, oldest first.
    std::deque<absl::Time> started;
  };
  void Release(const std::string& caller);
  // Forgets starts older than a minute.
  static void DropOldStarts(Usage& usage, absl::Time now);
  // Drops starts older than a minute; erases a caller with nothing left.
  void PruneLocked(std::map<std::string, Usage>::iterator it, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const QuotaOptions options_;
  mutable absl::Mutex mu_;
  std::map<std::string, Usage> usage_ ABSL_GUARDED_BY(mu_);
};

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_API_CALLER_QUOTAS_H_
