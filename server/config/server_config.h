// The server's one configuration file (YAML, apiVersion codeexecutor/v1, kind
// ServerConfig) and its command-line overrides, parsed into the Options
// structs of each component.
#ifndef CODEEXEC_SERVER_CONFIG_SERVER_CONFIG_H_
#define CODEEXEC_SERVER_CONFIG_SERVER_CONFIG_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/api/auth_options.h"
#include "server/api/validator_options.h"
#include "server/exec/backend_names.h"
#include "server/exec/dispatcher_options.h"
#include "server/exec/session_options.h"
#include "server/kube/kube_options.h"
#include "server/local/local_backend_options.h"

namespace codeexec {

struct ServerOptions {
  // gRPC listen address (host:port; port 0 picks a free one).
  std::string listen_address = "0.0.0.0:50051";
  // Prometheus /metrics listen address; empty disables the exposer.
  std::string metrics_address = "0.0.0.0:9464";
  // kGvisorLocalBackendName (embedded) or kKubernetesBackendName.
  std::string backend = kGvisorLocalBackendName;
  // On SIGTERM: how long running executions may go on before they are
  // cancelled.
  absl::Duration shutdown_grace = absl::Seconds(30);
  // Where the server writes its chosen ports once listening (for tests and
  // scripts that start it on port 0); empty = nowhere.
  std::string ports_file;
  // Backpressure: output of one call not yet sent to its client (queued or
  // in flight). At this bound the server stops reading that run's output,
  // so the program blocks on its next write while its timeout still runs.
  // Server memory for output is then about workers x this. 2 MiB: many
  // 64 KiB messages to smooth a reading client, while 24 stalled calls stay
  // near 24 x (2 MiB + read-ahead) ~= 60 MiB above the server's ~25 MB.
  int64_t max_unsent_output_bytes = int64_t{2} << 20;
  TlsOptions tls;
  AuthOptions auth;
  QuotaOptions quotas;
  // gRPC server reflection on the gRPC port (grpcurl, Postman): it names
  // the services and messages, nothing more, and is subject to the same
  // transport security. The chart turns it off when auth is on.
  bool reflection = true;
  // A plaintext listener serving only grpc.health.v1, for probes that
  // cannot speak TLS (the kubelet's gRPC probe); empty = none.
  std::string health_address;
};

struct ServerConfig {
  ServerOptions server;
  DispatcherOptions dispatcher;
  SessionOptions sessions;
  ValidatorOptions validation;  // limits + languages
  LocalBackendOptions local;
  kube::KubernetesOptions kubernetes;
};

// The built-in configuration: every default, plus the `python` and `bash`
// language profiles.
ServerConfig DefaultServerConfig();

// Parses YAML text on top of the defaults, then applies `overrides` (each
// "dotted.key.path=value", as given by --set). Unknown keys, wrong types and
// bad quantities or durations fail with the key's path in the message.
absl::StatusOr<ServerConfig> ParseServerConfig(
    std::string_view yaml_text, const std::vector<std::string>& overrides);

// An override that sets `key_path` to the string `value` whatever it looks
// like in YAML (it is double-quoted): "server.listenAddress" + "[::]:50051"
// -> `server.listenAddress="[::]:50051"`. For flags that carry strings.
std::string StringOverride(std::string_view key_path, std::string_view value);

// Checks ranges and cross-field rules (defaults within maxima, request <=
// limit, default language configured, ...). ParseServerConfig calls it; call
// it again after changing a config in code. Errors name the YAML key path.
absl::Status ValidateServerConfig(const ServerConfig& config);

// Reads `path` (empty = defaults only) and calls ParseServerConfig.
absl::StatusOr<ServerConfig> LoadServerConfig(
    const std::string& path, const std::vector<std::string>& overrides);

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_CONFIG_SERVER_CONFIG_H_
