// The service's Prometheus metrics (prefix codeexec_): one registry, every
// family built once at start-up. Label values are bounded (backend names,
// outcome names, phase names, reasons, stream names) — never ids.
#ifndef CODEEXEC_SERVER_METRICS_SERVICE_METRICS_H_
#define CODEEXEC_SERVER_METRICS_SERVICE_METRICS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/exposer.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "server/exec/execution_spec.h"

namespace codeexec {

class ServiceMetrics {
 public:
  ServiceMetrics();

  // Registry for other components' families (kube client, janitor).
  const std::shared_ptr<prometheus::Registry>& registry() const {
    return registry_;
  }

  // executions_total{backend,outcome} and
  // execution_duration_seconds{backend,phase} for each non-zero phase.
  void RecordExecution(std::string_view backend, const ExecutionResult& result);
  void SetInflight(int running);
  void SetQueueDepth(int queued);
  // rejected_total{reason}: "queue_full", "invalid_argument",
  // "shutting_down", "deadline", "unauthenticated", "permission_denied",
  // "auth_unavailable", "quota".
  void RecordRejected(std::string_view reason);
  // output_bytes_total{stream}.
  void RecordOutputBytes(OutputStream stream, int64_t bytes);
  // output_paused_runs: runs whose output is not read while their client
  // catches up (server.maxUnsentOutputBytes); +1 when one pauses, -1 after.
  void AddOutputPaused(int delta);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& executions_total_;
  prometheus::Family<prometheus::Histogram>& execution_duration_;
  prometheus::Gauge& inflight_;
  prometheus::Gauge& queue_depth_;
  prometheus::Family<prometheus::Counter>& rejected_total_;
  prometheus::Family<prometheus::Counter>& output_bytes_total_;
  prometheus::Counter& stdout_bytes_;
  prometheus::Counter& stderr_bytes_;
  prometheus::Gauge& output_paused_;
};

// Serves `metrics.registry()` at http://<address>/metrics. Fails with a clear
// message when the address cannot be bound.
absl::StatusOr<std::unique_ptr<prometheus::Exposer>> StartMetricsExposer(
    const std::string& address, const ServiceMetrics& metrics);

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_METRICS_SERVICE_METRICS_H_
