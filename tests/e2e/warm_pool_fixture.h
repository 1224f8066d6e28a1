// The fixture of the end-to-end tests of the kubernetes warm pool and of
// sessions (which run in its pods): the real cluster (scripts/e2e-cluster),
// the executor's ServiceAccount given what the warm pool adds to
// RequiredPermissions() (the chart's Role does this when
// kubernetes.warmPool.size > 0), and a real server whose pool is full.
// TearDown asserts that none of our objects is left.
#ifndef CODEEXEC_TESTS_E2E_WARM_POOL_FIXTURE_H_
#define CODEEXEC_TESTS_E2E_WARM_POOL_FIXTURE_H_

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "server/kube/permission_check.h"
#include "tests/e2e/cluster_access.h"
#include "tests/integrity_checks.h"
#include "tests/server_process.h"

namespace codeexec::e2e {

using ::codeexec::testing::ServerProcess;

inline constexpr int kPoolSize = 2;
inline constexpr char kWarmRole[] = "code-executor-warm-pool";

inline double Metric(const ServerProcess& server, const std::string& sample) {
  absl::StatusOr<std::string> page =
      codeexec::testing::ScrapeMetrics(server.metrics_port());
  if (!page.ok()) return -1;
  return codeexec::testing::MetricValue(*page, sample).value_or(0);
}

inline std::string Claims() {
  return "codeexec_warm_pool_claims_total{backend=\"kubernetes\"}";
}
inline std::string Requests(const std::string& resource,
                            const std::string& verb, const std::string& code) {
  return absl::StrCat("codeexec_kube_requests_total{code=\"", code,
                      "\",resource=\"", resource, "\",verb=\"", verb, "\"}");
}

class E2eWarmPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cluster = Cluster::FromEnvFile();
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::make_unique<Cluster>(std::move(*cluster));
  }
  void TearDown() override {
    server_.reset();
    if (cluster_ == nullptr) return;
    absl::Status none_left = cluster_->WaitNoneLeft(absl::Seconds(60));
    EXPECT_TRUE(none_left.ok()) << none_left;
    SetAttachRights(false);
  }

  // A Role with what the warm pool adds to RequiredPermissions(), bound to
  // the executor's ServiceAccount (the chart's Role does this when
  // kubernetes.warmPool.size > 0).
  void SetAttachRights(bool granted) {
    cluster_->Kubectl({"delete", "role,rolebinding", kWarmRole, "-n",
                       cluster_->ns(), "--ignore-not-found"});
    if (!granted) return;
    std::set<std::string> base;
    for (const kube::Permission& p : kube::RequiredPermissions(false)) {
      base.insert(p.ToString());
    }
    std::vector<std::string> verbs;
    std::string resource;
    for (const kube::Permission& p : kube::RequiredPermissions(true)) {
      if (base.contains(p.ToString())) continue;
      verbs.push_back(p.verb);
      resource = absl::StrCat(p.resource, "/", p.subresource);
    }
    ASSERT_FALSE(verbs.empty());
    CommandResult role =
        cluster_->Kubectl({"create", "role", kWarmRole, "-n", cluster_->ns(),
                           absl::StrCat("--verb=", absl::StrJoin(verbs, ",")),
                           absl::StrCat("--resource=", resource)});
    ASSERT_EQ(role.exit_code, 0) << role.err;
    CommandResult binding = cluster_->Kubectl(
        {"create", "rolebinding", kWarmRole, "-n", cluster_->ns(),
         absl::StrCat("--role=", kWarmRole),
         absl::StrCat("--serviceaccount=", cluster_->ns(), ":code-executor")});
    ASSERT_EQ(binding.exit_code, 0) << binding.err;
  }

  // A server with the pool, once the pool is full.
  void StartServer() {
    SetAttachRights(true);
    std::vector<std::string> args = cluster_->ExecutorArgs();
    args.insert(args.end(),
                {"--set", absl::StrCat("kubernetes.warmPool.size=", kPoolSize),
                 "--set", "kubernetes.warmPool.maxStarting=2"});
    auto server = ServerProcess::Start(args);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    stub_ = server_->NewStub();
    ASSERT_TRUE(WaitForIdle(kPoolSize)) << server_->Log();
  }
  bool WaitForIdle(int idle) {
    const absl::Time deadline = absl::Now() + absl::Seconds(120);
    while (absl::Now() < deadline) {
      if (Metric(*server_, "codeexec_warm_pool_idle{backend=\"kubernetes\"}") >=
          idle) {
        return true;
      }
      absl::SleepFor(absl::Milliseconds(100));
    }
    return false;
  }

  std::unique_ptr<Cluster> cluster_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<codeexecutor::v1::CodeExecutor::Stub> stub_;
};

}  // namespace codeexec::e2e

#endif  // CODEEXEC_TESTS_E2E_WARM_POOL_FIXTURE_H_
