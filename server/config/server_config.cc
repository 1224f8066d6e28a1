#include "server/config/server_config.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "server/config/kubernetes_config.h"
#include "server/config/warm_pool_config.h"
#include "server/config/yaml_document.h"
#include "server/config/yaml_fields.h"
#include "yaml-cpp/yaml.h"

namespace codeexec {
namespace {

constexpr absl::string_view kApiVersion = "codeexecutor/v1";
constexpr absl::string_view kKind = "ServerConfig";

// Checks a fixed-value identification key (apiVersion, kind).
void ReadIdentity(YamlMap& root, absl::string_view key,
                  absl::string_view expected, bool required) {
  std::string value;
  if (root.String(key, value)) {
    if (value != expected) {
      root.Fail(key, absl::StrCat("expected \"", expected, "\", got \"",
                                  absl::CHexEscape(value), "\""));
    }
  } else if (required) {
    root.Fail(key, absl::StrCat("required (\"", expected, "\")"));
  }
}

void ReadServer(YamlMap map, ServerOptions& server) {
  map.String("listenAddress", server.listen_address);
  map.String("metricsAddress", server.metrics_address);
  map.String("backend", server.backend);
  map.Duration("shutdownGrace", server.shutdown_grace);
  map.String("portsFile", server.ports_file);
  map.Bytes("maxUnsentOutputBytes", server.max_unsent_output_bytes);
  map.String("healthAddress", server.health_address);
  {
    YamlMap tls = map.Map("tls");
    tls.String("certFile", server.tls.cert_file);
    tls.String("keyFile", server.tls.key_file);
    tls.String("clientCaFile", server.tls.client_ca_file);
    tls.Duration("reloadInterval", server.tls.reload_interval);
    tls.RejectUnknownKeys();
  }
  {
    YamlMap auth = map.Map("auth");
    auth.String("mode", server.auth.mode);
    auth.StringList("allowedIdentities", server.auth.allowed_identities);
    {
      YamlMap token = auth.Map("token");
      TokenAuthOptions& options = server.auth.token;
      token.String("audience", options.audience);
      token.Duration("cacheTtl", options.cache_ttl);
      token.Integer("cacheSize", options.cache_size);
      token.Integer("maxPendingReviews", options.max_pending_reviews);
      token.RejectUnknownKeys();
    }
    auth.RejectUnknownKeys();
  }
  {
    YamlMap quotas = map.Map("quotas");
    quotas.Integer("concurrentExecutions", server.quotas.concurrent_executions);
    quotas.Integer("executionsPerMinute", server.quotas.executions_per_minute);
    quotas.Integer("openSessions", server.quotas.open_sessions);
    quotas.RejectUnknownKeys();
  }
  map.Bool("reflection", server.reflection);
  map.RejectUnknownKeys();
}

void ReadSessions(YamlMap map, SessionOptions& sessions) {
  map.Integer("maxSessions", sessions.max_sessions);
  map.Duration("defaultIdleTimeout", sessions.default_idle_timeout);
  map.Duration("maxIdleTimeout", sessions.max_idle_timeout);
  map.Duration("defaultMaxLifetime", sessions.default_max_lifetime);
  map.Duration("maxLifetime", sessions.max_lifetime);
  map.RejectUnknownKeys();
}

void ReadDispatcher(YamlMap map, DispatcherOptions& dispatcher) {
  map.Integer("workers", dispatcher.workers);
  map.Integer("queueSize", dispatcher.queue_size);
  map.RejectUnknownKeys();
}

void ReadLimits(YamlMap map, LimitsOptions& limits) {
  YamlMap defaults = map.Map("defaults");
  defaults.Duration("timeout", limits.default_timeout);
  defaults.CpuMillis("cpuRequested",
                     limits.default_resources.cpu_request_millis);
  defaults.CpuMillis("cpuLimit", limits.default_resources.cpu_limit_millis);
  defaults.Bytes("memoryRequested",
                 limits.default_resources.memory_request_bytes);
  defaults.Bytes("memoryLimit", limits.default_resources.memory_limit_bytes);
  defaults.Bytes("maxOutputBytes", limits.default_max_output_bytes);
  defaults.RejectUnknownKeys();

  YamlMap maxima = map.Map("maxima");
  maxima.Duration("timeout", limits.max_timeout);
  maxima.CpuMillis("cpu", limits.max_cpu_millis);
  maxima.Bytes("memory", limits.max_memory_bytes);
  maxima.Bytes("outputBytes", limits.max_output_bytes);
  maxima.Bytes("codeBytes", limits.max_code_bytes);
  maxima.Bytes("stdinBytes", limits.max_stdin_bytes);
  maxima.Integer("envVars", limits.max_env_vars);
  maxima.Integer("inputFiles", limits.max_input_files);
  maxima.Bytes("inputFileBytes", limits.max_input_file_bytes);
  maxima.Integer("outputFiles", limits.max_output_files);
  maxima.Bytes("outputFileBytes", limits.max_output_file_bytes);
  maxima.RejectUnknownKeys();

  map.RejectUnknownKeys();
}

// A profile in the file replaces the built-in one of the same name whole.
void ReadLanguages(YamlMap map,
                   std::map<std::string, LanguageProfile>& languages) {
  for (const std::string& name : map.Keys()) {
    YamlMap fields = map.Map(name);
    LanguageProfile profile;
    fields.String("file", profile.file_name);
    fields.StringList("command", profile.command);
    fields.String("image", profile.image);
    fields.StringMap("env", profile.env);
    fields.String("rootfs", profile.rootfs);
    fields.RejectUnknownKeys();
    fields.Require("file");
    fields.Require("command");
    if (!fields.ok()) return;
    languages[name] = std::move(profile);
  }
}

void ReadLocal(YamlMap map, LocalBackendOptions& local) {
  map.String("runscPath", local.runsc_path);
  map.String("stateDir", local.state_dir);
  map.String("rootfs", local.rootfs);
  map.String("platform", local.platform);
  map.Bytes("workspaceSize", local.workspace_bytes);
  map.Bytes("tmpSize", local.tmp_bytes);
  map.Integer("maxProcesses", local.max_processes);
  map.Integer("hostPidsLimit", local.host_pids_limit);
  map.Integer("runAsUid", local.run_as_uid);
  map.Integer("runAsGid", local.run_as_gid);
  map.String("cgroupParent", local.cgroup_parent);
  map.Duration("killGrace", local.kill_grace);
  map.StringList("extraRunscFlags", local.extra_runsc_flags);
  ReadWarmPool(map.Map("warmPool"), local.warm_pool);
  map.RejectUnknownKeys();
}

// Reads `tree` onto `config`; `file_has_content` makes apiVersion and kind
// required.
absl::Status ReadServerConfig(const YAML::Node& tree, bool file_has_content,
                              ServerConfig& config) {
  absl::Status status;
  YamlMap root(tree, "", status);
  ReadIdentity(root, "apiVersion", kApiVersion, file_has_content);
  ReadIdentity(root, "kind", kKind, file_has_content);
  ReadServer(root.Map("server"), config.server);
  ReadDispatcher(root.Map("dispatcher"), config.dispatcher);
  ReadSessions(root.Map("sessions"), config.sessions);
  ReadLimits(root.Map("limits"), config.validation.limits);
  ReadLanguages(root.Map("languages"), config.validation.languages);
  root.String("defaultLanguage", config.validation.default_language);
  ReadLocal(root.Map("local"), config.local);
  ReadKubernetesSection(root.Map("kubernetes"), config.kubernetes);
  root.RejectUnknownKeys();
  return status;
}

absl::Status ReadFile(const std::string& path, std::string& contents) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot open config file \"", path, "\": ", std::strerror(errno)));
  }
  char buffer[64 * 1024];
  while (true) {
    const ssize_t count = read(fd, buffer, sizeof(buffer));
    if (count == 0) break;
    if (count < 0) {
      if (errno == EINTR) continue;
      const int read_errno = errno;
      close(fd);
      return absl::InvalidArgumentError(
          absl::StrCat("cannot read config file \"", path,
                       "\": ", std::strerror(read_errno)));
    }
    contents.append(buffer, static_cast<size_t>(count));
  }
  close(fd);
  return absl::OkStatus();
}

}  // namespace

