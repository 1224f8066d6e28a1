// The executor's own API token rotates under it without a failed run: the
// chart installed with serviceAccount.tokenExpirationSeconds 600 (the
// shortest TokenRequest allows), so the kubelet renews the projected token
// after 480 s and the first token is dead at 600 s; an agent pod calls every
// 55 s for longer than that. Each run needs the API (ConfigMap, Job, pod log,
// deletes), so every run after 600 s proves the renewed token was used; the
// API server's audit log shows the credentials the executor pod presented.
//
// Its own release, namespaces and ServiceAccounts (nothing in agent-sandbox),
// so it runs beside the other e2e tests rather than holding the cluster for
// its 11 minutes.
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/cluster_access.h"
#include "tests/e2e/in_cluster_release.h"
#include "tests/integrity_checks.h"

namespace codeexec::e2e {
namespace {

using ::codeexec::testing::Sha256Hex;
using ::testing::SizeIs;

const std::string kSource = CODE_EXECUTOR_SOURCE_DIR;
constexpr int kTokenSeconds = 600;

ReleasePlacement RotationPlacement() {
  const std::string agents = "e2e-rotation-agents";
  return {.release = "code-executor-rotation",
          .ns = "e2e-rotation",
          .agent_ns = agents,
          .set = {absl::StrCat("serviceAccount.tokenExpirationSeconds=",
                               kTokenSeconds),
                  "replicaCount=1", "pdb.enabled=false",
                  absl::StrCat("config.server.auth.allowedIdentities={"
                               "system:serviceaccount:",
                               agents, ":adk-agent}"),
                  absl::StrCat("networkPolicy.clients.namespaceSelector."
                               "matchLabels.kubernetes\\.io/"
                               "metadata\\.name=",
                               agents)}};
}

TEST(E2eTokenRotationTest, TheExecutorsTokenIsRenewedWithoutAFailedRun) {
  auto cluster = Cluster::FromEnvFile();
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  absl::StatusOr<std::string> helm = HelmPath(kSource);
  ASSERT_TRUE(helm.ok()) << helm.status();
  InClusterRelease release(*cluster, kSource, *helm, RotationPlacement());
  ASSERT_TRUE(release.PrepareAgents().ok());
  const absl::Time installed_at = absl::Now();
  absl::StatusOr<absl::Duration> took = release.Install();
  ASSERT_TRUE(took.ok()) << took.status();
  absl::StatusOr<std::vector<std::string>> pods = release.ReadyPods();
  ASSERT_TRUE(pods.ok()) << pods.status();
  ASSERT_THAT(*pods, SizeIs(1));

  // 12 calls 55 s apart: the last ones well after the first token's end.
  ASSERT_TRUE(release
                  .StartAgent({.pod_name = "agent-every-55s",
                               .account = "adk-agent",
                               .audience = "code-executor",
                               .code = "print('ok')",
                               .repeat = 12,
                               .interval_seconds = 55})
                  .ok());
  absl::StatusOr<nlohmann::json> report =
      release.AwaitAgent("agent-every-55s", absl::Minutes(16));
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_THAT((*report)["runs"], SizeIs(12)) << *report;
  double last_start = 0;
  for (const auto& run : (*report)["runs"]) {
    EXPECT_EQ(run.value("exit_code", -1), 0) << run;
    EXPECT_EQ(run.value("stdout_sha256", ""), Sha256Hex("ok\n")) << run;
    last_start = run.value("started_at", 0.0);
  }
  EXPECT_GT(last_start,
            absl::ToDoubleSeconds(installed_at - absl::UnixEpoch()) +
                kTokenSeconds + 10);

  // The executor pod presented more than one token (each has its own
  // credential id).
  const std::string user = absl::StrCat("system:serviceaccount:", release.ns(),
                                        ":", release.release());
  std::set<std::string> credentials;
  for (const char* resource : {"configmaps", "jobs", "pods", "tokenreviews"}) {
    for (const char* verb : {"create", "get", "list", "delete"}) {
      for (const auto& event :
           release.AuditEvents(verb, resource, installed_at)) {
        if (event.value("/user/username"_json_pointer, std::string()) != user) {
          continue;
        }
        const auto& extra =
            event["user"].value("extra", nlohmann::json::object());
        for (const auto& id :
             extra.value("authentication.kubernetes.io/credential-id",
                         nlohmann::json::array())) {
          credentials.insert(id.get<std::string>());
        }
      }
    }
  }
  std::cerr << "executor credentials seen: " << credentials.size() << "\n";
  EXPECT_GE(credentials.size(), 2u);

  EXPECT_TRUE(release.Uninstall().ok());
  release.RemoveAgents();
}

}  // namespace
}  // namespace codeexec::e2e
