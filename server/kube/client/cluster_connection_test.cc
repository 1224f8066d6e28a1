#include "server/kube/client/cluster_connection.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace codeexec::kube {
namespace {

using ::testing::HasSubstr;

// Two contexts; `users` and `clusters` entries are spliced in per test.
std::string Kubeconfig(const std::string& cluster, const std::string& user,
                       const std::string& current_context = "main") {
  return absl::StrCat(R"(apiVersion: v1
kind: Config
current-context: )",
                      current_context, R"(
clusters:
- name: c-main
  cluster:
)",
                      cluster, R"(
- name: c-other
  cluster:
    server: https://other.example:6443/
users:
- name: u-main
  user:
)",
                      user, R"(
- name: u-other
  user:
    token: other-token
contexts:
- name: main
  context: {cluster: c-main, user: u-main, namespace: ignored}
- name: other
  context: {cluster: c-other, user: u-other}
)");
}

class ClusterConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "/cluster_connection_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    std::filesystem::create_directories(dir_ + "/sa");
    std::filesystem::create_directories(dir_ + "/home/.kube");
    environment_.service_account_dir = dir_ + "/sa";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  std::string Token(const ClusterConnection& connection) {
    EXPECT_NE(connection.token_source, nullptr);
    if (connection.token_source == nullptr) return "";
    absl::StatusOr<std::string> token = connection.token_source->Token();
    return token.ok() ? *token : std::string(token.status().message());
  }
  absl::StatusOr<ClusterConnection> Resolve(const std::string& kubeconfig = "",
                                            const std::string& context = "") {
    KubernetesOptions options;
    options.kubeconfig_path = kubeconfig;
    options.kubeconfig_context = context;
    return ResolveClusterConnection(options, environment_);
  }
  void MakeInCluster(const std::string& token) {
    Write("sa/token", token);
    Write("sa/ca.crt", "IN-CLUSTER CA");
    environment_.env["KUBERNETES_SERVICE_HOST"] = "10.0.0.1";
    environment_.env["KUBERNETES_SERVICE_PORT"] = "443";
  }

  std::string dir_;
  ConnectionEnvironment environment_;
};

TEST_F(ClusterConnectionTest, TokenUserWithCaDataAndCurrentContext) {
  const std::string path = Write(
      "config", Kubeconfig(absl::StrCat("    server: https://k.example:443/\n"
                                        "    certificate-authority-data: ",
                                        absl::Base64Escape("CA PEM")),
                           "    token: abc"));
  absl::StatusOr<ClusterConnection> connection = Resolve(path);
  ASSERT_TRUE(connection.ok()) << connection.status();
  EXPECT_EQ(connection->server, "https://k.example:443");
  EXPECT_EQ(connection->ca_pem, "CA PEM");
  EXPECT_FALSE(connection->insecure_skip_tls_verify);
  EXPECT_EQ(Token(*connection), "abc");
  EXPECT_EQ(connection->description, "kubeconfig " + path + " context main");
}

TEST_F(ClusterConnectionTest, ExplicitContextWins) {
  const std::string path =
      Write("config", Kubeconfig("    server: https://k", "    token: abc"));
  absl::StatusOr<ClusterConnection> connection = Resolve(path, "other");
  ASSERT_TRUE(connection.ok()) << connection.status();
  EXPECT_EQ(connection->server, "https://other.example:6443");
  EXPECT_EQ(Token(*connection), "other-token");
}

TEST_F(ClusterConnectionTest, MissingContextIsNamed) {
  const std::string path =
      Write("config", Kubeconfig("    server: https://k", "    token: abc"));
  EXPECT_EQ(Resolve(path, "nope").status().message(),
            "context \"nope\" not in kubeconfig " + path);
  const std::string stale = Write(
      "stale", Kubeconfig("    server: https://k", "    token: a", "gone"));
  EXPECT_EQ(Resolve(stale).status().message(),
            "context \"gone\" not in kubeconfig " + stale);
}

