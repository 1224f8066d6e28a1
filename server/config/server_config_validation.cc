// ValidateServerConfig: the rules no single key can check on its own.
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/config/kubernetes_config.h"
#include "server/config/server_config.h"
#include "server/config/warm_pool_config.h"
#include "server/config/yaml_fields.h"
#include "server/exec/backend_names.h"
#include "server/exec/quantity.h"

namespace codeexec {
namespace {

constexpr absl::string_view kLocalBackend = kGvisorLocalBackendName;
constexpr absl::string_view kKubernetesBackend = kKubernetesBackendName;

// "<path>: <value> is above <limit_path> (<limit>)" when value > limit.
absl::Status CheckNotAbove(absl::string_view path, int64_t value,
                           absl::string_view limit_path, int64_t limit,
                           std::string (*format)(int64_t)) {
  if (value <= limit) return absl::OkStatus();
  return ConfigError(path, absl::StrCat(format(value), " is above ", limit_path,
                                        " (", format(limit), ")"));
}

absl::Status CheckPositive(absl::string_view path, int64_t value) {
  if (value > 0) return absl::OkStatus();
  return ConfigError(path, "must be greater than zero");
}

absl::Status CheckNotNegative(absl::string_view path, int64_t value) {
  if (value >= 0) return absl::OkStatus();
  return ConfigError(path, absl::StrCat("must be >= 0, got ", value));
}

absl::Status CheckNotEmpty(absl::string_view path, absl::string_view value) {
  if (!value.empty()) return absl::OkStatus();
  return ConfigError(path, "must not be empty");
}

absl::Status CheckAbsolutePath(absl::string_view path,
                               absl::string_view value) {
  if (absl::StartsWith(value, "/")) return absl::OkStatus();
  return ConfigError(
      path, absl::StrCat("must be an absolute path, got ", Quoted(value)));
}

absl::Status FirstError(const std::vector<absl::Status>& statuses) {
  for (const absl::Status& status : statuses) {
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status ValidateServer(const ServerOptions& server) {
  if (server.backend != kLocalBackend && server.backend != kKubernetesBackend) {
    return ConfigError(
        "server.backend",
        absl::StrCat("must be \"", kLocalBackend, "\" or \"",
                     kKubernetesBackend, "\", got ", Quoted(server.backend)));
  }
  if (server.shutdown_grace < absl::ZeroDuration()) {
    return ConfigError("server.shutdownGrace", "must not be negative");
  }
  if (absl::Status s = CheckPositive("server.maxUnsentOutputBytes",
                                     server.max_unsent_output_bytes);
      !s.ok()) {
    return s;
  }
  const TlsOptions& tls = server.tls;
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    return ConfigError(
        tls.cert_file.empty() ? "server.tls.certFile" : "server.tls.keyFile",
        "certFile and keyFile come together");
  }
  if (!tls.client_ca_file.empty() && tls.cert_file.empty()) {
    return ConfigError("server.tls.clientCaFile",
                       "needs server.tls.certFile and keyFile (TLS)");
  }
  if (tls.reload_interval < absl::Seconds(1)) {
    return ConfigError("server.tls.reloadInterval", "must be >= 1s");
  }
  const AuthOptions& auth = server.auth;
  if (auth.mode != "none" && auth.mode != "mtls" && auth.mode != "token") {
    return ConfigError("server.auth.mode",
                       absl::StrCat("expected \"none\", \"mtls\" or "
                                    "\"token\", got ",
                                    Quoted(auth.mode)));
  }
  if (auth.mode == "mtls" && tls.client_ca_file.empty()) {
    return ConfigError("server.auth.mode",
                       "mtls needs server.tls.clientCaFile (the CA that signs "
                       "the callers' certificates)");
  }
  if (auth.mode == "none" && !auth.allowed_identities.empty()) {
    return ConfigError("server.auth.allowedIdentities",
                       "only with server.auth.mode mtls or token");
  }
  if (auth.mode == "token" && auth.allowed_identities.empty()) {
    return ConfigError("server.auth.allowedIdentities",
                       "required with mode token: any pod may mint a token "
                       "for any audience, so name the service accounts (or "
                       "\"system:serviceaccount:<namespace>:*\")");
  }
  for (size_t i = 0; i < auth.allowed_identities.size(); ++i) {
    const std::string& identity = auth.allowed_identities[i];
    const size_t star = identity.find('*');
    const bool star_ok =
        star == std::string::npos ||
        (star + 1 == identity.size() && star > 0 &&
         (identity[star - 1] == ':' || identity[star - 1] == '/'));
    if (identity.empty() || !star_ok) {
      return ConfigError(
          absl::StrCat("server.auth.allowedIdentities[", i, "]"),
          absl::StrCat("expected an identity, or a prefix ending in \":*\" "
                       "or \"/*\", got ",
                       Quoted(identity)));
    }
  }
  const TokenAuthOptions& token = auth.token;
  if (token.audience.empty()) {
    return ConfigError("server.auth.token.audience", "must not be empty");
  }
  if (token.cache_ttl < absl::ZeroDuration()) {
    return ConfigError("server.auth.token.cacheTtl", "must not be negative");
  }
  if (token.cache_size < 1) {
    return ConfigError("server.auth.token.cacheSize", "must be >= 1");
  }
  if (token.max_pending_reviews < 1) {
    return ConfigError("server.auth.token.maxPendingReviews", "must be >= 1");
  }
  const std::pair<const char*, int> quotas[] = {
      {"server.quotas.concurrentExecutions",
       server.quotas.concurrent_executions},
      {"server.quotas.executionsPerMinute",
       server.quotas.executions_per_minute},
      {"server.quotas.openSessions", server.quotas.open_sessions},
  };
  for (const auto& [path, value] : quotas) {
    if (absl::Status s = CheckNotNegative(path, value); !s.ok()) return s;
  }
  return CheckNotEmpty("server.listenAddress", server.listen_address);
}

absl::Status ValidateDispatcher(const DispatcherOptions& dispatcher) {
  if (dispatcher.workers < 1) {
    return ConfigError("dispatcher.workers", "must be >= 1");
  }
  return CheckNotNegative("dispatcher.queueSize", dispatcher.queue_size);
}

absl::Status ValidateSessions(const SessionOptions& sessions) {
  const std::pair<const char*, absl::Duration> positive[] = {
      {"sessions.defaultIdleTimeout", sessions.default_idle_timeout},
      {"sessions.maxIdleTimeout", sessions.max_idle_timeout},
      {"sessions.defaultMaxLifetime", sessions.default_max_lifetime},
      {"sessions.maxLifetime", sessions.max_lifetime},
  };
  for (const auto& [path, value] : positive) {
    if (value <= absl::ZeroDuration()) {
      return ConfigError(path, "must be greater than zero");
    }
  }
  if (sessions.default_idle_timeout > sessions.max_idle_timeout) {
    return ConfigError("sessions.defaultIdleTimeout",
                       "must not exceed sessions.maxIdleTimeout");
  }
  if (sessions.default_max_lifetime > sessions.max_lifetime) {
    return ConfigError("sessions.defaultMaxLifetime",
                       "must not exceed sessions.maxLifetime");
  }
  return CheckNotNegative("sessions.maxSessions", sessions.max_sessions);
}

absl::Status ValidateLimits(const LimitsOptions& limits) {
  const ResourceLimits& resources = limits.default_resources;
  if (limits.default_timeout <= absl::ZeroDuration()) {
    return ConfigError("limits.defaults.timeout", "must be greater than zero");
  }
  if (limits.max_timeout <= absl::ZeroDuration()) {
    return ConfigError("limits.maxima.timeout", "must be greater than zero");
  }
  if (limits.default_timeout > limits.max_timeout) {
    return ConfigError(
        "limits.defaults.timeout",
        absl::StrCat(absl::FormatDuration(limits.default_timeout),
                     " is above limits.maxima.timeout (",
                     absl::FormatDuration(limits.max_timeout), ")"));
  }
  return FirstError({
      CheckNotNegative("limits.defaults.cpuRequested",
                       resources.cpu_request_millis),
      CheckPositive("limits.defaults.cpuLimit", resources.cpu_limit_millis),
      CheckNotNegative("limits.defaults.memoryRequested",
                       resources.memory_request_bytes),
      CheckPositive("limits.defaults.memoryLimit",
                    resources.memory_limit_bytes),
      CheckPositive("limits.defaults.maxOutputBytes",
                    limits.default_max_output_bytes),
      CheckPositive("limits.maxima.cpu", limits.max_cpu_millis),
      CheckPositive("limits.maxima.memory", limits.max_memory_bytes),
      CheckPositive("limits.maxima.outputBytes", limits.max_output_bytes),
      CheckPositive("limits.maxima.codeBytes", limits.max_code_bytes),
      CheckNotNegative("limits.maxima.stdinBytes", limits.max_stdin_bytes),
      CheckNotNegative("limits.maxima.envVars", limits.max_env_vars),
      CheckNotNegative("limits.maxima.inputFiles", limits.max_input_files),
      CheckNotNegative("limits.maxima.inputFileBytes",
                       limits.max_input_file_bytes),
      CheckNotNegative("limits.maxima.outputFiles", limits.max_output_files),
      CheckNotNegative("limits.maxima.outputFileBytes",
                       limits.max_output_file_bytes),
      CheckNotAbove("limits.defaults.cpuRequested",
                    resources.cpu_request_millis, "limits.defaults.cpuLimit",
                    resources.cpu_limit_millis, FormatCpuMillis),
      CheckNotAbove("limits.defaults.memoryRequested",
                    resources.memory_request_bytes,
                    "limits.defaults.memoryLimit", resources.memory_limit_bytes,
                    FormatBytes),
      CheckNotAbove("limits.defaults.cpuLimit", resources.cpu_limit_millis,
                    "limits.maxima.cpu", limits.max_cpu_millis,
                    FormatCpuMillis),
      CheckNotAbove("limits.defaults.memoryLimit", resources.memory_limit_bytes,
                    "limits.maxima.memory", limits.max_memory_bytes,
                    FormatBytes),
      CheckNotAbove(
          "limits.defaults.maxOutputBytes", limits.default_max_output_bytes,
          "limits.maxima.outputBytes", limits.max_output_bytes, FormatBytes),
  });
}

absl::Status ValidateLanguage(const std::string& name,
                              const LanguageProfile& profile) {
  const std::string path = JoinKeyPath("languages", name);
  if (name.empty()) return ConfigError("languages", "a name is empty");
  const std::string file_path = JoinKeyPath(path, "file");
  if (absl::Status status = CheckNotEmpty(file_path, profile.file_name);
      !status.ok()) {
    return status;
  }
  if (absl::StrContains(profile.file_name, "/") || profile.file_name == "." ||
      profile.file_name == "..") {
    return ConfigError(file_path,
                       absl::StrCat("must be a plain file name, got ",
                                    Quoted(profile.file_name)));
  }
  const std::string command_path = JoinKeyPath(path, "command");
  if (profile.command.empty()) {
    return ConfigError(command_path, "must not be empty");
  }
  if (profile.command.front().empty()) {
    return ConfigError(absl::StrCat(command_path, "[0]"), "must not be empty");
  }
  for (const auto& [variable, value] : profile.env) {
    if (variable.empty() || absl::StrContains(variable, "=")) {
      return ConfigError(
          JoinKeyPath(path, "env"),
          absl::StrCat("invalid variable name ", Quoted(variable)));
    }
  }
  if (!profile.rootfs.empty()) {
    return CheckAbsolutePath(JoinKeyPath(path, "rootfs"), profile.rootfs);
  }
  return absl::OkStatus();
}

absl::Status ValidateLanguages(const ValidatorOptions& validation) {
  if (validation.languages.empty()) {
    return ConfigError("languages", "at least one language is required");
  }
  std::vector<std::string> names;
  for (const auto& [name, profile] : validation.languages) {
    if (absl::Status status = ValidateLanguage(name, profile); !status.ok()) {
      return status;
    }
    names.push_back(name);
  }
  if (!validation.languages.contains(validation.default_language)) {
    return ConfigError(
        "defaultLanguage",
        absl::StrCat(Quoted(validation.default_language),
                     " is not a configured language (configured: ",
                     absl::StrJoin(names, ", "), ")"));
  }
  return absl::OkStatus();
}

absl::Status ValidateLocal(const LocalBackendOptions& local) {
  if (local.kill_grace < absl::ZeroDuration()) {
    return ConfigError("local.killGrace", "must not be negative");
  }
  if (absl::Status pool = CheckWarmPool("local.warmPool", local.warm_pool);
      !pool.ok()) {
    return pool;
  }
  if (local.max_processes < 1) {
    return ConfigError("local.maxProcesses", "must be >= 1");
  }
  if (local.host_pids_limit < local.max_processes) {
    return ConfigError(
        "local.hostPidsLimit",
        absl::StrCat("must be >= local.maxProcesses (", local.max_processes,
                     "), got ", local.host_pids_limit));
  }
  return FirstError({
      CheckNotEmpty("local.runscPath", local.runsc_path),
      CheckAbsolutePath("local.stateDir", local.state_dir),
      CheckAbsolutePath("local.rootfs", local.rootfs),
      CheckNotEmpty("local.platform", local.platform),
      // A tmpfs of size 0 would be unlimited.
      CheckPositive("local.workspaceSize", local.workspace_bytes),
      CheckPositive("local.tmpSize", local.tmp_bytes),
      CheckNotEmpty("local.cgroupParent", local.cgroup_parent),
  });
}

}  // namespace

absl::Status ValidateServerConfig(const ServerConfig& config) {
  return FirstError({
      ValidateServer(config.server),
      ValidateDispatcher(config.dispatcher),
      ValidateSessions(config.sessions),
      ValidateLimits(config.validation.limits),
      ValidateLanguages(config.validation),
      ValidateLocal(config.local),
      ValidateKubernetesSection(config.kubernetes),
  });
}

}  // namespace codeexec
