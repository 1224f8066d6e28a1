#include "server/kube/client/cluster_connection.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "yaml-cpp/yaml.h"

namespace codeexec::kube {
namespace {

bool FileExists(const std::string& path) {
  struct stat file_status;
  return stat(path.c_str(), &file_status) == 0;
}

// `what` names the file in errors: "CA file", "client key file", ...
absl::StatusOr<std::string> ReadFile(const std::string& path,
                                     absl::string_view what) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s \"%s\" unreadable: %s", what, path, std::strerror(errno)));
  }
  std::stringstream contents;
  contents << file.rdbuf();
  if (file.bad()) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s \"%s\" unreadable: %s", what, path, std::strerror(errno)));
  }
  return contents.str();
}

std::string Directory(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string ResolvePath(const std::string& directory, const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  return absl::StrCat(directory, "/", path);
}

// A scalar field of a YAML map; "" when absent or null.
std::string Text(const YAML::Node& map, const char* key) {
  const YAML::Node value = map[key];
  if (!value.IsDefined() || value.IsNull()) return "";
  return value.as<std::string>();
}

// The entry of a named list (clusters/users/contexts) called `name`, its
// payload under `payload_key`. Undefined node when absent.
YAML::Node FindNamed(const YAML::Node& root, const char* list_key,
                     const std::string& name, const char* payload_key) {
  const YAML::Node list = root[list_key];
  if (!list.IsSequence()) return YAML::Node(YAML::NodeType::Undefined);
  for (const YAML::Node& entry : list) {
    if (entry.IsMap() && Text(entry, "name") == name) {
      const YAML::Node payload = entry[payload_key];
      return payload.IsDefined() && !payload.IsNull()
                 ? payload
                 : YAML::Node(YAML::NodeType::Map);
    }
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

// PEM from `<field>-data` (base64) or `<field>` (a file).
absl::StatusOr<std::string> DataOrFile(const YAML::Node& map,
                                       const std::string& field,
                                       absl::string_view file_what,
                                       absl::string_view owner,
                                       const std::string& directory) {
  const std::string data_field = field + "-data";
  const std::string data = Text(map, data_field.c_str());
  if (!data.empty()) {
    std::string decoded;
    if (!absl::Base64Unescape(data, &decoded)) {
      return absl::InvalidArgumentError(
          absl::StrCat(data_field, " of ", owner, " is not valid base64"));
    }
    return decoded;
  }
  const std::string file = Text(map, field.c_str());
  if (file.empty()) return std::string();
  return ReadFile(ResolvePath(directory, file), file_what);
}

absl::StatusOr<std::shared_ptr<TokenSource>> ExecSource(
    const YAML::Node& exec, const std::string& owner,
    const std::string& directory, const ClusterConnection& cluster) {
  ExecCredentialOptions options;
  options.api_version = Text(exec, "apiVersion");
  if (options.api_version != "client.authentication.k8s.io/v1" &&
      options.api_version != "client.authentication.k8s.io/v1beta1") {
    return absl::InvalidArgumentError(absl::StrCat(
        "exec plugin of ", owner, " has apiVersion \"", options.api_version,
        "\"; supported: client.authentication.k8s.io/v1 and /v1beta1"));
  }
  options.command = Text(exec, "command");
  if (options.command.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("exec plugin of ", owner, " has no command"));
  }
  if (options.command.find('/') != std::string::npos) {
    options.command = ResolvePath(directory, options.command);
  }
  if (const YAML::Node args = exec["args"]; args.IsSequence()) {
    for (const YAML::Node& arg : args) {
      options.args.push_back(arg.as<std::string>());
    }
  }
  if (const YAML::Node env = exec["env"]; env.IsSequence()) {
    for (const YAML::Node& variable : env) {
      options.env.emplace_back(Text(variable, "name"), Text(variable, "value"));
    }
  }
  options.install_hint = Text(exec, "installHint");
  if (exec["provideClusterInfo"].IsDefined() &&
      exec["provideClusterInfo"].as<bool>()) {
    options.cluster_info = {{"server", cluster.server}};
    if (!cluster.ca_pem.empty()) {
      options.cluster_info["certificate-authority-data"] =
          absl::Base64Escape(cluster.ca_pem);
    }
    if (cluster.insecure_skip_tls_verify) {
      options.cluster_info["insecure-skip-tls-verify"] = true;
    }
  }
  return std::make_shared<ExecTokenSource>(std::move(options));
}

absl::Status ReadUser(const YAML::Node& user, const std::string& owner,
                      const std::string& directory,
                      ClusterConnection& connection) {
  if (user["auth-provider"].IsDefined()) {
    return absl::UnimplementedError(absl::StrCat(
        owner, " uses auth-provider \"", Text(user["auth-provider"], "name"),
        "\", which is not supported; use an exec plugin (e.g. "
        "gke-gcloud-auth-plugin)"));
  }
  if (!Text(user, "username").empty() || !Text(user, "password").empty()) {
    return absl::UnimplementedError(absl::StrCat(
        owner, " uses basic auth (username/password), which is not supported"));
  }
  absl::StatusOr<std::string> cert = DataOrFile(
      user, "client-certificate", "client certificate file", owner, directory);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key =
      DataOrFile(user, "client-key", "client key file", owner, directory);
  if (!key.ok()) return key.status();
  if (cert->empty() != key->empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        owner, " has a client ", cert->empty() ? "key" : "certificate",
        " but no client ", cert->empty() ? "certificate" : "key"));
  }
  connection.client_cert_pem = *std::move(cert);
  connection.client_key_pem = *std::move(key);

  if (const std::string token = Text(user, "token"); !token.empty()) {
    connection.token_source = std::make_shared<StaticTokenSource>(token);
  } else if (const std::string file = Text(user, "tokenFile"); !file.empty()) {
    auto source =
        std::make_shared<FileTokenSource>(ResolvePath(directory, file));
    if (absl::StatusOr<std::string> token = source->Token(); !token.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat(owner, ": ", token.status().message()));
    }
    connection.token_source = std::move(source);
  } else if (const YAML::Node exec = user["exec"];
             exec.IsDefined() && !exec.IsNull()) {
    absl::StatusOr<std::shared_ptr<TokenSource>> source =
        ExecSource(exec, owner, directory, connection);
    if (!source.ok()) return source.status();
    connection.token_source = *std::move(source);
  }
  return absl::OkStatus();
}

