#include "server/metrics/service_metrics.h"

#include <exception>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace codeexec {
namespace {

// Sandbox phases span ~1 ms (queue) to minutes (run): explicit buckets.
const prometheus::Histogram::BucketBoundaries& DurationBuckets() {
  static const auto* buckets = new prometheus::Histogram::BucketBoundaries{
      0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
      2.5,   5,     10,   30,    60,   120, 300,  600};
  return *buckets;
}

}  // namespace

ServiceMetrics::ServiceMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      executions_total_(prometheus::BuildCounter()
                            .Name("codeexec_executions_total")
                            .Help("Finished executions by backend and outcome.")
                            .Register(*registry_)),
      execution_duration_(
          prometheus::BuildHistogram()
              .Name("codeexec_execution_duration_seconds")
              .Help("Duration of each phase of an execution (queue, create, "
                    "schedule, start, run, cleanup, total).")
              .Register(*registry_)),
      inflight_(prometheus::BuildGauge()
                    .Name("codeexec_inflight")
                    .Help("Executions running in a sandbox now.")
                    .Register(*registry_)
                    .Add({})),
      queue_depth_(prometheus::BuildGauge()
                       .Name("codeexec_queue_depth")
                       .Help("Executions waiting for a worker now.")
                       .Register(*registry_)
                       .Add({})),
      rejected_total_(prometheus::BuildCounter()
                          .Name("codeexec_rejected_total")
                          .Help("Requests refused before running, by reason.")
                          .Register(*registry_)),
      output_bytes_total_(
          prometheus::BuildCounter()
              .Name("codeexec_output_bytes_total")
              .Help("Program output bytes streamed to clients, by stream.")
              .Register(*registry_)),
      stdout_bytes_(output_bytes_total_.Add({{"stream", "stdout"}})),
      stderr_bytes_(output_bytes_total_.Add({{"stream", "stderr"}})),
      output_paused_(
          prometheus::BuildGauge()
              .Name("codeexec_output_paused_runs")
              .Help("Running executions whose output is not read now because "
                    "their client has not taken what was queued "
                    "(server.maxUnsentOutputBytes).")
              .Register(*registry_)
              .Add({})) {}

void ServiceMetrics::RecordExecution(std::string_view backend,
                                     const ExecutionResult& result) {
  const std::string backend_label(backend);
  executions_total_
      .Add({{"backend", backend_label},
            {"outcome", std::string(OutcomeName(result.outcome))}})
      .Increment();
  const PhaseTimings& t = result.timings;
  const std::pair<const char*, absl::Duration> phases[] = {
      {"queue", t.queue},
      {"create", t.create},
      {"schedule", t.schedule},
      {"start", t.start},
      {"run", t.run},
      {"cleanup", t.cleanup},
      {"total", t.queue + t.create + t.schedule + t.start + t.run + t.cleanup}};
  for (const auto& [phase, duration] : phases) {
    if (duration <= absl::ZeroDuration() &&
        std::string_view(phase) != "queue") {
      continue;
    }
    execution_duration_
        .Add({{"backend", backend_label}, {"phase", phase}}, DurationBuckets())
        .Observe(absl::ToDoubleSeconds(duration));
  }
}

void ServiceMetrics::SetInflight(int running) { inflight_.Set(running); }

void ServiceMetrics::SetQueueDepth(int queued) { queue_depth_.Set(queued); }

void ServiceMetrics::RecordRejected(std::string_view reason) {
  rejected_total_.Add({{"reason", std::string(reason)}}).Increment();
}

void ServiceMetrics::RecordOutputBytes(OutputStream stream, int64_t bytes) {
  (stream == OutputStream::kStdout ? stdout_bytes_ : stderr_bytes_)
      .Increment(static_cast<double>(bytes));
}

void ServiceMetrics::AddOutputPaused(int delta) {
  output_paused_.Increment(static_cast<double>(delta));
}

absl::StatusOr<std::unique_ptr<prometheus::Exposer>> StartMetricsExposer(
    const std::string& address, const ServiceMetrics& metrics) {
  try {
    auto exposer = std::make_unique<prometheus::Exposer>(address);
    exposer->RegisterCollectable(metrics.registry());
    return exposer;
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", address,
                     " (server.metricsAddress): ", e.what()));
  }
}

}  // namespace codeexec
