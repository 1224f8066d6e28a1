// Every manifest the project ships is accepted by a real kube-apiserver:
// `kubectl apply --dry-run=server` (admission, schema validation, defaulting;
// nothing is stored) on k8s/ and on the Helm chart's rendered output, with its
// default values and with every toggle on.
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/cluster_access.h"

namespace codeexec::e2e {
namespace {

const std::string kSource = CODE_EXECUTOR_SOURCE_DIR;

class E2eManifestsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cluster = Cluster::FromEnvFile();
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::move(*cluster);
    absl::StatusOr<std::string> helm = HelmPath(kSource);
    ASSERT_TRUE(helm.ok()) << helm.status();
    helm_ = *helm;
  }
  // `helm template` of the chart (plus `values_args`), without the kinds
  // this cluster has no API for.
  std::string RenderChart(const std::vector<std::string>& values_args,
                          std::vector<std::string>& dropped) {
    std::vector<std::string> argv = {
        helm_,           "template",
        "code-executor", kSource + "/charts/code-executor",
        "--namespace",   cluster_.ns()};
    argv.insert(argv.end(), values_args.begin(), values_args.end());
    CommandResult rendered = RunCommand(argv);
    EXPECT_EQ(rendered.exit_code, 0) << rendered.err;
    std::vector<std::string> kept;
    for (absl::string_view doc : absl::StrSplit(rendered.out, "\n---")) {
      // ServiceMonitor is a Prometheus Operator CRD, not installed here.
      if (absl::StrContains(doc, "\nkind: ServiceMonitor")) {
        dropped.push_back("ServiceMonitor");
        continue;
      }
      kept.push_back(std::string(doc));
    }
    return absl::StrJoin(kept, "\n---");
  }
  void ExpectServerDryRunAccepts(const std::vector<std::string>& args,
                                 const std::string& input,
                                 size_t minimum_objects) {
    std::vector<std::string> argv = {"apply", "--dry-run=server"};
    argv.insert(argv.end(), args.begin(), args.end());
    CommandResult applied = cluster_.Kubectl(argv, input);
    EXPECT_EQ(applied.exit_code, 0) << applied.err;
    const std::vector<std::string> lines =
        absl::StrSplit(applied.out, '\n', absl::SkipEmpty());
    EXPECT_GE(lines.size(), minimum_objects) << applied.out;
    for (const std::string& line : lines) {
      EXPECT_THAT(line, ::testing::HasSubstr("(server dry run)"));
    }
    std::printf("%s", applied.out.c_str());
  }

  Cluster cluster_;
  std::string helm_;
};

TEST_F(E2eManifestsTest, PlainManifestsInK8sDir) {
  // namespace, serviceaccount, role + binding, configmap, deployment,
  // service, 2 networkpolicies, pdb.
  ExpectServerDryRunAccepts({"-k", kSource + "/k8s"}, "", 10);
}

TEST_F(E2eManifestsTest, ChartWithDefaultValues) {
  std::vector<std::string> dropped;
  const std::string manifests = RenderChart({}, dropped);
  EXPECT_THAT(dropped, ::testing::IsEmpty());
  ExpectServerDryRunAccepts({"-f", "-"}, manifests, 9);
}

TEST_F(E2eManifestsTest, ChartWithEveryToggleOn) {
  std::vector<std::string> dropped;
  const std::string manifests = RenderChart(
      {"-f", kSource + "/tests/deploy/all-toggles.values.yaml"}, dropped);
  EXPECT_THAT(dropped, ::testing::ElementsAre("ServiceMonitor"));
  // The defaults' objects plus HPA.
  ExpectServerDryRunAccepts({"-f", "-"}, manifests, 10);
}

}  // namespace
}  // namespace codeexec::e2e
