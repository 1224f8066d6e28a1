#include "server/metrics/session_metrics.h"

#include <string>

namespace codeexec {

SessionMetrics::SessionMetrics(prometheus::Registry* registry) {
  if (registry == nullptr) return;
  open_ = &prometheus::BuildGauge()
               .Name("codeexec_sessions_open")
               .Help("Sessions open now (each holds a sandbox).")
               .Register(*registry)
               .Add({});
  created_ = &prometheus::BuildCounter()
                  .Name("codeexec_sessions_created_total")
                  .Help("Sessions whose sandbox started.")
                  .Register(*registry)
                  .Add({});
  closed_ = &prometheus::BuildCounter()
                 .Name("codeexec_sessions_closed_total")
                 .Help(
                     "Sessions closed, by reason (client, idle, lifetime, "
                     "ended, shutdown).")
                 .Register(*registry);
  cells_ = &prometheus::BuildHistogram()
                .Name("codeexec_session_cells")
                .Help("Cells a session ran, observed when it closed.")
                .Register(*registry)
                .Add({}, prometheus::Histogram::BucketBoundaries{
                             0, 1, 2, 5, 10, 20, 50, 100, 200, 500});
}

SessionHooks SessionMetrics::Hooks() {
  SessionHooks hooks;
  if (open_ == nullptr) return hooks;
  hooks.on_open_count = [this](int open) { open_->Set(open); };
  hooks.on_created = [this] { created_->Increment(); };
  hooks.on_closed = [this](SessionCloseReason reason, int cells) {
    closed_->Add({{"reason", std::string(SessionCloseReasonName(reason))}})
        .Increment();
    cells_->Observe(cells);
  };
  return hooks;
}

}  // namespace codeexec
