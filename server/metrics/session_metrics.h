// Prometheus families of sessions (prefix codeexec_session): how many are
// open, created, closed by reason, and how many cells a session ran. A
// null registry makes every call a no-op (tests).
#ifndef CODEEXEC_SERVER_METRICS_SESSION_METRICS_H_
#define CODEEXEC_SERVER_METRICS_SESSION_METRICS_H_

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "server/exec/session_registry.h"

namespace codeexec {

class SessionMetrics {
 public:
  explicit SessionMetrics(prometheus::Registry* registry);

  // Hooks for SessionRegistry; the metrics must outlive it.
  SessionHooks Hooks();

 private:
  prometheus::Gauge* open_ = nullptr;
  prometheus::Counter* created_ = nullptr;
  prometheus::Family<prometheus::Counter>* closed_ = nullptr;
  prometheus::Histogram* cells_ = nullptr;
};

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_METRICS_SESSION_METRICS_H_
