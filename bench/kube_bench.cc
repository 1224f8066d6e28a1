// Control-plane cost of the kubernetes backend, measured through the whole
// service against the fake kube-apiserver whose pods finish at once:
// API requests per execution by verb and resource, watch connections opened
// per execution, and executions/s with N calls in flight. With a warm pool
// (--warm_pool N) also how many calls ran warm and cold, that the pool
// refills, and that nothing is left once the server stops.
//
//   kube_bench --executions 640 --inflight 64 [--warm_pool 8]
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"
#include "tests/fake_kube/fake_kube_apiserver.h"
#include "tests/server_process.h"

ABSL_FLAG(int, executions, 640, "executions in all");
ABSL_FLAG(int, inflight, 64, "calls in flight at once");
ABSL_FLAG(int, warm_pool, 0, "kubernetes.warmPool.size (0: no pool)");

namespace {

double Sample(const codeexec::testing::ServerProcess& server,
              const std::string& sample) {
  absl::StatusOr<std::string> page =
      codeexec::testing::ScrapeMetrics(server.metrics_port());
  if (!page.ok()) return -1;
  return codeexec::testing::MetricValue(*page, sample).value_or(0);
}

constexpr char kIdle[] = "codeexec_warm_pool_idle{backend=\"kubernetes\"}";

// Until the pool holds `idle` ready pods (or 60 s).
bool WaitForIdle(const codeexec::testing::ServerProcess& server, int idle) {
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (absl::Now() < deadline) {
    if (Sample(server, kIdle) >= idle) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  using namespace codeexec;
  const int executions = absl::GetFlag(FLAGS_executions);
  const int inflight = absl::GetFlag(FLAGS_inflight);
  const int warm_pool = absl::GetFlag(FLAGS_warm_pool);

  fake_kube::FakeKubeOptions fake_options;
  fake_options.kubelet.mode = fake_kube::KubeletMode::kInstant;
  fake_options.kubelet.instant_log = "@ce1 o MQo=\n@ce1 x 0\n";  // "1\n"
  auto fake = fake_kube::FakeKubeApiServer::Start(fake_options);
  if (!fake.ok()) {
    std::fprintf(stderr, "fake: %s\n",
                 std::string(fake.status().message()).c_str());
    return 1;
  }
  const std::string kubeconfig = absl::StrCat("/tmp/kube-bench-", getpid());
  std::ofstream(kubeconfig) << absl::StrCat(
      "apiVersion: v1\nkind: Config\nclusters:\n- name: f\n  cluster: {server: "
      "\"",
      (*fake)->url(),
      "\"}\nusers:\n- name: u\n  user: {token: t}\ncontexts:\n- name: f\n"
      "  context: {cluster: f, user: u}\ncurrent-context: f\n");
  std::vector<std::string> args = {
      "--backend=kubernetes",
      "--set",
      absl::StrCat("kubernetes.kubeconfigPath=", kubeconfig),
      "--set",
      "kubernetes.namespace=bench",
      "--set",
      "kubernetes.qps=100000",
      "--set",
      "kubernetes.burst=100000",
      absl::StrCat("--workers=", inflight),
      absl::StrCat("--queue_size=", executions)};
  if (warm_pool > 0) {
    args.insert(args.end(),
                {"--set", absl::StrCat("kubernetes.warmPool.size=", warm_pool),
                 "--set", "kubernetes.warmPool.maxStarting=16"});
  }
  auto server = testing::ServerProcess::Start(args);
  if (!server.ok()) {
    std::fprintf(stderr, "server: %s\n",
                 std::string(server.status().message()).c_str());
    return 1;
  }
  // Warm up, then count only the measured executions.
  auto warm_stub = (*server)->NewStub();
  testing::Execute(*warm_stub, testing::MakeRequest("print(1)"));
  if (warm_pool > 0 && !WaitForIdle(**server, warm_pool)) {
    std::fprintf(stderr, "the pool did not fill: %s\n",
                 (*server)->Log().c_str());
    return 1;
  }
  const double claims_before = Sample(
      **server, "codeexec_warm_pool_claims_total{backend=\"kubernetes\"}");
  (*fake)->ResetCounters();
  const int64_t watches_before = (*fake)->WatchConnectionsOpened();

  std::atomic<int> next{0}, failures{0};
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int t = 0; t < inflight; ++t) {
    threads.emplace_back([&] {
      auto stub = (*server)->NewStub();
      while (next.fetch_add(1) < executions) {
        auto run = testing::Execute(*stub, testing::MakeRequest("print(1)"));
        if (!run.status.ok() || run.stdout_text != "1\n") failures++;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);

  nlohmann::json per_execution = nlohmann::json::object();
  int64_t total = 0;
  for (const auto& [key, count] : (*fake)->RequestCounts()) {
    per_execution[key.first + " " + key.second] =
        static_cast<double>(count) / executions;
    total += count;
  }
  const double watches =
      static_cast<double>((*fake)->WatchConnectionsOpened() - watches_before) /
      executions;
  std::printf("executions %d, in flight %d, failures %d\n", executions,
              inflight, failures.load());
  std::printf("API requests per execution: %.2f in all\n",
              static_cast<double>(total) / executions);
  for (const auto& [name, value] : per_execution.items()) {
    std::printf("  %-22s %.2f\n", name.c_str(), value.get<double>());
  }
  std::printf("watch connections opened per execution: %.3f\n", watches);
  std::printf("throughput: %.1f executions/s\n", executions / seconds);
  double warm = 0;
  bool refilled = true;
  int left = 0;
  if (warm_pool > 0) {
    warm = Sample(**server,
                  "codeexec_warm_pool_claims_total{backend=\"kubernetes\"}") -
           claims_before;
    refilled = WaitForIdle(**server, warm_pool);
    std::printf("warm pool %d: %.0f warm, %.0f cold; refilled to %d: %s\n",
                warm_pool, warm, executions - warm, warm_pool,
                refilled ? "yes" : "NO");
  }
  nlohmann::json summary = {
      {"executions", executions},
      {"inflight", inflight},
      {"failures", failures.load()},
      {"requests_per_execution", per_execution},
      {"requests_per_execution_total", static_cast<double>(total) / executions},
      {"watch_connections_per_execution", watches},
      {"executions_per_second", executions / seconds}};
  server->reset();  // SIGTERM: the server deletes its pool
  for (const char* resource : {"jobs", "pods", "configmaps"}) {
    left += static_cast<int>((*fake)->ObjectNames(resource, "bench").size());
  }
  std::printf("objects left after the server stopped: %d\n", left);
  if (warm_pool > 0) {
    summary["warm_pool"] = warm_pool;
    summary["warm_executions"] = warm;
    summary["pool_refilled"] = refilled;
  }
  summary["objects_left"] = left;
  std::printf("%s\n", summary.dump().c_str());
  (*fake)->Stop();
  std::remove(kubeconfig.c_str());
  return failures.load() == 0 && refilled && left == 0 ? 0 : 1;
}
