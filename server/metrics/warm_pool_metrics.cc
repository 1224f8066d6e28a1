#include "server/metrics/warm_pool_metrics.h"

#include "server/exec/json_log.h"

namespace codeexec {
namespace {

// A warm claim takes ~1 ms, a first byte tens to hundreds of ms.
const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const auto* buckets = new prometheus::Histogram::BucketBoundaries{
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1,
      0.15,  0.2,    0.3,   0.5,  1,     2.5,  5};
  return *buckets;
}

}  // namespace

WarmPoolMetrics::WarmPoolMetrics(prometheus::Registry* registry,
                                 std::string_view backend)
    : backend_(backend) {
  if (registry == nullptr) return;
  const prometheus::Labels labels = {{"backend", backend_}};
  idle_ = &prometheus::BuildGauge()
               .Name("codeexec_warm_pool_idle")
               .Help("Warm sandboxes ready for a run now.")
               .Register(*registry)
               .Add(labels);
  starting_ = &prometheus::BuildGauge()
                   .Name("codeexec_warm_pool_starting")
                   .Help("Warm sandboxes being started now.")
                   .Register(*registry)
                   .Add(labels);
  claims_ = &prometheus::BuildCounter()
                 .Name("codeexec_warm_pool_claims_total")
                 .Help("Runs that got a warm sandbox.")
                 .Register(*registry)
                 .Add(labels);
  cold_runs_ = &prometheus::BuildCounter()
                    .Name("codeexec_warm_pool_cold_runs_total")
                    .Help(
                        "Runs that started a sandbox of their own, by "
                        "reason (shape, empty, dead).")
                    .Register(*registry);
  start_failures_ = &prometheus::BuildCounter()
                         .Name("codeexec_warm_pool_start_failures_total")
                         .Help("Warm sandboxes that failed to start.")
                         .Register(*registry)
                         .Add(labels);
  claim_seconds_ =
      &prometheus::BuildHistogram()
           .Name("codeexec_warm_pool_claim_seconds")
           .Help(
               "From taking a warm sandbox to its launcher having the "
               "request.")
           .Register(*registry)
           .Add(labels, LatencyBuckets());
  first_output_seconds_ =
      &prometheus::BuildHistogram()
           .Name("codeexec_warm_pool_first_output_seconds")
           .Help("From a warm claim to the first byte the sandbox wrote.")
           .Register(*registry)
           .Add(labels, LatencyBuckets());
}

void WarmPoolMetrics::Observe(WarmPool::Hooks& hooks) {
  hooks.on_counts = [this](WarmPoolCounts counts) { SetCounts(counts); };
  hooks.on_start_failure = [this](const absl::Status& status) {
    RecordStartFailure();
    LogWarning(backend_, status.message());
  };
}

void WarmPoolMetrics::SetCounts(WarmPoolCounts counts) {
  if (idle_ == nullptr) return;
  idle_->Set(counts.idle);
  starting_->Set(counts.starting);
}

void WarmPoolMetrics::RecordClaim() {
  if (claims_ != nullptr) claims_->Increment();
}

void WarmPoolMetrics::RecordColdRun(ColdReason reason) {
  if (cold_runs_ == nullptr) return;
  cold_runs_->Add({{"backend", backend_}, {"reason", ColdReasonName(reason)}})
      .Increment();
}

void WarmPoolMetrics::RecordStartFailure() {
  if (start_failures_ != nullptr) start_failures_->Increment();
}

void WarmPoolMetrics::RecordClaimLatency(absl::Duration latency) {
  if (claim_seconds_ != nullptr) {
    claim_seconds_->Observe(absl::ToDoubleSeconds(latency));
  }
}

void WarmPoolMetrics::RecordFirstOutput(absl::Duration latency) {
  if (first_output_seconds_ != nullptr) {
    first_output_seconds_->Observe(absl::ToDoubleSeconds(latency));
  }
}

}  // namespace codeexec
