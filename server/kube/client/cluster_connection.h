// Where the Kubernetes API server is and how to authenticate to it: resolved
// from an explicit kubeconfig, the in-cluster service account, $KUBECONFIG
// or ~/.kube/config (the order of ADK's GkeCodeExecutor).
#ifndef CODEEXEC_SERVER_KUBE_CLIENT_CLUSTER_CONNECTION_H_
#define CODEEXEC_SERVER_KUBE_CLIENT_CLUSTER_CONNECTION_H_

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/kube/client/token_source.h"
#include "server/kube/kube_options.h"

namespace codeexec::kube {

// Where the API server is and how to authenticate to it.
struct ClusterConnection {
  // "https://10.0.0.1:443" (no trailing slash).
  std::string server;
  // PEM CA bundle that alone is trusted for the server; empty = system roots.
  std::string ca_pem;
  bool insecure_skip_tls_verify = false;
  // mTLS client certificate (chain) and key, PEM: both or neither.
  std::string client_cert_pem;
  std::string client_key_pem;
  // null = no bearer token.
  std::shared_ptr<TokenSource> token_source;
  // For logs and errors: "in-cluster", "kubeconfig /x/config context foo".
  std::string description;
};

// Process environment seen by ResolveClusterConnection, injectable for tests.
struct ConnectionEnvironment {
  // KUBERNETES_SERVICE_HOST, KUBERNETES_SERVICE_PORT, KUBECONFIG, HOME.
  std::map<std::string, std::string> env;
  // Holds "token" and "ca.crt" when running in a pod.
  std::string service_account_dir =
      "/var/run/secrets/kubernetes.io/serviceaccount";
  // The four variables above from this process's environment.
  static ConnectionEnvironment FromProcess();
};

// Precedence:
//  1. options.kubeconfig_path (an error there is final);
//  2. in-cluster: KUBERNETES_SERVICE_HOST and _PORT set and
//     <service_account_dir>/token exists (token re-read as it rotates,
//     see FileTokenSource; ca.crt must be readable);
//  3. $KUBECONFIG: its first ':'-separated entry that exists (files are not
//     merged);
//  4. $HOME/.kube/config.
// Kubeconfigs use options.kubeconfig_context, else their current-context.
// Supported kubeconfig fields: clusters[].cluster.{server,
// certificate-authority(-data), insecure-skip-tls-verify}, users[].user.{
// token, tokenFile, client-certificate(-data), client-key(-data), exec},
// contexts[].context.{cluster, user}; relative paths resolve against the
// kubeconfig's directory. Not supported (ignored): the context's namespace
// (options.namespace_name rules), tls-server-name, proxy-url; rejected with a
// clear error: auth-provider, username/password.
absl::StatusOr<ClusterConnection> ResolveClusterConnection(
    const KubernetesOptions& options, const ConnectionEnvironment& environment);

// Reads one kubeconfig file (step 1/3/4 above); `context` empty = its
// current-context.
absl::StatusOr<ClusterConnection> LoadKubeconfig(const std::string& path,
                                                 const std::string& context);

}  // namespace codeexec::kube

#endif  // CODEEXEC_SERVER_KUBE_CLIENT_CLUSTER_CONNECTION_H_
