// code_executor_server: the CodeExecutor gRPC service.
//
//   code_executor_server [--config FILE] [--set dotted.key=value]...
//                        [--listen_address HOST:PORT] [--metrics_address ...]
//                        [--backend NAME] [--workers N] [--queue_size N]
//                        [--ports_file FILE]
//
// Shuts down on SIGTERM/SIGINT in two phases: stop accepting (health
// NOT_SERVING, new calls UNAVAILABLE) and let running executions finish
// within server.shutdownGrace; then cancel the rest and exit.
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "server/api/code_executor_service.h"
#include "server/api/server_credentials.h"
#include "server/config/server_config.h"
#include "server/exec/dispatcher.h"
#include "server/exec/json_log.h"
#include "server/exec/session_registry.h"
#include "server/kube/kubernetes_backend.h"
#include "server/kube/token_review.h"
#include "server/local/gvisor_backend.h"
#include "server/metrics/service_metrics.h"
#include "server/metrics/session_metrics.h"

ABSL_FLAG(std::string, config, "",
          "Server config file (YAML, kind ServerConfig); empty = defaults.");
ABSL_FLAG(std::string, listen_address, "", "Overrides server.listenAddress.");
ABSL_FLAG(std::string, metrics_address, "", "Overrides server.metricsAddress.");
ABSL_FLAG(std::string, backend, "", "Overrides server.backend.");
ABSL_FLAG(int, workers, 0, "Overrides dispatcher.workers (when > 0).");
ABSL_FLAG(int, queue_size, -1, "Overrides dispatcher.queueSize (when >= 0).");
ABSL_FLAG(std::string, ports_file, "", "Overrides server.portsFile.");

namespace codeexec {
namespace {

constexpr char kServiceName[] = "codeexecutor.v1.CodeExecutor";
// After cancelling what outlived the grace period: time for sandboxes to be
// torn down and Finished events to reach clients.
constexpr absl::Duration kCancelGrace = absl::Seconds(15);

}  // namespace

// Logs why the server cannot start; returns the process's exit code.
int StartupFailed(absl::string_view message, int exit_code) {
  LogEvent(LogLevel::kError, "startup_failed",
           {{"message", std::string(message)}});
  return exit_code;
}

namespace {

// `--set k=v` may be repeated, which absl flags cannot accumulate: take the
// occurrences out of argv before absl parses the rest.
std::vector<std::string> ExtractSetOverrides(int& argc, char** argv) {
  std::vector<std::string> overrides;
  int out = 1;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if ((arg == "--set" || arg == "-set") && i + 1 < argc) {
      overrides.push_back(argv[++i]);
    } else if (absl::StartsWith(arg, "--set=")) {
      overrides.push_back(std::string(arg.substr(6)));
    } else {
      argv[out++] = argv[i];
    }
  }
  argc = out;
  return overrides;
}

void AddFlagOverrides(std::vector<std::string>& overrides) {
  // String values are quoted so that "[::]:50051" stays a string.
  auto add = [&](const char* key, const std::string& value) {
    overrides.push_back(StringOverride(key, value));
  };
  if (auto v = absl::GetFlag(FLAGS_listen_address); !v.empty())
    add("server.listenAddress", v);
  if (auto v = absl::GetFlag(FLAGS_metrics_address); !v.empty())
    add("server.metricsAddress", v);
  if (auto v = absl::GetFlag(FLAGS_backend); !v.empty())
    add("server.backend", v);
  if (auto v = absl::GetFlag(FLAGS_workers); v > 0)
    add("dispatcher.workers", std::to_string(v));
  if (auto v = absl::GetFlag(FLAGS_queue_size); v >= 0)
    add("dispatcher.queueSize", std::to_string(v));
  if (auto v = absl::GetFlag(FLAGS_ports_file); !v.empty())
    add("server.portsFile", v);
}

// {"grpc": …, "metrics": …} and, with server.healthAddress, "health".
absl::Status WritePortsFile(const std::string& path, int grpc_port,
                            int metrics_port, int health_port) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    nlohmann::json ports{{"grpc", grpc_port}, {"metrics", metrics_port}};
    if (health_port > 0) ports["health"] = health_port;
    out << ports.dump() << "\n";
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", tmp));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(
        absl::StrCat("cannot rename ", tmp, " to ", path));
  }
  return absl::OkStatus();
}

// The run of a request that sets only its code: the default language with
// its env, the default resources. The warm pools are of its shape.
ExecutionSpec DefaultRun(const ServerConfig& config) {
  ExecutionSpec run;
  run.language =
      config.validation.languages.at(config.validation.default_language);
  run.language_name = config.validation.default_language;
  run.env = run.language.env;  // as the request validator sets it
  run.resources = config.validation.limits.default_resources;
  run.timeout = config.validation.limits.default_timeout;
  return run;
}

