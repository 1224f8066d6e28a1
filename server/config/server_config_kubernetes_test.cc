// The `kubernetes:` section and `server.backend: kubernetes`: values that
// parse (errors are in server_config_kubernetes_errors_test.cc).
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/config/server_config.h"
#include "server/config/server_config_test_util.h"
#include "server/kube/kube_options.h"

namespace codeexec {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

constexpr char kHeader[] = "apiVersion: codeexecutor/v1\nkind: ServerConfig\n";

absl::StatusOr<ServerConfig> Parse(const std::string& yaml,
                                   const std::vector<std::string>& overrides) {
  return ParseServerConfig(kHeader + yaml, overrides);
}

TEST(KubernetesConfigTest, DefaultsAreThoseOfKubernetesOptions) {
  ExpectSameKubernetes(DefaultServerConfig().kubernetes,
                       kube::KubernetesOptions());
  EXPECT_TRUE(DefaultServerConfig().kubernetes.tolerations.empty());
}

TEST(KubernetesConfigTest, BackendKubernetesIsAccepted) {
  absl::StatusOr<ServerConfig> config =
      Parse("server:\n  backend: kubernetes\n", {});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server.backend, "kubernetes");
  ExpectSameKubernetes(config->kubernetes, kube::KubernetesOptions());

  // As the --backend flag sets it.
  config = ParseServerConfig("", {"server.backend=kubernetes"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server.backend, "kubernetes");
}

TEST(KubernetesConfigTest, SectionIsReadWithEitherBackend) {
  absl::StatusOr<ServerConfig> config =
      Parse("server:\n  backend: gvisor-local\nkubernetes:\n  burst: 7\n", {});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->kubernetes.burst, 7);
}

constexpr char kFullSection[] = R"yaml(
server:
  backend: kubernetes
kubernetes:
  namespace: code-exec
  kubeconfigPath: /etc/kube/config
  kubeconfigContext: gke_project_zone_cluster
  defaultImage: "python:3.12-slim"
  imagePullPolicy: Always
  imagePullSecrets: [regcred, mirror.example.com]
  runtimeClassName: ""
  nodeSelector:
    cloud.google.com/gke-nodepool: sandbox
    disk: ""
  tolerations:
    - key: dedicated
      operator: Equal
      value: sandbox
      effect: NoSchedule
    - {key: example.com/spot, operator: Exists}
    - {operator: Exists, effect: NoExecute}
    - {key: pool, value: a, effect: PreferNoSchedule}
    - {key: Node.Kind_2, value: ""}
  runAsUser: 2000
  runAsGroup: 0
  workspaceSize: 256Mi
  tmpSize: 32Mi
  ephemeralStorage: 1Gi
  ttlAfterFinished: 10m
  scheduleTimeout: 45s
  qps: 2.5
  burst: 5
  requestTimeout: 1m
  janitorInterval: 2m30s
)yaml";

TEST(KubernetesConfigTest, FullSectionSetsEveryField) {
  absl::StatusOr<ServerConfig> parsed = Parse(kFullSection, {});
  ASSERT_TRUE(parsed.ok()) << parsed.status();

  ServerConfig expected = DefaultServerConfig();
  expected.server.backend = "kubernetes";
  kube::KubernetesOptions& kubernetes = expected.kubernetes;
  kubernetes.namespace_name = "code-exec";
  kubernetes.kubeconfig_path = "/etc/kube/config";
  kubernetes.kubeconfig_context = "gke_project_zone_cluster";
  kubernetes.default_image = "python:3.12-slim";
  kubernetes.image_pull_policy = "Always";
  kubernetes.image_pull_secrets = {"regcred", "mirror.example.com"};
  kubernetes.runtime_class_name = "";
  kubernetes.node_selector = {{"cloud.google.com/gke-nodepool", "sandbox"},
                              {"disk", ""}};
  // An absent operator is Equal, as in the API.
  kubernetes.tolerations = {
      {"dedicated", "Equal", "sandbox", "NoSchedule"},
      {"example.com/spot", "Exists", "", ""},
      {"", "Exists", "", "NoExecute"},
      {"pool", "Equal", "a", "PreferNoSchedule"},
      {"Node.Kind_2", "Equal", "", ""},
  };
  kubernetes.run_as_user = 2000;
  kubernetes.run_as_group = 0;
  kubernetes.workspace_bytes = 256 << 20;
  kubernetes.tmp_bytes = 32 << 20;
  kubernetes.ephemeral_storage_bytes = 1 << 30;
  kubernetes.ttl_after_finished = absl::Minutes(10);
  kubernetes.schedule_timeout = absl::Seconds(45);
  kubernetes.qps = 2.5;
  kubernetes.burst = 5;
  kubernetes.request_timeout = absl::Minutes(1);
  kubernetes.janitor_interval = absl::Seconds(150);
  ExpectSameConfig(*parsed, expected);
}

