// Every error of the `kubernetes:` section, with the exact message (which
// starts with the key path).
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/config/server_config.h"

namespace codeexec {
namespace {

constexpr char kHeader[] =
    "apiVersion: codeexecutor/v1\nkind: ServerConfig\nkubernetes:\n";

constexpr char kLabelRule[] =
    "at most 63 lowercase letters, digits or '-', starting and ending with a "
    "letter or digit";
constexpr char kSubdomainRule[] =
    "'.'-separated parts of lowercase letters, digits or '-', each starting "
    "and ending with a letter or digit; at most 253 characters";
constexpr char kLabelKeyRule[] =
    "[prefix/]name: the name at most 63 letters, digits, '-', '_' or '.', "
    "starting and ending with a letter or digit; the prefix a DNS-1123 "
    "subdomain";
constexpr char kLabelValueRule[] =
    "empty, or at most 63 letters, digits, '-', '_' or '.', starting and "
    "ending with a letter or digit";

struct ErrorCase {
  std::string name;
  std::string yaml;  // the body of the `kubernetes:` section
  std::string message;
};

std::string CaseName(const testing::TestParamInfo<ErrorCase>& info) {
  return info.param.name;
}

class KubernetesConfigErrorTest : public testing::TestWithParam<ErrorCase> {};

TEST_P(KubernetesConfigErrorTest, FailsWithKeyPath) {
  const ErrorCase& test_case = GetParam();
  const std::string text = kHeader + test_case.yaml;
  absl::StatusOr<ServerConfig> config = ParseServerConfig(text, {});
  ASSERT_FALSE(config.ok()) << text;
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(config.status().message()), test_case.message);
}

TEST(KubernetesSectionErrorTest, SectionMustBeAMapping) {
  absl::StatusOr<ServerConfig> config = ParseServerConfig(
      "apiVersion: codeexecutor/v1\nkind: ServerConfig\nkubernetes: [a]\n", {});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(std::string(config.status().message()),
            "kubernetes: expected a mapping, got a list");
}

INSTANTIATE_TEST_SUITE_P(
    Types, KubernetesConfigErrorTest,
    testing::Values(
        ErrorCase{"UnknownKey", "  kubeConfigPath: /k\n",
                  "kubernetes.kubeConfigPath: unknown key (did you mean "
                  "kubeconfigPath?)"},
        ErrorCase{"NamespaceNotAString", "  namespace: {a: b}\n",
                  "kubernetes.namespace: expected a string, got a mapping"},
        ErrorCase{"PullSecretsScalar", "  imagePullSecrets: regcred\n",
                  "kubernetes.imagePullSecrets: expected a list of strings, "
                  "got \"regcred\""},
        ErrorCase{"PullSecretNotAString", "  imagePullSecrets: [a, {b: c}]\n",
                  "kubernetes.imagePullSecrets[1]: expected a string, got a "
                  "mapping"},
        ErrorCase{"NodeSelectorList", "  nodeSelector: [a]\n",
                  "kubernetes.nodeSelector: expected a mapping, got a list"},
        ErrorCase{"NodeSelectorValue", "  nodeSelector:\n    pool: [a]\n",
                  "kubernetes.nodeSelector.pool: expected a string, got a "
                  "list"},
        ErrorCase{"RunAsUserText", "  runAsUser: root\n",
                  "kubernetes.runAsUser: expected an integer, got \"root\""},
        ErrorCase{"BurstFraction", "  burst: 1.5\n",
                  "kubernetes.burst: expected an integer, got \"1.5\""},
        ErrorCase{"BurstOverflow", "  burst: 4294967296\n",
                  "kubernetes.burst: must be between -2147483648 and "
                  "2147483647, got 4294967296"},
        ErrorCase{"QpsText", "  qps: fast\n",
                  "kubernetes.qps: expected a number, got \"fast\""},
        ErrorCase{"QpsNull", "  qps:\n",
                  "kubernetes.qps: expected a number, got null"},
        ErrorCase{"QpsWithUnit", "  qps: 5/s\n",
                  "kubernetes.qps: expected a number, got \"5/s\""},
        ErrorCase{"QpsPadded", "  qps: \" 5\"\n",
                  "kubernetes.qps: expected a number, got \" 5\""},
        ErrorCase{"QpsOverflow", "  qps: 1e999\n",
                  "kubernetes.qps: expected a finite number, got \"1e999\""},
        ErrorCase{"QpsNan", "  qps: nan\n",
                  "kubernetes.qps: expected a finite number, got \"nan\""},
        ErrorCase{"NegativeSize", "  workspaceSize: -1\n",
                  "kubernetes.workspaceSize: invalid quantity \"-1\": must "
                  "not be negative"},
        ErrorCase{"SizeOverflow", "  ephemeralStorage: 9Ei\n",
                  "kubernetes.ephemeralStorage: invalid quantity \"9Ei\": too "
                  "large"},
        ErrorCase{"SizeNull", "  tmpSize:\n",
                  "kubernetes.tmpSize: expected a byte quantity, got null"},
        ErrorCase{"BadDuration", "  ttlAfterFinished: soon\n",
                  "kubernetes.ttlAfterFinished: expected a duration such as "
                  "\"30s\", \"5m\", \"1h30m\", \"250ms\" or a number of "
                  "seconds, got \"soon\""},
        ErrorCase{"InfiniteDuration", "  scheduleTimeout: inf\n",
                  "kubernetes.scheduleTimeout: duration \"inf\" is out of "
                  "range"}),
    CaseName);

INSTANTIATE_TEST_SUITE_P(
    TolerationTypes, KubernetesConfigErrorTest,
    testing::Values(
        ErrorCase{"NotAList", "  tolerations: {key: a}\n",
                  "kubernetes.tolerations: expected a list of mappings, got a "
                  "mapping"},
        ErrorCase{"ElementNotAMapping",
                  "  tolerations:\n    - {key: a, operator: Exists}\n"
                  "    - dedicated\n",
                  "kubernetes.tolerations[1]: expected a mapping, got "
                  "\"dedicated\""},
        ErrorCase{"ElementNull", "  tolerations:\n    -\n",
                  "kubernetes.tolerations[0]: expected a mapping, got null"},
        ErrorCase{"UnknownKey",
                  "  tolerations:\n    - {operator: Exists}\n"
                  "    - {key: a, effekt: NoSchedule}\n",
                  "kubernetes.tolerations[1].effekt: unknown key (did you "
                  "mean effect?)"},
        ErrorCase{"TolerationSeconds",
                  "  tolerations:\n    - {operator: Exists, "
                  "tolerationSeconds: 5}\n",
                  "kubernetes.tolerations[0].tolerationSeconds: unknown key"},
        ErrorCase{"DuplicateKey", "  tolerations:\n    - {key: a, key: b}\n",
                  "kubernetes.tolerations[0].key: duplicate key"},
        ErrorCase{"ValueNotAString",
                  "  tolerations:\n    - key: a\n      value: [x]\n",
                  "kubernetes.tolerations[0].value: expected a string, got a "
                  "list"}),
    CaseName);

INSTANTIATE_TEST_SUITE_P(
    Names, KubernetesConfigErrorTest,
    testing::Values(
        ErrorCase{"NamespaceUppercase", "  namespace: Sandbox\n",
                  absl::StrCat("kubernetes.namespace: must be a DNS-1123 "
                               "label (",
                               kLabelRule, "), got \"Sandbox\"")},
        ErrorCase{"NamespaceEmpty", "  namespace: \"\"\n",
                  absl::StrCat("kubernetes.namespace: must be a DNS-1123 "
                               "label (",
                               kLabelRule, "), got \"\"")},
        ErrorCase{
            "NamespaceTooLong",
            absl::StrCat("  namespace: ", std::string(64, 'n'), "\n"),
            absl::StrCat("kubernetes.namespace: must be a DNS-1123 "
                         "label (",
                         kLabelRule, "), got \"", std::string(64, 'n'), "\"")},
        ErrorCase{"NamespaceWithDot", "  namespace: a.b\n",
                  absl::StrCat("kubernetes.namespace: must be a DNS-1123 "
                               "label (",
                               kLabelRule, "), got \"a.b\"")},
        ErrorCase{"NamespaceEndsWithDash", "  namespace: sandbox-\n",
                  absl::StrCat("kubernetes.namespace: must be a DNS-1123 "
                               "label (",
                               kLabelRule, "), got \"sandbox-\"")},
        ErrorCase{"EmptyDefaultImage", "  defaultImage:\n",
                  "kubernetes.defaultImage: must not be empty"},
        ErrorCase{"PullPolicy", "  imagePullPolicy: always\n",
                  "kubernetes.imagePullPolicy: must be \"Always\", "
                  "\"IfNotPresent\" or \"Never\", got \"always\""},
        ErrorCase{"PullSecretName", "  imagePullSecrets: [regcred, Reg_Cred]\n",
                  absl::StrCat("kubernetes.imagePullSecrets[1]: must be a "
                               "DNS-1123 subdomain (",
                               kSubdomainRule, "), got \"Reg_Cred\"")},
        ErrorCase{"EmptyPullSecret", "  imagePullSecrets: [\"\"]\n",
                  absl::StrCat("kubernetes.imagePullSecrets[0]: must be a "
                               "DNS-1123 subdomain (",
                               kSubdomainRule, "), got \"\"")},
        ErrorCase{"RuntimeClass", "  runtimeClassName: gVisor\n",
                  absl::StrCat("kubernetes.runtimeClassName: must be empty or "
                               "a DNS-1123 subdomain (",
                               kSubdomainRule, "), got \"gVisor\"")},
        ErrorCase{"NodeSelectorKey", "  nodeSelector: {\"bad key\": x}\n",
                  absl::StrCat("kubernetes.nodeSelector: invalid label key "
                               "\"bad key\" (expected ",
                               kLabelKeyRule, ")")},
        ErrorCase{"NodeSelectorPrefix",
                  "  nodeSelector: {Example.com/pool: x}\n",
                  absl::StrCat("kubernetes.nodeSelector: invalid label key "
                               "\"Example.com/pool\" (expected ",
                               kLabelKeyRule, ")")},
        ErrorCase{"NodeSelectorValue", "  nodeSelector: {pool: \"-sb\"}\n",
                  absl::StrCat("kubernetes.nodeSelector.pool: must be a label "
                               "value (",
                               kLabelValueRule, "), got \"-sb\"")}),
    CaseName);

INSTANTIATE_TEST_SUITE_P(
    Tolerations, KubernetesConfigErrorTest,
    testing::Values(
        ErrorCase{"BadOperator",
                  "  tolerations:\n    - {key: a, operator: In}\n",
                  "kubernetes.tolerations[0].operator: must be \"Equal\" or "
                  "\"Exists\", got \"In\""},
        ErrorCase{"ExistsWithValue",
                  "  tolerations:\n    - {key: a, operator: Exists, value: "
                  "b}\n",
                  "kubernetes.tolerations[0].value: must be empty when "
                  "operator is \"Exists\", got \"b\""},
        ErrorCase{"EqualWithoutKey", "  tolerations:\n    - {value: b}\n",
                  "kubernetes.tolerations[0].key: must not be empty unless "
                  "operator is \"Exists\" (which then tolerates every taint)"},
        ErrorCase{"BadEffect",
                  "  tolerations:\n    - {key: a, operator: Exists}\n"
                  "    - {key: b, value: c, effect: NoRun}\n",
                  "kubernetes.tolerations[1].effect: must be \"NoSchedule\", "
                  "\"PreferNoSchedule\", \"NoExecute\" or empty, got "
                  "\"NoRun\""},
        ErrorCase{"BadKey",
                  "  tolerations:\n    - {key: \"a b\", operator: Exists}\n",
                  absl::StrCat("kubernetes.tolerations[0].key: must be a "
                               "label key (",
                               kLabelKeyRule, "), got \"a b\"")},
        ErrorCase{"BadValue",
                  "  tolerations:\n    - {key: a, value: \"b/c\"}\n",
                  absl::StrCat("kubernetes.tolerations[0].value: must be a "
                               "label value (",
                               kLabelValueRule, "), got \"b/c\"")}),
    CaseName);

INSTANTIATE_TEST_SUITE_P(
    Ranges, KubernetesConfigErrorTest,
    testing::Values(
        ErrorCase{"RunAsRoot", "  runAsUser: 0\n",
                  "kubernetes.runAsUser: must be between 1 and 2147483647 "
                  "(sandbox pods run as non-root), got 0"},
        ErrorCase{"RunAsUserTooLarge", "  runAsUser: 2147483648\n",
                  "kubernetes.runAsUser: must be between 1 and 2147483647 "
                  "(sandbox pods run as non-root), got 2147483648"},
        ErrorCase{"NegativeGroup", "  runAsGroup: -1\n",
                  "kubernetes.runAsGroup: must be between 0 and 2147483647, "
                  "got -1"},
        ErrorCase{"ZeroWorkspace", "  workspaceSize: 0\n",
                  "kubernetes.workspaceSize: must be greater than zero"},
        ErrorCase{"ZeroTmp", "  tmpSize: 0Mi\n",
                  "kubernetes.tmpSize: must be greater than zero"},
        ErrorCase{"ZeroEphemeralStorage", "  ephemeralStorage: 0\n",
                  "kubernetes.ephemeralStorage: must be greater than zero"},
        ErrorCase{"ZeroTtl", "  ttlAfterFinished: 0\n",
                  "kubernetes.ttlAfterFinished: must be greater than zero"},
        ErrorCase{"NegativeScheduleTimeout", "  scheduleTimeout: -1s\n",
                  "kubernetes.scheduleTimeout: must be greater than zero"},
        ErrorCase{"ZeroRequestTimeout", "  requestTimeout: 0s\n",
                  "kubernetes.requestTimeout: must be greater than zero"},
        ErrorCase{"ZeroJanitorInterval", "  janitorInterval: 0ms\n",
                  "kubernetes.janitorInterval: must be greater than zero"},
        ErrorCase{"ZeroQps", "  qps: 0\n",
                  "kubernetes.qps: must be a finite number greater than "
                  "zero, got 0"},
        ErrorCase{"NegativeQps", "  qps: -0.5\n",
                  "kubernetes.qps: must be a finite number greater than "
                  "zero, got -0.5"},
        ErrorCase{"ZeroBurst", "  burst: 0\n",
                  "kubernetes.burst: must be >= 1"}),
    CaseName);

}  // namespace
}  // namespace codeexec
