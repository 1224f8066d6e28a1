#include "server/kube/warm_pods.h"

#include <optional>
#include <string>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "server/exec/backend_names.h"
#include "server/exec/json_log.h"
#include "server/kube/client/api_paths.h"
#include "server/kube/object_calls.h"
#include "server/kube/objects/warm_objects.h"
#include "server/kube/pod_status.h"
#include "server/launcher/launcher_bundle.h"
#include "server/launcher/python_prestart.h"
#include "server/launcher/request_format.h"

namespace codeexec::kube {
namespace {

bool RunningAndKept(const PodState& state) {
  const nlohmann::json& pod = state.pod;
  return !state.deleted && PodPhase(pod) == "Running" &&
         ContainerStatus(pod).contains("state") &&
         ContainerStatus(pod)["state"].contains("running") &&
         !pod.contains("/metadata/deletionTimestamp"_json_pointer);
}

std::string NewWarmId() {
  absl::BitGen random;
  return absl::StrFormat("cw-%012x",
                         absl::Uniform<uint64_t>(random) & 0xffffffffffffULL);
}

}  // namespace

bool KubeWarmSandbox::Alive() {
  if (attached.inbox == nullptr || attached.inbox->Closed()) return false;
  absl::MutexLock lock(&mu_);
  return latest_.has_value() && RunningAndKept(*latest_);
}

std::string KubeWarmSandbox::pod_name() const {
  absl::MutexLock lock(&mu_);
  if (!latest_.has_value()) return "";
  return latest_->pod.value("/metadata/name"_json_pointer, std::string());
}

void KubeWarmSandbox::OnPodState(const PodState& state) {
  absl::MutexLock lock(&mu_);
  latest_ = state;
}

absl::Status KubeWarmSandbox::WaitRunning(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto decided = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    if (!latest_.has_value()) return false;
    if (RunningAndKept(*latest_) || latest_->deleted) return true;
    const std::string phase = PodPhase(latest_->pod);
    return phase == "Failed" || phase == "Succeeded" ||
           IsHopelessWaitingReason(
               ContainerStatus(latest_->pod)
                   .value("/state/waiting/reason"_json_pointer, std::string()));
  };
  mu_.AwaitWithDeadline(absl::Condition(&decided), deadline);
  if (latest_.has_value() && RunningAndKept(*latest_)) return absl::OkStatus();
  if (!decided()) {
    return absl::DeadlineExceededError(absl::StrCat(
        "warm pod ", id_, " not running in time",
        latest_.has_value() ? absl::StrCat(": ", PendingReason(latest_->pod))
                            : ""));
  }
  return absl::FailedPreconditionError(
      absl::StrCat("warm pod ", id_, " cannot run: ",
                   latest_->deleted ? "deleted" : PendingReason(latest_->pod)));
}

std::optional<nlohmann::json> KubeWarmSandbox::WaitTerminated(
    absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto ended = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return latest_.has_value() && Terminated(latest_->pod).has_value();
  };
  mu_.AwaitWithDeadline(absl::Condition(&ended), deadline);
  if (!latest_.has_value()) return std::nullopt;
  return Terminated(latest_->pod);
}

namespace {

// The PRESTART request for runs of `shape`, "" if its language has no
// starter (or the format cannot carry it: then every run starts fresh).
std::string PrestartOf(const ExecutionSpec& shape) {
  std::optional<Starter> starter = StarterFor(shape.language);
  if (!starter.has_value()) return "";
  absl::StatusOr<std::string> request = BuildPrestartRequest(shape, *starter);
  return request.ok() ? *std::move(request) : "";
}

}  // namespace

WarmPods::WarmPods(RestClient& client, PodWatcher& watcher,
                   const KubernetesOptions& options,
                   const ObjectContext& context, ExecutionSpec shape,
                   absl::Duration max_age,
                   std::function<void(const std::string&, bool)> set_live)
    : client_(client),
      watcher_(watcher),
      options_(options),
      context_(context),
      shape_(std::move(shape)),
      lifetime_(max_age + shape_.timeout),
      prestart_(PrestartOf(shape_)),
      set_live_(std::move(set_live)) {}

bool WarmPods::Fits(const ExecutionSpec& spec) const {
  auto image = [this](const ExecutionSpec& s) {
    return s.language.image.empty() ? options_.default_image : s.language.image;
  };
  const ResourceLimits& a = spec.resources;
  const ResourceLimits& b = shape_.resources;
  return image(spec) == image(shape_) &&
         a.cpu_request_millis == b.cpu_request_millis &&
         a.cpu_limit_millis == b.cpu_limit_millis &&
         a.memory_request_bytes == b.memory_request_bytes &&
         a.memory_limit_bytes == b.memory_limit_bytes;
}