absl::StatusOr<std::unique_ptr<Backend>> MakeBackend(
    const ServerConfig& config, const ServiceMetrics& metrics) {
  if (config.server.backend == kGvisorLocalBackendName) {
    for (const auto& [name, profile] : config.validation.languages) {
      if (profile.rootfs.empty()) continue;
      absl::Status status = CheckSandboxRootfs(
          absl::StrCat("languages.", name, ".rootfs"), profile.rootfs);
      if (!status.ok()) return status;
    }
    // Warm sandboxes are of the default run's shape.
    SandboxShape warm_shape = ShapeOf(
        config.validation.languages.at(config.validation.default_language),
        config.validation.limits.default_resources, config.local);
    absl::StatusOr<std::unique_ptr<GvisorBackend>> backend =
        GvisorBackend::Create(config.local, std::move(warm_shape),
                              metrics.registry().get(), DefaultRun(config));
    if (!backend.ok()) return backend.status();
    return std::unique_ptr<Backend>(std::move(*backend));
  }
  if (config.server.backend == kKubernetesBackendName) {
    // Warm pods are of the default run's shape and live long enough for
    // the longest run.
    ExecutionSpec warm_shape = DefaultRun(config);
    warm_shape.timeout = config.validation.limits.max_timeout;
    absl::StatusOr<std::unique_ptr<kube::KubernetesBackend>> backend =
        kube::KubernetesBackend::Create(
            config.kubernetes, kube::ReplicaIdentity::FromEnvironment(),
            metrics.registry(), std::move(warm_shape));
    if (!backend.ok()) return backend.status();
    return std::unique_ptr<Backend>(std::move(*backend));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("server.backend: \"", config.server.backend,
                   "\" is not available in this build"));
}