absl::StatusOr<ClusterConnection> ParseKubeconfig(const YAML::Node& root,
                                                  const std::string& path,
                                                  const std::string& context) {
  const std::string directory = Directory(path);
  const std::string context_name =
      context.empty() ? Text(root, "current-context") : context;
  if (context_name.empty()) {
    return absl::FailedPreconditionError(
        absl::StrFormat("kubeconfig %s has no current-context; set "
                        "kubernetes.kubeconfigContext",
                        path));
  }
  const YAML::Node context_node =
      FindNamed(root, "contexts", context_name, "context");
  if (!context_node.IsDefined()) {
    return absl::NotFoundError(absl::StrFormat(
        "context \"%s\" not in kubeconfig %s", context_name, path));
  }
  const std::string cluster_name = Text(context_node, "cluster");
  const YAML::Node cluster =
      FindNamed(root, "clusters", cluster_name, "cluster");
  if (!cluster.IsDefined()) {
    return absl::NotFoundError(absl::StrFormat(
        "cluster \"%s\" (of context \"%s\") not in kubeconfig %s", cluster_name,
        context_name, path));
  }
  const std::string cluster_owner =
      absl::StrFormat("cluster \"%s\" in kubeconfig %s", cluster_name, path);
  ClusterConnection connection;
  connection.description =
      absl::StrFormat("kubeconfig %s context %s", path, context_name);
  connection.server =
      std::string(absl::StripSuffix(Text(cluster, "server"), "/"));
  if (connection.server.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(cluster_owner, " has no server"));
  }
  absl::StatusOr<std::string> ca = DataOrFile(
      cluster, "certificate-authority", "CA file", cluster_owner, directory);
  if (!ca.ok()) return ca.status();
  connection.ca_pem = *std::move(ca);
  if (cluster["insecure-skip-tls-verify"].IsDefined()) {
    connection.insecure_skip_tls_verify =
        cluster["insecure-skip-tls-verify"].as<bool>();
  }

  const std::string user_name = Text(context_node, "user");
  if (user_name.empty()) return connection;
  const YAML::Node user = FindNamed(root, "users", user_name, "user");
  if (!user.IsDefined()) {
    return absl::NotFoundError(
        absl::StrFormat("user \"%s\" (of context \"%s\") not in kubeconfig %s",
                        user_name, context_name, path));
  }
  const std::string user_owner =
      absl::StrFormat("user \"%s\" in kubeconfig %s", user_name, path);
  if (absl::Status status = ReadUser(user, user_owner, directory, connection);
      !status.ok()) {
    return status;
  }
  return connection;
}

