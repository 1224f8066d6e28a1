// Prometheus families of a backend's warm pool (prefix codeexec_warm_pool_),
// labelled by backend: what the pool holds, how claims went and how fast a
// warm run starts. A null registry makes every call a no-op (tests).
#ifndef CODEEXEC_SERVER_METRICS_WARM_POOL_METRICS_H_
#define CODEEXEC_SERVER_METRICS_WARM_POOL_METRICS_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "server/exec/warm_pool.h"

namespace codeexec {

class WarmPoolMetrics {
 public:
  WarmPoolMetrics(prometheus::Registry* registry, std::string_view backend);

  // Sets `hooks`' on_counts and on_start_failure: the counts and failures
  // go to these metrics, each failure also to the log as a warning of the
  // backend. The metrics must outlive the pool.
  void Observe(WarmPool::Hooks& hooks);

  // warm_pool_idle and warm_pool_starting.
  void SetCounts(WarmPoolCounts counts);
  // warm_pool_claims_total: runs that got a warm sandbox.
  void RecordClaim();
  // warm_pool_cold_runs_total{reason}: runs that took the cold path.
  void RecordColdRun(ColdReason reason);
  // warm_pool_start_failures_total.
  void RecordStartFailure();
  // warm_pool_claim_seconds: from taking a sandbox to its launcher having
  // the request.
  void RecordClaimLatency(absl::Duration latency);
  // warm_pool_first_output_seconds: from the claim to the first byte the
  // sandbox wrote back.
  void RecordFirstOutput(absl::Duration latency);

 private:
  prometheus::Gauge* idle_ = nullptr;
  prometheus::Gauge* starting_ = nullptr;
  prometheus::Counter* claims_ = nullptr;
  prometheus::Family<prometheus::Counter>* cold_runs_ = nullptr;
  prometheus::Counter* start_failures_ = nullptr;
  prometheus::Histogram* claim_seconds_ = nullptr;
  prometheus::Histogram* first_output_seconds_ = nullptr;
  std::string backend_;
};

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_METRICS_WARM_POOL_METRICS_H_