absl::Status WarmPods::CreateLauncherConfigMap() {
  const std::string name = WarmLauncherConfigMapName(context_);
  set_live_(name, true);
  const std::string collection =
      CollectionPath(options_.namespace_name, "configmaps");
  const nlohmann::json configmap = BuildWarmLauncherConfigMap(context_);
  KubeRequest get{.verb = "GET",
                  .path = absl::StrCat(collection, "/", name),
                  .body = std::nullopt,
                  .resource = "configmaps",
                  .kube_verb = "get"};
  absl::StatusOr<nlohmann::json> existing = client_.Call(get);
  if (existing.ok()) {
    // Immutable: one with another launcher (an older server of this
    // replica) is replaced.
    if ((*existing).value("binaryData", nlohmann::json()) ==
        configmap["binaryData"]) {
      return absl::OkStatus();
    }
    absl::Status deleted =
        DeleteObjectIfExists(client_, "configmaps",
                             absl::StrCat(collection, "/", name), "Background");
    if (!deleted.ok()) return deleted;
  } else if (!absl::IsNotFound(existing.status())) {
    return existing.status();
  }
  return CreateOwnObject(client_, "configmaps", collection, configmap, name,
                         nullptr);
}

void WarmPods::DeleteLauncherConfigMap() {
  const std::string name = WarmLauncherConfigMapName(context_);
  absl::Status deleted = DeleteObjectIfExists(
      client_, "configmaps",
      ObjectPath(options_.namespace_name, "configmaps", name), "Background");
  if (!deleted.ok()) {
    LogWarning(kKubernetesBackendName,
               absl::StrCat("deleting ", name, ": ", deleted.message()));
  }
  set_live_(name, false);
}

absl::StatusOr<std::unique_ptr<WarmSandbox>> WarmPods::Start() {
  ExecutionSpec shape = shape_;
  shape.execution_id = NewWarmId();
  absl::StatusOr<std::unique_ptr<KubeWarmSandbox>> started =
      StartPod(shape, lifetime_, prestart_);
  if (!started.ok()) return started.status();
  return std::unique_ptr<WarmSandbox>(*std::move(started));
}

absl::StatusOr<std::unique_ptr<KubeWarmSandbox>> WarmPods::StartPod(
    const ExecutionSpec& shape, absl::Duration lifetime,
    const std::string& first_input) {
  auto sandbox = std::make_unique<KubeWarmSandbox>(shape.execution_id);
  set_live_(sandbox->id(), true);
  KubeWarmSandbox* raw = sandbox.get();
  sandbox->subscription = watcher_.Subscribe(
      sandbox->id(), [raw](const PodState& state) { raw->OnPodState(state); });
  absl::Status status = CreateOwnObject(
      client_, "jobs", CollectionPath(options_.namespace_name, "jobs"),
      BuildWarmJob(shape, context_, lifetime), sandbox->id(), nullptr);
  if (status.ok()) {
    status = sandbox->WaitRunning(absl::Now() + options_.schedule_timeout);
  }
  if (status.ok()) {
    absl::StatusOr<AttachedStream> attached =
        AttachToPod(client_, options_.namespace_name, sandbox->pod_name());
    if (attached.ok()) {
      // Pays the stream's first-byte set-up (~50 ms through containerd)
      // now instead of at the claim (the launcher skips the primer), and
      // has the launcher start the interpreter ahead (PRESTART).
      status = attached->stream->Send(
          kStdinChannel,
          absl::StrCat(std::string(1, CE_REQ_PRIMER), first_input));
      sandbox->attached = *std::move(attached);
    } else {
      status = absl::Status(
          attached.status().code(),
          absl::StrCat("cannot attach to pod ", sandbox->pod_name(), ": ",
                       attached.status().message()));
    }
  }
  if (!status.ok()) {
    Release(*sandbox);
    return status;
  }
  return sandbox;
}

void WarmPods::Release(KubeWarmSandbox& sandbox) {
  sandbox.attached.stream.reset();  // closes it
  if (sandbox.subscription >= 0) {
    watcher_.Unsubscribe(sandbox.subscription);
    sandbox.subscription = -1;
  }
  absl::Status deleted = DeleteObjectIfExists(
      client_, "jobs",
      ObjectPath(options_.namespace_name, "jobs", sandbox.id()), "Background");
  if (!deleted.ok()) {
    // The janitor retries: the id is no longer live.
    LogEvent(LogLevel::kWarning, "cleanup_failed",
             {{"component", kKubernetesBackendName},
              {"resource", "jobs"},
              {"name", sandbox.id()},
              {"message", std::string(deleted.message())}});
  }
  set_live_(sandbox.id(), false);
}

}  // namespace codeexec::kube