TEST(KubernetesConfigTest, NullSectionAndNullListsReadAsEmpty) {
  absl::StatusOr<ServerConfig> config = Parse("kubernetes:\n", {});
  ASSERT_TRUE(config.ok()) << config.status();
  ExpectSameConfig(*config, DefaultServerConfig());

  config = Parse(
      "kubernetes:\n  imagePullSecrets:\n  nodeSelector:\n  tolerations:\n",
      {"kubernetes.imagePullSecrets=[a]", "kubernetes.imagePullSecrets=~"});
  ASSERT_TRUE(config.ok()) << config.status();
  ExpectSameConfig(*config, DefaultServerConfig());

  config = Parse("kubernetes:\n  tolerations: []\n  nodeSelector: {}\n", {});
  ASSERT_TRUE(config.ok()) << config.status();
  ExpectSameConfig(*config, DefaultServerConfig());
}

TEST(KubernetesConfigTest, QpsIsAnyPositiveNumber) {
  for (const auto& [text, qps] : std::vector<std::pair<std::string, double>>{
           {"7", 7}, {"0.5", 0.5}, {".25", 0.25}, {"1e2", 100}, {"+3", 3}}) {
    absl::StatusOr<ServerConfig> config =
        Parse("kubernetes:\n  qps: " + text + "\n", {});
    ASSERT_TRUE(config.ok()) << text << ": " << config.status();
    EXPECT_EQ(config->kubernetes.qps, qps) << text;
  }
}

TEST(KubernetesConfigTest, NamesAtTheirLimitsAreValid) {
  const std::string label63(63, 'a');
  const std::string subdomain253 =
      label63 + "." + label63 + "." + label63 + "." + std::string(61, 'b');
  ASSERT_EQ(subdomain253.size(), 253u);
  absl::StatusOr<ServerConfig> config = ParseServerConfig(
      "",
      {"kubernetes.namespace=" + label63,
       "kubernetes.runtimeClassName=" + subdomain253,
       "kubernetes.imagePullSecrets=[" + subdomain253 + ", x]",
       "kubernetes.nodeSelector={" + subdomain253 + "/" + label63 + ": " +
           std::string(63, 'V') + "}",
       "kubernetes.runAsUser=2147483647", "kubernetes.runAsGroup=2147483647"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->kubernetes.namespace_name, label63);
  EXPECT_EQ(config->kubernetes.runtime_class_name, subdomain253);
  EXPECT_THAT(config->kubernetes.image_pull_secrets,
              ElementsAre(subdomain253, "x"));
  EXPECT_THAT(
      config->kubernetes.node_selector,
      ElementsAre(Pair(subdomain253 + "/" + label63, std::string(63, 'V'))));
  EXPECT_EQ(config->kubernetes.run_as_user, 2147483647);
}

TEST(KubernetesConfigTest, OverridesSetKubernetesKeys) {
  absl::StatusOr<ServerConfig> config = ParseServerConfig(
      "", {"kubernetes.namespace=sandbox", "kubernetes.nodeSelector.pool=sb",
           "kubernetes.tolerations=[{key: pool, operator: Exists}]",
           "kubernetes.qps=12.5", "kubernetes.scheduleTimeout=5m",
           StringOverride("kubernetes.kubeconfigPath", "/k/config: x")});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->kubernetes.namespace_name, "sandbox");
  EXPECT_THAT(config->kubernetes.node_selector,
              ElementsAre(Pair("pool", "sb")));
  ASSERT_EQ(config->kubernetes.tolerations.size(), 1u);
  EXPECT_EQ(config->kubernetes.tolerations[0].key, "pool");
  EXPECT_EQ(config->kubernetes.tolerations[0].op, "Exists");
  EXPECT_EQ(config->kubernetes.qps, 12.5);
  EXPECT_EQ(config->kubernetes.schedule_timeout, absl::Minutes(5));
  EXPECT_EQ(config->kubernetes.kubeconfig_path, "/k/config: x");
}

TEST(KubernetesConfigTest, OverriddenTolerationsReplaceTheFiles) {
  absl::StatusOr<ServerConfig> config =
      Parse("kubernetes:\n  tolerations:\n    - {key: a, operator: Exists}\n",
            {"kubernetes.tolerations=[{key: b, value: c}]"});
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->kubernetes.tolerations.size(), 1u);
  EXPECT_EQ(config->kubernetes.tolerations[0].key, "b");
  EXPECT_EQ(config->kubernetes.tolerations[0].op, "Equal");
  EXPECT_EQ(config->kubernetes.tolerations[0].value, "c");
}

TEST(KubernetesConfigTest, ValidateServerConfigChecksCodeChanges) {
  ServerConfig config = DefaultServerConfig();
  config.server.backend = "kubernetes";
  EXPECT_TRUE(ValidateServerConfig(config).ok());
  config.kubernetes.tolerations.push_back({"a", "", "", ""});
  EXPECT_EQ(std::string(ValidateServerConfig(config).message()),
            "kubernetes.tolerations[0].operator: must be \"Equal\" or "
            "\"Exists\", got \"\"");
  config.kubernetes.tolerations.clear();
  config.kubernetes.qps = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(std::string(ValidateServerConfig(config).message()),
            "kubernetes.qps: must be a finite number greater than zero, got "
            "nan");
}

}  // namespace
}  // namespace codeexec
