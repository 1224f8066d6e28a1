// The kubernetes warm pool against the cold path, side by side in one run on
// the real e2e cluster (scripts/e2e-cluster): two servers with the
// executor's token-only kubeconfig, one with kubernetes.warmPool.size=4, one
// without; sequential print(1) alternating cold, warm, cold, warm, ..., each
// run started with the pool at rest (full, nothing starting), as a
// conversation's pauses leave it. Then the warm server alone, back to back,
// to show how the pool drains when runs come faster than pods start and
// what the refill's pod boots cost the runs they share the node with. Reports
// time to the first output byte and to Finished (client side), warm/cold
// ratios, claims and cold fallbacks, and the API requests per warm run on its
// own path (the pool's refill counted apart) from the executor's request
// counters.
//
//   build/bench/kube_warm --runs 20     (after `scripts/e2e-cluster up`)
//   build/bench/kube_warm --runs 20 --cpu_limit 2   (the quota's share)
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "bench/bench_stats.h"
#include "nlohmann/json.hpp"
#include "server/kube/permission_check.h"
#include "tests/e2e/cluster_access.h"
#include "tests/server_process.h"

ABSL_FLAG(int, runs, 20, "measured runs per side (and back to back)");
ABSL_FLAG(int, pool, 4, "kubernetes.warmPool.size of the warm server");
ABSL_FLAG(int, max_starting, 4, "kubernetes.warmPool.maxStarting");
ABSL_FLAG(std::string, cpu_limit, "",
          "limits.defaults.cpuLimit of both servers (default: the server's)");
ABSL_FLAG(std::string, json, "", "also write the figures here as JSON");

