// Cold-pod latency of Execute(print(1)) through code-executor on the real
// e2e cluster (scripts/e2e-cluster): every run is a new ConfigMap + Job + pod
// under gVisor. Starts the server itself (backend kubernetes, the executor's
// token-only kubeconfig), runs sequentially, and reports median / p95 of:
// time to the first output byte and to Finished as the client sees them; each
// phase as Finished reports it (create, schedule, start, run, cleanup); the
// same phases' means from the executor's Prometheus histograms; and the time
// until the run's Job, Pod and ConfigMap are gone from the API server.
//
//   build/bench/kube_latency --runs 10     (after `scripts/e2e-cluster up`)
#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "bench/bench_stats.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/cluster_access.h"
#include "tests/server_process.h"

ABSL_FLAG(int, runs, 10, "measured runs");
ABSL_FLAG(int, warmup, 1, "unmeasured runs first");
ABSL_FLAG(std::string, json, "", "also write the figures here as JSON");

namespace {

using codeexec::e2e::Cluster;
using codeexec::testing::ServerProcess;

double Seconds(const google::protobuf::Duration& d) {
  return d.seconds() + d.nanos() / 1e9;
}

using codeexec::bench::Stats;
using codeexec::bench::Summarize;

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  auto cluster = Cluster::FromEnvFile();
  if (!cluster.ok()) {
    std::fprintf(stderr, "kube_latency: %s\n",
                 std::string(cluster.status().message()).c_str());
    return 1;
  }
  auto server = ServerProcess::Start(cluster->ExecutorArgs());
  if (!server.ok()) {
    std::fprintf(stderr, "kube_latency: %s\n",
                 std::string(server.status().message()).c_str());
    return 1;
  }
  auto stub = (*server)->NewStub();
  std::map<std::string, std::vector<double>> samples;
  const int runs = absl::GetFlag(FLAGS_runs);
  const int warmup = absl::GetFlag(FLAGS_warmup);
  for (int i = 0; i < warmup + runs; ++i) {
    const absl::Time start = absl::Now();
    auto run = codeexec::testing::Execute(
        *stub, codeexec::testing::MakeRequest("print(1)"));
    if (!run.status.ok() || run.stdout_text != "1\n") {
      std::fprintf(stderr, "kube_latency: run failed: %s %s\n",
                   run.status.error_message().c_str(),
                   run.finished.message().c_str());
      return 1;
    }
    const absl::Time finished = absl::Now();
    absl::Time first_byte = finished;
    for (size_t e = 0; e < run.events.size(); ++e) {
      if (run.events[e].has_output()) {
        first_byte = run.received_at[e];
        break;
      }
    }
    // Until nothing of the run is left in the API server.
    const std::string selector = absl::StrCat("code-executor.dev/execution-id=",
                                              run.started.execution_id());
    if (absl::Status gone = cluster->WaitNoneLeft(absl::Seconds(120), selector);
        !gone.ok()) {
      std::fprintf(stderr, "kube_latency: %s\n",
                   std::string(gone.message()).c_str());
      return 1;
    }
    const absl::Time all_gone = absl::Now();
    if (i < warmup) continue;
    const auto& t = run.finished.timings();
    samples["first output byte"].push_back(
        absl::ToDoubleSeconds(first_byte - start));
    samples["total (client)"].push_back(
        absl::ToDoubleSeconds(finished - start));
    samples["phase create"].push_back(Seconds(t.create()));
    samples["phase schedule"].push_back(Seconds(t.schedule()));
    samples["phase start"].push_back(Seconds(t.start()));
    samples["phase run"].push_back(Seconds(t.run()));
    samples["phase cleanup"].push_back(Seconds(t.cleanup()));
    samples["objects gone after Finished"].push_back(
        absl::ToDoubleSeconds(all_gone - finished));
  }
  nlohmann::json figures;
  std::printf("%d cold-pod runs of print(1) on the e2e cluster:\n", runs);
  for (const char* name :
       {"first output byte", "total (client)", "phase create", "phase schedule",
        "phase start", "phase run", "phase cleanup",
        "objects gone after Finished"}) {
    const Stats s = Summarize(samples[name]);
    std::printf("  %-28s median %.3f s  p95 %.3f s\n", name, s.median, s.p95);
    figures[name] = {{"median_s", s.median}, {"p95_s", s.p95}};
  }
  // The executor's own metrics (warm-up runs included): mean per phase.
  auto page = codeexec::testing::ScrapeMetrics((*server)->metrics_port());
  if (page.ok()) {
    std::printf("executor metrics, mean per phase (incl. warm-up):\n");
    for (const char* phase :
         {"create", "schedule", "start", "run", "cleanup", "total"}) {
      const std::string labels =
          absl::StrCat("{backend=\"kubernetes\",phase=\"", phase, "\"}");
      auto sum = codeexec::testing::MetricValue(
          *page, "codeexec_execution_duration_seconds_sum" + labels);
      auto count = codeexec::testing::MetricValue(
          *page, "codeexec_execution_duration_seconds_count" + labels);
      if (sum.ok() && count.ok() && *count > 0) {
        std::printf("  %-9s %.3f s  (%g runs)\n", phase, *sum / *count, *count);
        figures["metrics_mean_s"][phase] = *sum / *count;
      }
    }
  }
  if (const std::string path = absl::GetFlag(FLAGS_json); !path.empty()) {
    std::FILE* out = std::fopen(path.c_str(), "w");
    if (out != nullptr) {
      std::fprintf(out, "%s\n", figures.dump(2).c_str());
      std::fclose(out);
    }
  }
  return 0;
}