TEST_F(ClusterConnectionTest, RelativeFilesResolveAgainstKubeconfigDir) {
  std::filesystem::create_directories(dir_ + "/kc/certs");
  Write("kc/certs/ca.crt", "CA FROM FILE");
  Write("kc/certs/client.crt", "CLIENT CERT");
  Write("kc/certs/client.key", "CLIENT KEY");
  Write("kc/token", "file-token\n");
  const std::string path =
      Write("kc/config", Kubeconfig("    server: https://k\n"
                                    "    certificate-authority: certs/ca.crt",
                                    "    client-certificate: certs/client.crt\n"
                                    "    client-key: " +
                                        dir_ +
                                        "/kc/certs/client.key\n"
                                        "    tokenFile: token"));
  absl::StatusOr<ClusterConnection> connection = Resolve(path);
  ASSERT_TRUE(connection.ok()) << connection.status();
  EXPECT_EQ(connection->ca_pem, "CA FROM FILE");
  EXPECT_EQ(connection->client_cert_pem, "CLIENT CERT");
  EXPECT_EQ(connection->client_key_pem, "CLIENT KEY");
  EXPECT_EQ(Token(*connection), "file-token");
}

TEST_F(ClusterConnectionTest, ClientCertDataAndInsecure) {
  const std::string path =
      Write("config",
            Kubeconfig(
                "    server: https://k\n    insecure-skip-tls-verify: true",
                absl::StrCat(
                    "    client-certificate-data: ", absl::Base64Escape("CERT"),
                    "\n    client-key-data: ", absl::Base64Escape("KEY"))));
  absl::StatusOr<ClusterConnection> connection = Resolve(path);
  ASSERT_TRUE(connection.ok()) << connection.status();
  EXPECT_TRUE(connection->insecure_skip_tls_verify);
  EXPECT_EQ(connection->client_cert_pem, "CERT");
  EXPECT_EQ(connection->client_key_pem, "KEY");
  EXPECT_EQ(connection->ca_pem, "");
  EXPECT_EQ(connection->token_source, nullptr);
}

TEST_F(ClusterConnectionTest, ErrorsNameWhatIsWrong) {
  const std::string missing_ca =
      Write("a", Kubeconfig("    server: https://k\n"
                            "    certificate-authority: /nonexistent/ca.crt",
                            "    token: x"));
  EXPECT_EQ(Resolve(missing_ca).status().message(),
            "CA file \"/nonexistent/ca.crt\" unreadable: No such file or "
            "directory");
  const std::string half_mtls = Write(
      "b", Kubeconfig("    server: https://k", "    client-key-data: S0VZ"));
  EXPECT_THAT(std::string(Resolve(half_mtls).status().message()),
              HasSubstr("has a client key but no client certificate"));
  const std::string provider = Write(
      "c",
      Kubeconfig("    server: https://k", "    auth-provider: {name: gcp}"));
  EXPECT_THAT(std::string(Resolve(provider).status().message()),
              HasSubstr("auth-provider \"gcp\", which is not supported"));
  const std::string garbage = Write("d", "clusters: [unclosed");
  EXPECT_THAT(std::string(Resolve(garbage).status().message()),
              HasSubstr("kubeconfig " + garbage));
  EXPECT_THAT(std::string(Resolve(dir_ + "/absent").status().message()),
              HasSubstr("unreadable"));
}