ServerConfig DefaultServerConfig() {
  ServerConfig config;
  LanguageProfile python;
  python.file_name = "main.py";
  python.command = {"python3", "main.py"};
  python.image = "python:3.11-slim";
  // Unbuffered, so output streams to the client as it is printed.
  python.env = {{"PYTHONUNBUFFERED", "1"}};
  config.validation.languages["python"] = std::move(python);

  // The images and rootfs trees of bash and javascript have no Python: the
  // launcher needs nothing from them (scripts/install-sandbox-rootfs makes
  // the trees, scripts/build-sandbox-images the e2e cluster's images).
  LanguageProfile bash;
  bash.file_name = "main.sh";
  bash.command = {"bash", "main.sh"};
  bash.image = "bash:5.2";
  bash.rootfs = "/var/lib/code-executor/rootfs-bash";
  config.validation.languages["bash"] = std::move(bash);

  LanguageProfile javascript;
  javascript.file_name = "main.js";
  javascript.command = {"node", "main.js"};
  javascript.image = "node:22-slim";
  javascript.rootfs = "/var/lib/code-executor/rootfs-javascript";
  config.validation.languages["javascript"] = std::move(javascript);
  return config;
}

std::string StringOverride(std::string_view key_path, std::string_view value) {
  std::string assignment(key_path);
  assignment += "=\"";
  for (const char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      assignment += '\\';
      assignment += c;
    } else if (byte < 0x20 || byte == 0x7f) {
      absl::StrAppend(&assignment, "\\x", absl::Hex(byte, absl::kZeroPad2));
    } else {
      assignment += c;
    }
  }
  assignment += '"';
  return assignment;
}

absl::StatusOr<ServerConfig> ParseServerConfig(
    std::string_view yaml_text, const std::vector<std::string>& overrides) {
  absl::StatusOr<YAML::Node> tree =
      LoadYamlDocument(absl::string_view(yaml_text.data(), yaml_text.size()));
  if (!tree.ok()) return tree.status();
  const bool file_has_content = tree->IsDefined() && !tree->IsNull();
  for (const std::string& override_assignment : overrides) {
    absl::Status status = ApplyYamlOverride(override_assignment, *tree);
    if (!status.ok()) return status;
  }
  ServerConfig config = DefaultServerConfig();
  try {
    absl::Status status = ReadServerConfig(*tree, file_has_content, config);
    if (!status.ok()) return status;
  } catch (const YAML::Exception& e) {
    // Not expected: the readers check node types before using them.
    return absl::InvalidArgumentError(
        absl::StrCat("invalid configuration at line ", e.mark.line + 1,
                     ", column ", e.mark.column + 1, ": ", e.msg));
  }
  absl::Status status = ValidateServerConfig(config);
  if (!status.ok()) return status;
  return config;
}

absl::StatusOr<ServerConfig> LoadServerConfig(
    const std::string& path, const std::vector<std::string>& overrides) {
  std::string contents;
  if (!path.empty()) {
    absl::Status status = ReadFile(path, contents);
    if (!status.ok()) return status;
  }
  return ParseServerConfig(contents, overrides);
}

}  // namespace codeexec