int Run(const ServerConfig& config) {
  ServiceMetrics metrics;
  absl::StatusOr<std::unique_ptr<Backend>> backend =
      MakeBackend(config, metrics);
  if (!backend.ok()) {
    return StartupFailed(backend.status().message(), 1);
  }
  std::unique_ptr<prometheus::Exposer> exposer;
  int metrics_port = 0;
  if (!config.server.metrics_address.empty()) {
    auto started = StartMetricsExposer(config.server.metrics_address, metrics);
    if (!started.ok()) {
      return StartupFailed(started.status().message(), 1);
    }
    exposer = std::move(*started);
    metrics_port = exposer->GetListeningPorts().at(0);
  }

  // The registry outlives the dispatcher: cells still running at shutdown
  // release their sessions into it.
  SessionMetrics session_metrics(metrics.registry().get());
  SessionRegistry sessions(config.sessions, **backend, session_metrics.Hooks());
  Dispatcher dispatcher(config.dispatcher, **backend, &metrics);
  // Mode token: tokens are checked with TokenReviews on the Kubernetes API.
  std::unique_ptr<kube::RestClient> review_client;
  std::unique_ptr<TokenAuthenticator> tokens;
  if (config.server.auth.mode == "token") {
    absl::StatusOr<std::unique_ptr<kube::RestClient>> client =
        kube::ConnectForTokenReviews(config.kubernetes, metrics.registry());
    if (!client.ok()) return StartupFailed(client.status().message(), 1);
    review_client = *std::move(client);
    tokens = std::make_unique<TokenAuthenticator>(
        config.server.auth.token,
        [client = review_client.get()](
            const std::string& token, const std::string& audience,
            const Cancellation& cancel) -> absl::StatusOr<TokenVerdict> {
          absl::StatusOr<kube::TokenReviewStatus> status =
              kube::ReviewToken(*client, token, audience, &cancel);
          if (!status.ok()) return status.status();
          return TokenVerdict{.authenticated = status->authenticated,
                              .username = status->username,
                              .audiences = status->audiences,
                              .error = status->error};
        });
    if (config.server.tls.cert_file.empty()) {
      LogWarning("auth",
                 "server.auth.mode token without server.tls: bearer tokens "
                 "arrive in plaintext; anyone on the network path can replay "
                 "them here until they expire");
    }
  }
  CodeExecutorService service(
      config.validation, config.server.max_unsent_output_bytes, **backend,
      dispatcher, &metrics, &sessions, config.server.auth, tokens.get(),
      config.server.quotas);
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      ServerCredentialsFor(config.server.tls);
  if (!credentials.ok())
    return StartupFailed(credentials.status().message(), 1);

  grpc::EnableDefaultHealthCheckService(true);
  // The health port serves health only (no reflection, no CodeExecutor).
  grpc::CallbackGenericService no_methods;
  std::unique_ptr<grpc::Server> health_server;
  int health_port = 0;
  if (!config.server.health_address.empty()) {
    grpc::ServerBuilder health_builder;
    health_builder.SetOption(WithoutReflection());
    // Serves no method of its own (every other one is UNIMPLEMENTED); gRPC
    // needs a service registered to poll for the health service's calls.
    health_builder.RegisterCallbackGenericService(&no_methods);
    health_builder.AddListeningPort(config.server.health_address,
                                    grpc::InsecureServerCredentials(),
                                    &health_port);
    health_server = health_builder.BuildAndStart();
    if (health_server == nullptr || health_port == 0) {
      return StartupFailed(
          absl::StrCat("cannot listen on ", config.server.health_address,
                       " (server.healthAddress)"),
          1);
    }
  }
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int grpc_port = 0;
  builder.AddListeningPort(config.server.listen_address, *credentials,
                           &grpc_port);
  const LimitsOptions& limits = config.validation.limits;
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(limits.max_code_bytes + limits.max_stdin_bytes +
                       limits.max_input_file_bytes + (int64_t{1} << 20)));
  builder.RegisterService(&service);
  if (!config.server.reflection) builder.SetOption(WithoutReflection());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || grpc_port == 0) {
    return StartupFailed(
        absl::StrCat("cannot listen on ", config.server.listen_address,
                     " (server.listenAddress)"),
        1);
  }
  auto set_serving = [&](bool serving) {
    for (grpc::Server* s : {server.get(), health_server.get()}) {
      if (s == nullptr) continue;
      s->GetHealthCheckService()->SetServingStatus(serving);
      s->GetHealthCheckService()->SetServingStatus(kServiceName, serving);
    }
  };
  set_serving(true);
  if (!config.server.ports_file.empty()) {
    if (absl::Status s = WritePortsFile(config.server.ports_file, grpc_port,
                                        metrics_port, health_port);
        !s.ok()) {
      return StartupFailed(s.message(), 1);
    }
  }
  LogEvent(LogLevel::kInfo, "serving",
           {{"grpc_port", grpc_port},
            {"metrics_port", metrics_port},
            {"backend", config.server.backend},
            {"tls", !config.server.tls.cert_file.empty()},
            {"auth", config.server.auth.mode},
            {"reflection", config.server.reflection},
            {"workers", config.dispatcher.workers},
            {"queue_size", config.dispatcher.queue_size}});

  // Signals are blocked in every thread (see main); wait for one here.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  int signal_number = 0;
  sigwait(&signals, &signal_number);

  // Phase 1: stop accepting, let running executions finish.
  LogEvent(LogLevel::kInfo, "shutdown_started",
           {{"signal", signal_number},
            {"running", dispatcher.running()},
            {"queued", dispatcher.queued()}});
  set_serving(false);
  dispatcher.StopAccepting();
  bool drained = dispatcher.WaitIdle(config.server.shutdown_grace);
  // Sessions end with the replica: running cells are cancelled, every
  // session's sandbox deleted (on the registry's closer thread).
  sessions.CloseAll();
  // Phase 2: cancel the rest (their sandboxes are torn down).
  if (!drained) {
    dispatcher.CancelAll("the server is shutting down");
    drained = dispatcher.WaitIdle(kCancelGrace);
  }
  // Lets the streams deliver their Finished events, then cancels stragglers.
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  if (health_server != nullptr) health_server->Shutdown();
  LogEvent(LogLevel::kInfo, "shutdown_complete", {{"drained", drained}});
  // civetweb's stop (inside ~Exposer) waits out its 2 s poll quantum; the
  // exposer holds nothing that needs a clean stop, so exit without it.
  // Everything else (dispatcher, backend, server) is destroyed normally.
  (void)exposer.release();
  return 0;
}

}  // namespace
}  // namespace codeexec

int main(int argc, char** argv) {
  // Block the shutdown signals before any thread starts, so that only
  // sigwait() in Run() receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  absl::SetProgramUsageMessage(
      "Runs untrusted code in gVisor sandboxes behind a gRPC API.\n"
      "  code_executor_server --config server.yaml [--set key.path=value]...");
  std::vector<std::string> overrides =
      codeexec::ExtractSetOverrides(argc, argv);
  absl::ParseCommandLine(argc, argv);
  codeexec::AddFlagOverrides(overrides);

  absl::StatusOr<codeexec::ServerConfig> config =
      codeexec::LoadServerConfig(absl::GetFlag(FLAGS_config), overrides);
  if (!config.ok()) {
    return codeexec::StartupFailed(
        absl::StrCat("invalid configuration: ", config.status().message()), 2);
  }
  return codeexec::Run(*config);
}
