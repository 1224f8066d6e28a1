// Every class of configuration error, with the exact message (which starts
// with the key path).
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "server/config/server_config.h"

namespace codeexec {
namespace {

constexpr char kHeader[] = "apiVersion: codeexecutor/v1\nkind: ServerConfig\n";

struct ErrorCase {
  std::string name;
  std::string yaml;  // after kHeader unless it starts with "!"
  std::string message;
};

std::string CaseName(const testing::TestParamInfo<ErrorCase>& info) {
  return info.param.name;
}

class ServerConfigErrorTest : public testing::TestWithParam<ErrorCase> {};

TEST_P(ServerConfigErrorTest, FailsWithKeyPath) {
  const ErrorCase& test_case = GetParam();
  const std::string text = test_case.yaml.starts_with("!")
                               ? test_case.yaml.substr(1)
                               : kHeader + test_case.yaml;
  absl::StatusOr<ServerConfig> config = ParseServerConfig(text, {});
  ASSERT_FALSE(config.ok()) << text;
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(config.status().message()), test_case.message);
}

INSTANTIATE_TEST_SUITE_P(
    Identity, ServerConfigErrorTest,
    testing::Values(
        ErrorCase{"MissingApiVersion", "!kind: ServerConfig\n",
                  "apiVersion: required (\"codeexecutor/v1\")"},
        ErrorCase{"MissingKind", "!apiVersion: codeexecutor/v1\n",
                  "kind: required (\"ServerConfig\")"},
        ErrorCase{"WrongApiVersion", "!apiVersion: v2\nkind: ServerConfig\n",
                  "apiVersion: expected \"codeexecutor/v1\", got \"v2\""},
        ErrorCase{"WrongKind", "!apiVersion: codeexecutor/v1\nkind: Config\n",
                  "kind: expected \"ServerConfig\", got \"Config\""},
        ErrorCase{"EmptyMappingNeedsIdentity", "!{}\n",
                  "apiVersion: required (\"codeexecutor/v1\")"},
        ErrorCase{"NotAMapping", "!just text\n",
                  "configuration: expected a mapping, got \"just text\""}),
    CaseName);

INSTANTIATE_TEST_SUITE_P(
    UnknownKeys, ServerConfigErrorTest,
    testing::Values(
        ErrorCase{"TopLevel", "foo: 1\n", "foo: unknown key"},
        ErrorCase{"TopLevelTypo", "dispatch:\n  workers: 1\n",
                  "dispatch: unknown key (did you mean dispatcher?)"},
        ErrorCase{"Nested", "server:\n  listenAdress: x\n",
                  "server.listenAdress: unknown key (did you mean "
                  "listenAddress?)"},
        ErrorCase{"CaseTypo", "limits:\n  defaults:\n    cpulimit: 1\n",
                  "limits.defaults.cpulimit: unknown key (did you mean "
                  "cpuLimit?)"},
        ErrorCase{"Maxima", "limits:\n  maxima:\n    gpus: 1\n",
                  "limits.maxima.gpus: unknown key"},
        ErrorCase{"LanguageProfile",
                  "languages:\n  ruby:\n    file: a.rb\n    command: [ruby]\n"
                  "    cmd: x\n",
                  "languages.ruby.cmd: unknown key"},
        ErrorCase{"Local", "local:\n  runsc: /bin/runsc\n",
                  "local.runsc: unknown key"},
        ErrorCase{"DuplicateKey", "dispatcher:\n  workers: 1\n  workers: 2\n",
                  "dispatcher.workers: duplicate key"},
        ErrorCase{"Kubernetes", "kubernetes:\n  namespaces: x\n",
                  "kubernetes.namespaces: unknown key (did you mean "
                  "namespace?)"}),
    CaseName);

INSTANTIATE_TEST_SUITE_P(
    Types, ServerConfigErrorTest,
    testing::Values(
        ErrorCase{"IntegerFromText", "dispatcher:\n  workers: abc\n",
                  "dispatcher.workers: expected an integer, got \"abc\""},
        ErrorCase{"IntegerFromFraction", "dispatcher:\n  queueSize: 1.5\n",
                  "dispatcher.queueSize: expected an integer, got \"1.5\""},
        ErrorCase{"IntegerFromNull", "dispatcher:\n  workers:\n",
                  "dispatcher.workers: expected an integer, got null"},
        ErrorCase{"IntegerFromList", "dispatcher:\n  workers: [1]\n",
                  "dispatcher.workers: expected an integer, got a list"},
        ErrorCase{"IntOverflow", "dispatcher:\n  workers: 99999999999\n",
                  "dispatcher.workers: must be between -2147483648 and "
                  "2147483647, got 99999999999"},
        ErrorCase{"NegativeUid", "local:\n  runAsUid: -1\n",
                  "local.runAsUid: must be between 0 and 4294967295, got -1"},
        ErrorCase{"SectionIsList", "server: [a]\n",
                  "server: expected a mapping, got a list"},
        ErrorCase{"LanguagesIsList", "languages: [python]\n",
                  "languages: expected a mapping, got a list"},
        ErrorCase{"StringFromMapping", "server:\n  backend: {a: b}\n",
                  "server.backend: expected a string, got a mapping"},
        ErrorCase{"ListFromScalar", "local:\n  extraRunscFlags: --debug\n",
                  "local.extraRunscFlags: expected a list of strings, got "
                  "\"--debug\""},
        ErrorCase{"ListItemNotAString",
                  "local:\n  extraRunscFlags: [--debug, {a: b}]\n",
                  "local.extraRunscFlags[1]: expected a string, got a "
                  "mapping"},
        ErrorCase{"EnvValueNotAString",
                  "languages:\n  python:\n    file: main.py\n"
                  "    command: [python3]\n    env:\n      X: [1]\n",
                  "languages.python.env.X: expected a string, got a list"},
        ErrorCase{"BadDuration", "server:\n  shutdownGrace: soon\n",
                  "server.shutdownGrace: expected a duration such as "
                  "\"30s\", \"5m\", \"1h30m\", \"250ms\" or a number of "
                  "seconds, got \"soon\""},
        ErrorCase{"DurationWithoutUnit", "local:\n  killGrace: 1.5\n",
                  "local.killGrace: expected a duration such as \"30s\", "
                  "\"5m\", \"1h30m\", \"250ms\" or a number of seconds, got "
                  "\"1.5\""},
        ErrorCase{"InfiniteDuration", "limits:\n  maxima:\n    timeout: inf\n",
                  "limits.maxima.timeout: duration \"inf\" is out of range"}),
    CaseName);

INSTANTIATE_TEST_SUITE_P(
    Quantities, ServerConfigErrorTest,
    testing::Values(
        ErrorCase{"Malformed",
                  "limits:\n  defaults:\n    memoryLimit: 1.5.3Gi\n",
                  "limits.defaults.memoryLimit: invalid quantity "
                  "\"1.5.3Gi\": more than one decimal point"},
        ErrorCase{"WrongSuffix", "local:\n  workspaceSize: 1Gb\n",
                  "local.workspaceSize: invalid quantity \"1Gb\": unknown "
                  "suffix \"Gb\" (expected one of Ki Mi Gi Ti Pi Ei, n u m k "
                  "M G T P E, or an exponent such as e3)"},
        ErrorCase{"Negative", "limits:\n  defaults:\n    cpuLimit: -1\n",
                  "limits.defaults.cpuLimit: invalid quantity \"-1\": must "
                  "not be negative"},
        ErrorCase{"Overflow", "limits:\n  maxima:\n    memory: 9Ei\n",
                  "limits.maxima.memory: invalid quantity \"9Ei\": too large"},
        ErrorCase{"Null", "limits:\n  maxima:\n    cpu:\n",
                  "limits.maxima.cpu: expected a CPU quantity, got null"}),
    CaseName);

INSTANTIATE_TEST_SUITE_P(
    Ranges, ServerConfigErrorTest,
    testing::Values(
        ErrorCase{"ZeroWorkers", "dispatcher:\n  workers: 0\n",
                  "dispatcher.workers: must be >= 1"},
        ErrorCase{"NegativeQueue", "dispatcher:\n  queueSize: -1\n",
                  "dispatcher.queueSize: must be >= 0, got -1"},
        ErrorCase{"UnknownBackend", "server:\n  backend: docker\n",
                  "server.backend: must be \"gvisor-local\" or "
                  "\"kubernetes\", got \"docker\""},
        ErrorCase{"EmptyListenAddress", "server:\n  listenAddress: \"\"\n",
                  "server.listenAddress: must not be empty"},
        ErrorCase{"NegativeGrace", "server:\n  shutdownGrace: -1s\n",
                  "server.shutdownGrace: must not be negative"},
        ErrorCase{"ZeroUnsentOutput", "server:\n  maxUnsentOutputBytes: 0\n",
                  "server.maxUnsentOutputBytes: must be greater than zero"},
        ErrorCase{"ZeroTimeout", "limits:\n  defaults:\n    timeout: 0\n",
                  "limits.defaults.timeout: must be greater than zero"},
        ErrorCase{"ZeroCpuLimit",
                  "limits:\n  defaults:\n    cpuRequested: 0\n"
                  "    cpuLimit: 0\n",
                  "limits.defaults.cpuLimit: must be greater than zero"},
        ErrorCase{"ZeroCodeBytes", "limits:\n  maxima:\n    codeBytes: 0\n",
                  "limits.maxima.codeBytes: must be greater than zero"},
        ErrorCase{"NegativeEnvVars", "limits:\n  maxima:\n    envVars: -2\n",
                  "limits.maxima.envVars: must be >= 0, got -2"},
        ErrorCase{"ZeroTmpSize", "local:\n  tmpSize: 0\n",
                  "local.tmpSize: must be greater than zero"},
        ErrorCase{"ZeroMaxProcesses", "local:\n  maxProcesses: 0\n",
                  "local.maxProcesses: must be >= 1"},
        ErrorCase{"PidsBelowProcesses", "local:\n  hostPidsLimit: 10\n",
                  "local.hostPidsLimit: must be >= local.maxProcesses (64), "
                  "got 10"},
        ErrorCase{"RelativeStateDir", "local:\n  stateDir: state\n",
                  "local.stateDir: must be an absolute path, got \"state\""},
        ErrorCase{"EmptyRunscPath", "local:\n  runscPath:\n",
                  "local.runscPath: must not be empty"},
        ErrorCase{"NegativeWarmPool", "local:\n  warmPool:\n    size: -1\n",
                  "local.warmPool.size: must be 0 to 64"},
        ErrorCase{"HugeWarmPool", "local:\n  warmPool:\n    size: 65\n",
                  "local.warmPool.size: must be 0 to 64"},
        ErrorCase{"InstantWarmPoolAge", "local:\n  warmPool:\n    maxAge: 0s\n",
                  "local.warmPool.maxAge: must be >= 1s"},
        ErrorCase{"NoWarmPoolStarts",
                  "local:\n  warmPool:\n    maxStarting: 0\n",
                  "local.warmPool.maxStarting: must be 1 to 16"},
        ErrorCase{"WarmPoolTypo", "local:\n  warmPool:\n    sise: 2\n",
                  "local.warmPool.sise: unknown key (did you mean size?)"}),
    CaseName);

INSTANTIATE_TEST_SUITE_P(
    CrossField, ServerConfigErrorTest,
    testing::Values(
        ErrorCase{"CpuRequestAboveLimit",
                  "limits:\n  defaults:\n    cpuRequested: 600m\n",
                  "limits.defaults.cpuRequested: 600m is above "
                  "limits.defaults.cpuLimit (500m)"},
        ErrorCase{"MemoryRequestAboveLimit",
                  "limits:\n  defaults:\n    memoryRequested: 1Gi\n",
                  "limits.defaults.memoryRequested: 1Gi is above "
                  "limits.defaults.memoryLimit (512Mi)"},
        ErrorCase{"TimeoutAboveMaximum",
                  "limits:\n  defaults:\n    timeout: 2h\n",
                  "limits.defaults.timeout: 2h is above limits.maxima.timeout "
                  "(1h)"},
        ErrorCase{"CpuAboveMaximum", "limits:\n  defaults:\n    cpuLimit: 8\n",
                  "limits.defaults.cpuLimit: 8 is above limits.maxima.cpu "
                  "(4)"},
        ErrorCase{"MemoryAboveMaximum",
                  "limits:\n  maxima:\n    memory: 256Mi\n",
                  "limits.defaults.memoryLimit: 512Mi is above "
                  "limits.maxima.memory (256Mi)"},
        ErrorCase{"OutputAboveMaximum",
                  "limits:\n  defaults:\n    maxOutputBytes: 100Mi\n",
                  "limits.defaults.maxOutputBytes: 100Mi is above "
                  "limits.maxima.outputBytes (64Mi)"},
        ErrorCase{"UnknownDefaultLanguage", "defaultLanguage: ruby\n",
                  "defaultLanguage: \"ruby\" is not a configured language "
                  "(configured: bash, javascript, python)"}),
    CaseName);

INSTANTIATE_TEST_SUITE_P(
    Languages, ServerConfigErrorTest,
    testing::Values(
        ErrorCase{"MissingFile",
                  "languages:\n  ruby:\n    command: [ruby, main.rb]\n",
                  "languages.ruby.file: required"},
        ErrorCase{"MissingCommand", "languages:\n  ruby:\n    file: main.rb\n",
                  "languages.ruby.command: required"},
        ErrorCase{"NullProfile", "languages:\n  ruby:\n",
                  "languages.ruby.file: required"},
        ErrorCase{"EmptyCommand",
                  "languages:\n  ruby:\n    file: main.rb\n    command: []\n",
                  "languages.ruby.command: must not be empty"},
        ErrorCase{"FileWithSlash",
                  "languages:\n  ruby:\n    file: src/main.rb\n"
                  "    command: [ruby]\n",
                  "languages.ruby.file: must be a plain file name, got "
                  "\"src/main.rb\""},
        ErrorCase{"BadEnvName",
                  "languages:\n  ruby:\n    file: main.rb\n"
                  "    command: [ruby]\n    env: {\"A=B\": x}\n",
                  "languages.ruby.env: invalid variable name \"A=B\""},
        ErrorCase{"RelativeRootfs",
                  "languages:\n  ruby:\n    file: main.rb\n"
                  "    command: [ruby]\n    rootfs: trees/ruby\n",
                  "languages.ruby.rootfs: must be an absolute path, got "
                  "\"trees/ruby\""}),
    CaseName);

INSTANTIATE_TEST_SUITE_P(
    Security, ServerConfigErrorTest,
    testing::Values(
        ErrorCase{"CertWithoutKey", "server:\n  tls:\n    certFile: /c\n",
                  "server.tls.keyFile: certFile and keyFile come together"},
        ErrorCase{"ClientCaWithoutTls",
                  "server:\n  tls:\n    clientCaFile: /ca\n",
                  "server.tls.clientCaFile: needs server.tls.certFile and "
                  "keyFile (TLS)"},
        ErrorCase{"ReloadTooOften",
                  "server:\n  tls:\n    reloadInterval: 100ms\n",
                  "server.tls.reloadInterval: must be >= 1s"},
        ErrorCase{"UnknownMode", "server:\n  auth:\n    mode: oidc\n",
                  "server.auth.mode: expected \"none\", \"mtls\" or "
                  "\"token\", got \"oidc\""},
        ErrorCase{"TokenWithoutAllowList",
                  "server:\n  auth:\n    mode: token\n",
                  "server.auth.allowedIdentities: required with mode token: "
                  "any pod may mint a token for any audience, so name the "
                  "service accounts (or "
                  "\"system:serviceaccount:<namespace>:*\")"},
        ErrorCase{"StarInsideAnIdentity",
                  "server:\n  auth:\n    mode: token\n    "
                  "allowedIdentities: [\"system:serviceaccount:a:b\", "
                  "\"system:serviceaccount:team*\"]\n",
                  "server.auth.allowedIdentities[1]: expected an identity, "
                  "or a prefix ending in \":*\" or \"/*\", got "
                  "\"system:serviceaccount:team*\""},
        ErrorCase{"EmptyAudience",
                  "server:\n  auth:\n    token:\n      audience: \"\"\n",
                  "server.auth.token.audience: must not be empty"},
        ErrorCase{"ZeroCacheSize",
                  "server:\n  auth:\n    token:\n      cacheSize: 0\n",
                  "server.auth.token.cacheSize: must be >= 1"},
        ErrorCase{"UnknownTokenKey",
                  "server:\n  auth:\n    token:\n      audiences: [a]\n",
                  "server.auth.token.audiences: unknown key (did you mean "
                  "audience?)"},
        ErrorCase{"NegativeQuota", "server:\n  quotas:\n    openSessions: -1\n",
                  "server.quotas.openSessions: must be >= 0, got -1"},
        ErrorCase{"ReflectionNotABool", "server:\n  reflection: yes\n",
                  "server.reflection: expected true or false, got \"yes\""},
        ErrorCase{"MtlsWithoutClientCa",
                  "server:\n  tls:\n    certFile: /c\n    keyFile: /k\n"
                  "  auth:\n    mode: mtls\n",
                  "server.auth.mode: mtls needs server.tls.clientCaFile (the "
                  "CA that signs the callers' certificates)"},
        ErrorCase{"AllowListWithoutMtls",
                  "server:\n  auth:\n    allowedIdentities: [a]\n",
                  "server.auth.allowedIdentities: only with server.auth.mode "
                  "mtls or token"},
        ErrorCase{"UnknownTlsKey", "server:\n  tls:\n    cert: /c\n",
                  "server.tls.cert: unknown key"}),
    CaseName);

}  // namespace
}  // namespace codeexec
