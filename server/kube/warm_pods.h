// Warm sandboxes of the kubernetes backend: Jobs of the pool's shape whose
// launcher waits on stdin (objects/warm_objects.h), started ahead of demand
// and followed through the replica's one shared pod watch (no watch or poll
// of their own). Each is attached to as soon as it runs, so a claim only
// writes the request; a claimed pod serves one run (attach_run.h) and is
// then deleted. WarmPods supplies the pool's start and retire hooks.
#ifndef CODEEXEC_SERVER_KUBE_WARM_PODS_H_
#define CODEEXEC_SERVER_KUBE_WARM_PODS_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "server/exec/execution_spec.h"
#include "server/exec/warm_pool.h"
#include "server/kube/attach_run.h"
#include "server/kube/client/rest_client.h"
#include "server/kube/kube_options.h"
#include "server/kube/objects/objects.h"
#include "server/kube/pod_watcher.h"

namespace codeexec::kube {

class KubeWarmSandbox : public WarmSandbox {
 public:
  explicit KubeWarmSandbox(std::string id) : id_(std::move(id)) {}

  // The newest state says the container runs and nothing deletes the pod,
  // and its attached stream is open.
  bool Alive() override;

  // The Job's name and execution-id label ("cw-" + 12 hex digits).
  const std::string& id() const { return id_; }
  // The pod's name, once the watch has seen it ("" before).
  std::string pod_name() const;

  // From the shared watch (its thread; does not block).
  void OnPodState(const PodState& state);
  // Until the container runs (OK), the pod cannot (FailedPrecondition with
  // its reason) or `deadline` (DeadlineExceeded).
  absl::Status WaitRunning(absl::Time deadline);
  // The container's state.terminated once the watch says it ended, or
  // nullopt at `deadline`.
  std::optional<nlohmann::json> WaitTerminated(absl::Time deadline);

  int subscription = -1;
  // Opened when the pod became ready (Start).
  AttachedStream attached;

 private:
  const std::string id_;
  mutable absl::Mutex mu_;
  std::optional<PodState> latest_ ABSL_GUARDED_BY(mu_);
};

class WarmPods {
 public:
  // `shape`: the language (image) and resources of the pool's runs and, as
  // its timeout, the longest run a pod may serve. `set_live(id, live)`
  // tells the janitor which objects are the pool's. All references must
  // outlive this.
  WarmPods(RestClient& client, PodWatcher& watcher,
           const KubernetesOptions& options, const ObjectContext& context,
           ExecutionSpec shape, absl::Duration max_age,
           std::function<void(const std::string& id, bool live)> set_live);

  // Whether `spec` can run in one of the pool's pods: the same image and
  // resources (requests and limits).
  bool Fits(const ExecutionSpec& spec) const;

  // Creates the replica's launcher ConfigMap (an existing one of ours with
  // another launcher is replaced).
  absl::Status CreateLauncherConfigMap();
  // Deletes it (at shutdown, after the pool's pods).
  void DeleteLauncherConfigMap();

  // Creates one warm Job, waits (up to options.schedule_timeout) until its
  // container runs, and attaches to its launcher.
  absl::StatusOr<std::unique_ptr<WarmSandbox>> Start();
  // The same for a pod of `shape` (its image and resources) named
  // shape.execution_id, its Job ended by Kubernetes after `lifetime`;
  // `first_input` goes to its launcher after the primer. A session's pod
  // when the pool has none that fits (kube_session.h).
  absl::StatusOr<std::unique_ptr<KubeWarmSandbox>> StartPod(
      const ExecutionSpec& shape, absl::Duration lifetime,
      const std::string& first_input);
  // How long a pod claimed from the pool may still live, at least: the
  // longest run it may serve.
  absl::Duration claimed_lifetime() const { return shape_.timeout; }
  // Deletes the sandbox's Job (its pod goes with it) and forgets it.
  void Release(KubeWarmSandbox& sandbox);
  void Retire(std::unique_ptr<WarmSandbox> sandbox) {
    Release(static_cast<KubeWarmSandbox&>(*sandbox));
  }

 private:
  RestClient& client_;
  PodWatcher& watcher_;
  const KubernetesOptions& options_;
  const ObjectContext& context_;
  const ExecutionSpec shape_;
  const absl::Duration lifetime_;
  // Sent to each pod's launcher when it is attached (python_prestart.h).
  const std::string prestart_;
  const std::function<void(const std::string&, bool)> set_live_;
};

}  // namespace codeexec::kube

#endif  // CODEEXEC_SERVER_KUBE_WARM_PODS_H_