namespace {

using codeexec::e2e::Cluster;
using codeexec::testing::ServerProcess;

constexpr char kRole[] = "code-executor-bench-warm";

using codeexec::bench::Stats;
using codeexec::bench::Summarize;

double Metric(const ServerProcess& server, const std::string& sample) {
  auto page = codeexec::testing::ScrapeMetrics(server.metrics_port());
  if (!page.ok()) return 0;
  return codeexec::testing::MetricValue(*page, sample).value_or(0);
}

// Sum of codeexec_kube_requests_total over codes for `verb` `resource`.
double Requests(const ServerProcess& server, const std::string& resource,
                const std::string& verb) {
  double sum = 0;
  for (const char* code : {"101", "200", "201", "202", "error"}) {
    sum += Metric(server, absl::StrCat("codeexec_kube_requests_total{code=\"",
                                       code, "\",resource=\"", resource,
                                       "\",verb=\"", verb, "\"}"));
  }
  return sum;
}

// What the warm pool adds to the Role (RequiredPermissions, the one source),
// granted to the executor's ServiceAccount; an empty `verbs` removes it.
void Grant(const Cluster& cluster, bool granted) {
  cluster.Kubectl({"delete", "role,rolebinding", kRole, "-n", cluster.ns(),
                   "--ignore-not-found"});
  if (!granted) return;
  std::set<std::string> base;
  for (const auto& p : codeexec::kube::RequiredPermissions(false)) {
    base.insert(p.ToString());
  }
  std::vector<std::string> verbs;
  std::string resource;
  for (const auto& p : codeexec::kube::RequiredPermissions(true)) {
    if (base.contains(p.ToString())) continue;
    verbs.push_back(p.verb);
    resource = absl::StrCat(p.resource, "/", p.subresource);
  }
  cluster.Kubectl({"create", "role", kRole, "-n", cluster.ns(),
                   "--verb=" + absl::StrJoin(verbs, ","),
                   "--resource=" + resource});
  cluster.Kubectl(
      {"create", "rolebinding", kRole, "-n", cluster.ns(),
       absl::StrCat("--role=", kRole),
       absl::StrCat("--serviceaccount=", cluster.ns(), ":code-executor")});
}

struct Side {
  std::unique_ptr<ServerProcess> server;
  std::unique_ptr<codeexecutor::v1::CodeExecutor::Stub> stub;
  std::vector<double> first_byte, total;
};

// One print(1); false (with a message) if it failed.
bool RunOnce(Side& side, bool measure) {
  const absl::Time start = absl::Now();
  auto run = codeexec::testing::Execute(
      *side.stub, codeexec::testing::MakeRequest("print(1)"));
  if (!run.status.ok() || run.stdout_text != "1\n") {
    std::fprintf(stderr, "kube_warm: run failed: %s %s\n",
                 run.status.error_message().c_str(),
                 run.finished.message().c_str());
    return false;
  }
  const absl::Time finished = absl::Now();
  absl::Time first_byte = finished;
  for (size_t e = 0; e < run.events.size(); ++e) {
    if (run.events[e].has_output()) {
      first_byte = run.received_at[e];
      break;
    }
  }
  if (measure) {
    side.first_byte.push_back(absl::ToDoubleSeconds(first_byte - start));
    side.total.push_back(absl::ToDoubleSeconds(finished - start));
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  auto cluster = Cluster::FromEnvFile();
  if (!cluster.ok()) {
    std::fprintf(stderr, "kube_warm: %s\n",
                 std::string(cluster.status().message()).c_str());
    return 1;
  }
  Grant(*cluster, true);
  const int runs = absl::GetFlag(FLAGS_runs);
  const int pool = absl::GetFlag(FLAGS_pool);
  std::map<std::string, Side> sides;
  for (const std::string name : {"cold", "warm"}) {
    std::vector<std::string> args = cluster->ExecutorArgs();
    if (const std::string cpu = absl::GetFlag(FLAGS_cpu_limit); !cpu.empty()) {
      args.insert(args.end(),
                  {"--set", absl::StrCat("limits.defaults.cpuLimit=", cpu)});
    }
    if (name == "warm") {
      args.insert(
          args.end(),
          {"--set", absl::StrCat("kubernetes.warmPool.size=", pool), "--set",
           absl::StrCat("kubernetes.warmPool.maxStarting=",
                        absl::GetFlag(FLAGS_max_starting))});
    }
    // Two replicas: neither's janitor takes the other's pods for orphans.
    setenv("POD_NAME", absl::StrCat("kube-warm-", name).c_str(), 1);
    auto server = ServerProcess::Start(args);
    if (!server.ok()) {
      std::fprintf(stderr, "kube_warm: %s\n",
                   std::string(server.status().message()).c_str());
      Grant(*cluster, false);
      return 1;
    }
    sides[name].stub = (*server)->NewStub();
    sides[name].server = *std::move(server);
  }
  Side& cold = sides["cold"];
  Side& warm = sides["warm"];
  const std::string idle = "codeexec_warm_pool_idle{backend=\"kubernetes\"}";
  const absl::Time fill_deadline = absl::Now() + absl::Seconds(180);
  while (Metric(*warm.server, idle) < pool && absl::Now() < fill_deadline) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  bool ok = RunOnce(cold, false) && RunOnce(warm, false);  // warm-up
  const std::string claims_sample =
      "codeexec_warm_pool_claims_total{backend=\"kubernetes\"}";
  const double claims0 = Metric(*warm.server, claims_sample);
  const double deletes0 = Requests(*warm.server, "jobs", "delete");
  const double job_creates0 = Requests(*warm.server, "jobs", "create");
  const double attaches0 = Requests(*warm.server, "pods/attach", "create");
  const double configmaps0 = Requests(*warm.server, "configmaps", "create");
  const double watches0 = Requests(*warm.server, "pods", "watch");
  // Each run starts with the warm pool at rest (full, nothing starting):
  // on this 2-core node a refilling pod's boot would otherwise share the
  // CPU with whichever run is measured.
  const std::string starting =
      "codeexec_warm_pool_starting{backend=\"kubernetes\"}";
  auto at_rest = [&] {
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    while ((Metric(*warm.server, idle) < pool ||
            Metric(*warm.server, starting) > 0) &&
           absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(100));
    }
    absl::SleepFor(absl::Milliseconds(500));  // the last pod's attach
  };
  for (int i = 0; ok && i < runs; ++i) {
    at_rest();
    ok = RunOnce(cold, true);
    at_rest();
    ok = ok && RunOnce(warm, true);
  }
  const double claims = Metric(*warm.server, claims_sample) - claims0;
  const double deletes = Requests(*warm.server, "jobs", "delete") - deletes0;
  const double job_creates =
      Requests(*warm.server, "jobs", "create") - job_creates0;
  const double attaches =
      Requests(*warm.server, "pods/attach", "create") - attaches0;
  const double configmaps =
      Requests(*warm.server, "configmaps", "create") - configmaps0;
  const double watches = Requests(*warm.server, "pods", "watch") - watches0;
  std::string cold_reasons;
  for (const char* reason : {"shape", "empty", "dead"}) {
    const double n =
        Metric(*warm.server,
               absl::StrCat(
                   "codeexec_warm_pool_cold_runs_total{backend=\"kubernetes\","
                   "reason=\"",
                   reason, "\"}"));
    if (n > 0) absl::StrAppend(&cold_reasons, " ", reason, "=", n);
  }
  const double start_failures =
      Metric(*warm.server,
             "codeexec_warm_pool_start_failures_total{backend=\"kubernetes\"}");
  // Back to back on the warm server alone, the pool full at the start.
  Side burst;
  burst.stub = warm.server->NewStub();
  while (Metric(*warm.server, idle) < pool &&
         absl::Now() < fill_deadline + absl::Seconds(180)) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  const double burst_claims0 = Metric(*warm.server, claims_sample);
  for (int i = 0; ok && i < runs; ++i) ok = RunOnce(burst, true);
  const double burst_claims =
      Metric(*warm.server, claims_sample) - burst_claims0;
  // Stop both servers (their pools and objects go with them); keep the
  // figures.
  burst.stub.reset();
  for (auto& [name, side] : sides) {
    side.stub.reset();
    side.server.reset();
  }
  Grant(*cluster, false);
  if (!ok) return 1;

  nlohmann::json figures;
  std::printf(
      "print(1) on the e2e cluster, %d runs each, alternating, the pool at "
      "rest:\n",
      runs);
  for (auto [name, side] :
       {std::pair<const char*, Side*>{"cold", &cold}, {"warm", &warm}}) {
    const Stats first = Summarize(side->first_byte);
    const Stats total = Summarize(side->total);
    std::printf(
        "  %-5s first output byte median %.3f s p95 %.3f s; Finished median "
        "%.3f s p95 %.3f s\n",
        name, first.median, first.p95, total.median, total.p95);
    figures[name] = {{"first_byte_median_s", first.median},
                     {"first_byte_p95_s", first.p95},
                     {"total_median_s", total.median},
                     {"total_p95_s", total.p95}};
  }
  const double ratio =
      Summarize(warm.first_byte).median / Summarize(cold.first_byte).median;
  std::printf("  warm/cold first byte (medians): %.2f\n", ratio);
  std::printf(
      "  warm server: %g of %d runs warm; per warm run on its path: %.2f "
      "API requests (delete jobs), %.2f ConfigMap creates; refill per warm "
      "run: %.2f Job creates + %.2f attaches; pod watches opened: %g\n",
      claims, runs, claims > 0 ? deletes / claims : 0,
      claims > 0 ? configmaps / claims : 0,
      claims > 0 ? job_creates / claims : 0, claims > 0 ? attaches / claims : 0,
      watches);
  std::printf(
      "  warm server's cold runs (warm-up included):%s; start failures: %g\n",
      cold_reasons.empty() ? " none" : cold_reasons.c_str(), start_failures);
  const Stats burst_first = Summarize(burst.first_byte);
  std::printf(
      "back to back on the warm server (pool %d): %g of %d runs warm; first "
      "output byte median %.3f s p95 %.3f s\n",
      pool, burst_claims, runs, burst_first.median, burst_first.p95);
  figures["warm_over_cold_first_byte"] = ratio;
  figures["warm_claims"] = claims;
  figures["requests_per_warm_run_on_path"] = claims > 0 ? deletes / claims : 0;
  figures["configmap_creates_per_warm_run"] =
      claims > 0 ? configmaps / claims : 0;
  figures["refill_job_creates_per_warm_run"] =
      claims > 0 ? job_creates / claims : 0;
  figures["refill_attaches_per_warm_run"] = claims > 0 ? attaches / claims : 0;
  figures["watches_opened"] = watches;
  figures["back_to_back"] = {{"claims", burst_claims},
                             {"first_byte_median_s", burst_first.median},
                             {"first_byte_p95_s", burst_first.p95}};
  if (const std::string path = absl::GetFlag(FLAGS_json); !path.empty()) {
    std::FILE* out = std::fopen(path.c_str(), "w");
    if (out != nullptr) {
      std::fprintf(out, "%s\n", figures.dump(2).c_str());
      std::fclose(out);
    }
  }
  return 0;
}
