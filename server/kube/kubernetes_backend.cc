#include "server/kube/kubernetes_backend.h"

#include <unistd.h>

#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/exec/backend_names.h"
#include "server/exec/json_log.h"
#include "server/kube/client/api_paths.h"
#include "server/kube/client/cluster_connection.h"
#include "server/kube/object_calls.h"
#include "server/kube/permission_check.h"
#include "server/launcher/launcher_source.h"

namespace codeexec::kube {
namespace {

std::string Getenv(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

}  // namespace

ReplicaIdentity ReplicaIdentity::FromEnvironment() {
  ReplicaIdentity identity;
  std::string name = Getenv("POD_NAME");
  const std::string uid = Getenv("POD_UID");
  if (name.empty()) {
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    name = host;
  } else if (!uid.empty()) {
    identity.owner = OwnerPod{name, uid};
  }
  identity.replica = ReplicaLabelValue(name);
  return identity;
}

absl::StatusOr<std::unique_ptr<KubernetesBackend>> KubernetesBackend::Create(
    KubernetesOptions options, ReplicaIdentity identity,
    std::shared_ptr<prometheus::Registry> registry, ExecutionSpec warm_shape) {
  absl::StatusOr<ClusterConnection> connection =
      ResolveClusterConnection(options, ConnectionEnvironment::FromProcess());
  if (!connection.ok()) return connection.status();
  RestClientOptions client_options;
  client_options.qps = options.qps;
  client_options.burst = options.burst;
  client_options.request_timeout = options.request_timeout;
  absl::StatusOr<std::unique_ptr<RestClient>> client =
      RestClient::Create(*std::move(connection), client_options, registry);
  if (!client.ok()) return client.status();
  std::unique_ptr<KubernetesBackend> backend(
      new KubernetesBackend(std::move(options), std::move(identity),
                            *std::move(client), std::move(registry)));
  if (absl::Status allowed = CheckPermissions(
          *backend->client_, backend->options_.namespace_name,
          RequiredPermissions(backend->options_.warm_pool.size > 0));
      !allowed.ok()) {
    return allowed;
  }
  if (absl::Status started = backend->watcher_->Start(); !started.ok()) {
    return absl::Status(
        started.code(),
        absl::StrCat("cannot watch pods in namespace \"",
                     backend->options_.namespace_name,
                     "\" (kubernetes.namespace): ", started.message()));
  }
  if (absl::Status pool = backend->StartWarmPool(std::move(warm_shape));
      !pool.ok()) {
    return pool;
  }
  backend->janitor_ = std::thread([b = backend.get()] { b->JanitorLoop(); });
  return backend;
}

KubernetesBackend::KubernetesBackend(
    KubernetesOptions options, ReplicaIdentity identity,
    std::unique_ptr<RestClient> client,
    std::shared_ptr<prometheus::Registry> registry)
    : options_(std::move(options)),
      identity_(std::move(identity)),
      context_{&options_, identity_.replica, identity_.owner,
               std::string(LauncherSource())},
      label_selector_(LabelSelectorForReplica(identity_.replica)),
      client_(std::move(client)),
      warm_metrics_(registry.get(), kKubernetesBackendName) {
  if (registry != nullptr) {
    janitor_deleted_ =
        &prometheus::BuildCounter()
             .Name("codeexec_janitor_deleted_total")
             .Help("Orphaned objects of this replica deleted by the janitor.")
             .Register(*registry);
    watch_restarts_ =
        &prometheus::BuildCounter()
             .Name("codeexec_kube_watch_restarts_total")
             .Help("Pod watch reconnections after the first connection.")
             .Register(*registry)
             .Add({});
  }
  watcher_ = std::make_unique<PodWatcher>(
      *client_,
      PodWatcherOptions{.namespace_name = options_.namespace_name,
                        .label_selector = label_selector_},
      watch_restarts_);
}

KubernetesBackend::~KubernetesBackend() {
  if (warm_pool_ != nullptr) {
    warm_pool_.reset();
    warm_pods_->DeleteLauncherConfigMap();
  }
  stopping_.Cancel("the kubernetes backend is stopping");
  if (janitor_.joinable()) janitor_.join();
  watcher_->Stop();
}

absl::Status KubernetesBackend::Validate(const ExecutionSpec& spec) const {
  // The same ConfigMap Run creates (launcher included), so that a request
  // over the limit is INVALID_ARGUMENT here, never a failed run later.
  return BuildConfigMap(spec, context_).status();
}

absl::Status KubernetesBackend::CreateObject(const std::string& resource,
                                             const std::string& collection_path,
                                             const nlohmann::json& object,
                                             const std::string& execution_id,
                                             const Cancellation* cancel) {
  return CreateOwnObject(*client_, resource, collection_path, object,
                         execution_id, cancel);
}

absl::Status KubernetesBackend::DeleteObject(const std::string& resource,
                                             const std::string& object_path,
                                             const std::string& propagation) {
  return DeleteObjectIfExists(*client_, resource, object_path, propagation);
}

void KubernetesBackend::DeleteExecutionObjects(const std::string& id) {
  const std::string& ns = options_.namespace_name;
  // Background: the garbage collector deletes the Job's pod too.
  for (const auto& [resource, propagation] :
       {std::pair<std::string, std::string>{"jobs", "Background"},
        {"configmaps", "Background"}}) {
    absl::Status deleted =
        DeleteObject(resource, ObjectPath(ns, resource, id), propagation);
    if (!deleted.ok()) {
      // The janitor retries later.
      LogEvent(LogLevel::kWarning, "cleanup_failed",
               {{"component", kKubernetesBackendName},
                {"resource", resource},
                {"name", id},
                {"message", std::string(deleted.message())}});
    }
  }
}

absl::StatusOr<int> KubernetesBackend::CollectOrphans() {
  int deleted_count = 0;
  // Pods are not listed: deleting a Job (Background) deletes its pod, and
  // Kubernetes' garbage collector removes a pod whose Job is gone — so the
  // Role needs no delete on pods.
  for (const std::string resource : {"jobs", "configmaps"}) {
    const std::string collection =
        CollectionPath(options_.namespace_name, resource);
    KubeRequest list{.verb = "GET",
                     .path = absl::StrCat(collection, "?labelSelector=",
                                          UrlEncode(label_selector_)),
                     .body = std::nullopt,
                     .resource = resource,
                     .kube_verb = "list"};
    absl::StatusOr<nlohmann::json> items = client_->Call(list, &stopping_);
    if (!items.ok()) return items.status();
    for (const auto& item : items->value("items", nlohmann::json::array())) {
      const std::string id = LabelOf(item, kExecutionIdLabel);
      {
        absl::MutexLock lock(&live_mu_);
        if (id.empty() || live_executions_.contains(id)) continue;
      }
      const std::string name =
          item.value("/metadata/name"_json_pointer, std::string());
      if (DeleteObject(resource, absl::StrCat(collection, "/", name),
                       "Background")
              .ok()) {
        ++deleted_count;
        if (janitor_deleted_ != nullptr) {
          janitor_deleted_->Add({{"kind", resource}}).Increment();
        }
      }
    }
  }
  return deleted_count;
}

void KubernetesBackend::JanitorLoop() {
  do {
    absl::StatusOr<int> collected = CollectOrphans();
    if (!collected.ok() && !stopping_.IsCancelled()) {
      LogEvent(LogLevel::kWarning, "janitor_failed",
               {{"component", kKubernetesBackendName},
                {"message", std::string(collected.status().message())}});
    }
  } while (!stopping_.WaitFor(options_.janitor_interval));
}

}  // namespace codeexec::kube