TEST_F(ClusterConnectionTest, ExecPluginFromKubeconfig) {
  Write("plugin.sh",
        "#!/bin/sh\necho run >> \"$(dirname \"$0\")/runs\"\n"
        "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\","
        "\"kind\":\"ExecCredential\",\"status\":{\"token\":\"%s-%s\"}}' "
        "\"$1\" \"$GREETING\"\n");
  chmod((dir_ + "/plugin.sh").c_str(), 0755);
  const std::string path = Write(
      "config",
      Kubeconfig("    server: https://k",
                 "    exec:\n"
                 "      apiVersion: client.authentication.k8s.io/v1beta1\n"
                 "      command: ./plugin.sh\n"
                 "      args: [hello]\n"
                 "      env: [{name: GREETING, value: world}]\n"));
  absl::StatusOr<ClusterConnection> connection = Resolve(path);
  ASSERT_TRUE(connection.ok()) << connection.status();
  EXPECT_EQ(Token(*connection), "hello-world");
  EXPECT_EQ(Token(*connection), "hello-world");
  std::ifstream runs(dir_ + "/runs");
  std::string line;
  int count = 0;
  while (std::getline(runs, line)) ++count;
  EXPECT_EQ(count, 1);
}

TEST_F(ClusterConnectionTest, InClusterPicksUpRotatedTokens) {
  MakeInCluster("token-1");
  absl::StatusOr<ClusterConnection> connection = Resolve();
  ASSERT_TRUE(connection.ok()) << connection.status();
  EXPECT_EQ(connection->server, "https://10.0.0.1:443");
  EXPECT_EQ(connection->ca_pem, "IN-CLUSTER CA");
  EXPECT_EQ(Token(*connection), "token-1");
  Write("sa/token.tmp", "token-2");
  std::rename((dir_ + "/sa/token.tmp").c_str(), (dir_ + "/sa/token").c_str());
  EXPECT_EQ(Token(*connection), "token-2");

  environment_.env["KUBERNETES_SERVICE_HOST"] = "fd00::1";
  EXPECT_EQ(Resolve()->server, "https://[fd00::1]:443");
  std::filesystem::remove(dir_ + "/sa/ca.crt");
  EXPECT_EQ(Resolve().status().message(),
            "CA file \"" + dir_ +
                "/sa/ca.crt\" unreadable: No such file or "
                "directory");
}

TEST_F(ClusterConnectionTest, Precedence) {
  const std::string explicit_path = Write(
      "explicit", Kubeconfig("    server: https://explicit", "    token: e"));
  const std::string env_path =
      Write("env", Kubeconfig("    server: https://env", "    token: e"));
  Write("home/.kube/config",
        Kubeconfig("    server: https://home", "    token: h"));
  environment_.env["HOME"] = dir_ + "/home";
  environment_.env["KUBECONFIG"] =
      dir_ + "/absent:" + env_path + ":" + explicit_path;
  MakeInCluster("t");

  EXPECT_EQ(Resolve(explicit_path)->server, "https://explicit");
  EXPECT_EQ(Resolve()->server, "https://10.0.0.1:443");
  std::filesystem::remove(dir_ + "/sa/token");  // not in a pod after all
  EXPECT_EQ(Resolve()->server, "https://env");
  environment_.env.erase("KUBECONFIG");
  EXPECT_EQ(Resolve()->server, "https://home");
  EXPECT_EQ(Resolve("", "other")->server, "https://other.example:6443");
  environment_.env.erase("HOME");
  const absl::Status none = Resolve().status();
  EXPECT_EQ(none.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(none.message()),
              HasSubstr("no Kubernetes configuration found: set "
                        "kubernetes.kubeconfigPath, run in a pod, or set "
                        "KUBECONFIG"));
  EXPECT_THAT(std::string(none.message()),
              HasSubstr("sa/token does not exist"));
}

TEST_F(ClusterConnectionTest, FromProcessReadsTheFourVariables) {
  setenv("KUBECONFIG", "/x/config", 1);
  unsetenv("KUBERNETES_SERVICE_HOST");
  const ConnectionEnvironment environment =
      ConnectionEnvironment::FromProcess();
  EXPECT_EQ(environment.env.at("KUBECONFIG"), "/x/config");
  EXPECT_EQ(environment.env.count("KUBERNETES_SERVICE_HOST"), 0u);
  EXPECT_EQ(environment.service_account_dir,
            "/var/run/secrets/kubernetes.io/serviceaccount");
}

}  // namespace
}  // namespace codeexec::kube
