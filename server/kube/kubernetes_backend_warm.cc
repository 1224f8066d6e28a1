// KubernetesBackend's warm pool: starting it, one run in a warm pod, and
// the pods of sessions.
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/exec/json_log.h"
#include "server/kube/attach_run.h"
#include "server/kube/kube_session.h"
#include "server/kube/kubernetes_backend.h"
#include "server/launcher/launcher_bundle.h"
#include "server/launcher/python_prestart.h"

namespace codeexec::kube {

void KubernetesBackend::SetLive(const std::string& id, bool live) {
  absl::MutexLock lock(&live_mu_);
  if (live) {
    live_executions_.insert(id);
  } else {
    live_executions_.erase(id);
  }
}

absl::Status KubernetesBackend::StartWarmPool(ExecutionSpec shape) {
  if (options_.warm_pool.size <= 0) return absl::OkStatus();
  warm_pods_ = std::make_unique<WarmPods>(
      *client_, *watcher_, options_, context_, std::move(shape),
      options_.warm_pool.max_age,
      [this](const std::string& id, bool live) { SetLive(id, live); });
  if (absl::Status created = warm_pods_->CreateLauncherConfigMap();
      !created.ok()) {
    return absl::Status(
        created.code(),
        absl::StrCat("kubernetes.warmPool: cannot create the launcher "
                     "ConfigMap: ",
                     created.message()));
  }
  WarmPool::Hooks hooks;
  hooks.start = [this] { return warm_pods_->Start(); };
  hooks.retire = [this](std::unique_ptr<WarmSandbox> sandbox) {
    warm_pods_->Retire(std::move(sandbox));
  };
  warm_metrics_.Observe(hooks);
  warm_pool_ = std::make_unique<WarmPool>(options_.warm_pool, std::move(hooks));
  return absl::OkStatus();
}

std::optional<absl::StatusOr<ExecutionResult>> KubernetesBackend::RunWarm(
    const ExecutionSpec& spec, OutputSink& sink, const Cancellation& cancel) {
  if (warm_pool_ == nullptr) return std::nullopt;
  if (!warm_pods_->Fits(spec)) {
    warm_metrics_.RecordColdRun(ColdReason::kShape);
    return std::nullopt;
  }
  // A request the format cannot carry, or a run already cancelled, is
  // reported by the cold path as always, without using up a pod.
  absl::StatusOr<std::string> request = BuildRequest(spec);
  if (!request.ok() || cancel.IsCancelled()) return std::nullopt;
  const absl::Time claim_start = absl::Now();
  std::unique_ptr<WarmSandbox> claimed = warm_pool_->Claim();
  if (claimed == nullptr) {
    warm_metrics_.RecordColdRun(ColdReason::kEmpty);
    return std::nullopt;
  }
  auto& pod = static_cast<KubeWarmSandbox&>(*claimed);
  AttachRun run(spec, sink, cancel);
  AttachRunOutcome outcome = run.Run(
      pod.attached, *request, claim_start,
      [&pod](absl::Time deadline) { return pod.WaitTerminated(deadline); });
  const absl::Time cleanup_start = absl::Now();
  warm_pods_->Release(pod);
  const absl::Duration cleanup = absl::Now() - cleanup_start;
  warm_metrics_.RecordClaim();
  if (outcome.delivered_at.has_value()) {
    warm_metrics_.RecordClaimLatency(*outcome.delivered_at - claim_start);
  }
  if (outcome.first_output_at.has_value()) {
    warm_metrics_.RecordFirstOutput(*outcome.first_output_at - claim_start);
  }
  ExecutionResult result = std::move(outcome.result);
  result.timings.create =
      outcome.delivered_at.value_or(claim_start) - claim_start;
  result.timings.run -= result.timings.create;
  result.timings.cleanup = cleanup;
  return absl::StatusOr<ExecutionResult>(std::move(result));
}

absl::StatusOr<std::unique_ptr<SandboxSession>> KubernetesBackend::StartSession(
    const ExecutionSpec& shape, std::string_view session_id,
    absl::Duration max_lifetime) {
  if (warm_pool_ == nullptr) {
    return absl::FailedPreconditionError(
        "sessions on the kubernetes backend run in pods of the warm pool's "
        "kind: set kubernetes.warmPool.size > 0");
  }
  std::unique_ptr<KubeWarmSandbox> pod;
  if (warm_pods_->Fits(shape) &&
      max_lifetime <= warm_pods_->claimed_lifetime()) {
    if (std::unique_ptr<WarmSandbox> claimed = warm_pool_->Claim()) {
      warm_metrics_.RecordClaim();
      pod.reset(static_cast<KubeWarmSandbox*>(claimed.release()));
    }
  }
  if (pod == nullptr) {
    ExecutionSpec named = shape;
    named.execution_id = std::string(session_id);
    absl::StatusOr<std::unique_ptr<KubeWarmSandbox>> started =
        warm_pods_->StartPod(named, max_lifetime + absl::Minutes(1), "");
    if (!started.ok()) {
      return absl::Status(started.status().code(),
                          absl::StrCat("cannot start the session's pod: ",
                                       started.status().message()));
    }
    pod = *std::move(started);
  }
  return std::unique_ptr<SandboxSession>(std::make_unique<KubeSession>(
      *warm_pods_, std::move(pod), KernelFor(shape.language)));
}

}  // namespace codeexec::kube
