// The production backend: each execution is a ConfigMap (code, launcher,
// input files) and a Job whose single pod runs under runtimeClassName gvisor
// with a hardened securityContext. The pod's log (framed stdout/stderr
// records from the launcher) is followed and streamed to the client; the
// Job and ConfigMap are deleted as soon as the run ends, on every path. One
// shared pod watch per replica tells executions about their pods; a janitor
// deletes what no live execution owns (e.g. after a crash).
#ifndef CODEEXEC_SERVER_KUBE_KUBERNETES_BACKEND_H_
#define CODEEXEC_SERVER_KUBE_KUBERNETES_BACKEND_H_

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/registry.h"
#include "server/exec/backend.h"
#include "server/exec/warm_pool.h"
#include "server/kube/client/rest_client.h"
#include "server/kube/kube_options.h"
#include "server/kube/objects/objects.h"
#include "server/kube/pod_watcher.h"
#include "server/kube/warm_pods.h"
#include "server/metrics/warm_pool_metrics.h"

namespace codeexec::kube {

// Who this replica is: from the Downward API (POD_NAME, POD_UID), else the
// host name (then objects carry no ownerReferences).
struct ReplicaIdentity {
  std::string replica;            // label value
  std::optional<OwnerPod> owner;  // for ownerReferences
  static ReplicaIdentity FromEnvironment();
};

class KubernetesBackend : public Backend {
 public:
  // Resolves the connection, lists this replica's pods (which checks reach
  // and RBAC), starts the shared watch and the janitor (whose first pass
  // runs at once). With options.warm_pool.size > 0 it also creates the
  // replica's launcher ConfigMap and starts filling the warm pool with pods
  // of `warm_shape` (the default language's image, the default resources,
  // and as timeout the longest a run may take). `registry` may be null.
  static absl::StatusOr<std::unique_ptr<KubernetesBackend>> Create(
      KubernetesOptions options, ReplicaIdentity identity,
      std::shared_ptr<prometheus::Registry> registry,
      ExecutionSpec warm_shape = {});
  ~KubernetesBackend() override;

  std::string_view Name() const override { return kKubernetesBackendName; }
  absl::Status Validate(const ExecutionSpec& spec) const override;
  // A run that fits the warm pool (WarmPods::Fits) takes a running pod if
  // one is idle: timings.create is then the claim and the request's
  // delivery, schedule and start are 0. Otherwise its own ConfigMap and Job.
  absl::StatusOr<ExecutionResult> Run(const ExecutionSpec& spec,
                                      OutputSink& sink,
                                      const Cancellation& cancel) override;

  // A KubeSession (kube_session.h): a pod of the warm pool if one is idle,
  // fits `shape` (WarmPods::Fits) and lives long enough for `max_lifetime`,
  // else a pod of the same kind started for the session and named by
  // `session_id` (its Job ends after max_lifetime and a minute). Sessions
  // need the warm pool's parts (its launcher ConfigMap, the attach rights):
  // FAILED_PRECONDITION when kubernetes.warmPool.size is 0.
  absl::StatusOr<std::unique_ptr<SandboxSession>> StartSession(
      const ExecutionSpec& shape, std::string_view session_id,
      absl::Duration max_lifetime) override;

  // The warm pool (null when kubernetes.warmPool.size is 0); for tests and
  // benchmarks that wait for it to fill.
  const WarmPool* warm_pool() const { return warm_pool_.get(); }

 private:
  KubernetesBackend(KubernetesOptions options, ReplicaIdentity identity,
                    std::unique_ptr<RestClient> client,
                    std::shared_ptr<prometheus::Registry> registry);
  absl::Status CreateObject(const std::string& resource,
                            const std::string& collection_path,
                            const nlohmann::json& object,
                            const std::string& execution_id,
                            const Cancellation* cancel);
  absl::Status DeleteObject(const std::string& resource,
                            const std::string& object_path,
                            const std::string& propagation);
  void DeleteExecutionObjects(const std::string& execution_id);
  // Marks `id` live (or not) for the janitor.
  void SetLive(const std::string& id, bool live);
  // Creates the launcher ConfigMap and starts the pool (Create).
  absl::Status StartWarmPool(ExecutionSpec shape);
  // The run in a warm pod, or nullopt if it must run cold (the reason is
  // counted). kubernetes_backend_warm.cc.
  std::optional<absl::StatusOr<ExecutionResult>> RunWarm(
      const ExecutionSpec& spec, OutputSink& sink, const Cancellation& cancel);
  // The cold path: its own ConfigMap and Job. kubernetes_backend_run.cc.
  absl::StatusOr<ExecutionResult> RunCold(const ExecutionSpec& spec,
                                          OutputSink& sink,
                                          const Cancellation& cancel);
  // Deletes this replica's objects that no live execution owns; returns how
  // many it deleted. JanitorLoop runs it every janitor_interval.
  absl::StatusOr<int> CollectOrphans();
  void JanitorLoop();

  const KubernetesOptions options_;
  const ReplicaIdentity identity_;
  // What BuildConfigMap and BuildJob need: the same for Validate and Run.
  const ObjectContext context_;
  const std::string label_selector_;
  std::unique_ptr<RestClient> client_;
  std::unique_ptr<PodWatcher> watcher_;
  prometheus::Family<prometheus::Counter>* janitor_deleted_ = nullptr;
  prometheus::Counter* watch_restarts_ = nullptr;

  absl::Mutex live_mu_;
  std::set<std::string> live_executions_ ABSL_GUARDED_BY(live_mu_);
  Cancellation stopping_;
  std::thread janitor_;
  WarmPoolMetrics warm_metrics_;
  std::unique_ptr<WarmPods> warm_pods_;
  // Last: destroyed (its pods deleted) before what it uses.
  std::unique_ptr<WarmPool> warm_pool_;
};

}  // namespace codeexec::kube

#endif  // CODEEXEC_SERVER_KUBE_KUBERNETES_BACKEND_H_