absl::StatusOr<ClusterConnection> InCluster(
    const std::string& host, const std::string& port,
    const ConnectionEnvironment& environment) {
  const std::string ca_path = environment.service_account_dir + "/ca.crt";
  absl::StatusOr<std::string> ca = ReadFile(ca_path, "CA file");
  if (!ca.ok()) return ca.status();
  auto token_source = std::make_shared<FileTokenSource>(
      environment.service_account_dir + "/token");
  if (absl::StatusOr<std::string> token = token_source->Token(); !token.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("in-cluster service account: ", token.status().message()));
  }
  ClusterConnection connection;
  const bool ipv6 = host.find(':') != std::string::npos;
  connection.server = absl::StrCat("https://", ipv6 ? "[" : "", host,
                                   ipv6 ? "]" : "", ":", port);
  connection.ca_pem = *std::move(ca);
  connection.token_source = std::move(token_source);
  connection.description = absl::StrCat("in-cluster (", connection.server, ")");
  return connection;
}

std::string EnvValue(const ConnectionEnvironment& environment,
                     const std::string& name) {
  const auto it = environment.env.find(name);
  return it == environment.env.end() ? "" : it->second;
}

}  // namespace

ConnectionEnvironment ConnectionEnvironment::FromProcess() {
  ConnectionEnvironment environment;
  for (const char* name : {"KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT",
                           "KUBECONFIG", "HOME"}) {
    if (const char* value = std::getenv(name); value != nullptr) {
      environment.env[name] = value;
    }
  }
  return environment;
}

absl::StatusOr<ClusterConnection> LoadKubeconfig(const std::string& path,
                                                 const std::string& context) {
  absl::StatusOr<std::string> text = ReadFile(path, "kubeconfig");
  if (!text.ok()) return text.status();
  try {
    return ParseKubeconfig(YAML::Load(*text), path, context);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrFormat("kubeconfig %s: %s", path, e.what()));
  }
}

absl::StatusOr<ClusterConnection> ResolveClusterConnection(
    const KubernetesOptions& options,
    const ConnectionEnvironment& environment) {
  if (!options.kubeconfig_path.empty()) {
    return LoadKubeconfig(options.kubeconfig_path, options.kubeconfig_context);
  }
  std::string why_not_in_cluster =
      "KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT not set";
  const std::string host = EnvValue(environment, "KUBERNETES_SERVICE_HOST");
  const std::string port = EnvValue(environment, "KUBERNETES_SERVICE_PORT");
  if (!host.empty() && !port.empty()) {
    const std::string token_path = environment.service_account_dir + "/token";
    if (FileExists(token_path)) return InCluster(host, port, environment);
    why_not_in_cluster = absl::StrCat(token_path, " does not exist");
  }
  const std::string kubeconfig_list = EnvValue(environment, "KUBECONFIG");
  for (absl::string_view entry :
       absl::StrSplit(kubeconfig_list, ':', absl::SkipEmpty())) {
    const std::string path(entry);
    if (FileExists(path))
      return LoadKubeconfig(path, options.kubeconfig_context);
  }
  const std::string home = EnvValue(environment, "HOME");
  if (!home.empty() && FileExists(home + "/.kube/config")) {
    return LoadKubeconfig(home + "/.kube/config", options.kubeconfig_context);
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "no Kubernetes configuration found: set kubernetes.kubeconfigPath, run "
      "in a pod, or set KUBECONFIG (not in-cluster: ",
      why_not_in_cluster, "; KUBECONFIG ",
      kubeconfig_list.empty() ? "unset" : "names no existing file",
      "; no $HOME/.kube/config)"));
}

}  // namespace codeexec::kube
