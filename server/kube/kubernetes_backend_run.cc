// KubernetesBackend::Run: one execution from ConfigMap to cleanup.
#include <algorithm>
#include <optional>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "server/exec/quantity.h"
#include "server/kube/kubernetes_backend.h"
#include "server/kube/pod_status.h"
#include "server/launcher/frame_parser.h"
#include "server/launcher/launcher_output.h"
#include "server/launcher/launcher_source.h"

namespace codeexec::kube {
namespace {

constexpr char kTimeoutReason[] = "timeout";
constexpr char kOutputLimitReason[] = "output limit";
// How long to wait for the pod's final status after its log ended without
// the launcher's exit record (OOM kill, deadline).
constexpr absl::Duration kFinalStatusWait = absl::Seconds(15);
constexpr int kMaxLogReconnects = 20;
// While the client is behind, how often the log follower looks again at the
// run's own cancellation.
constexpr absl::Duration kRoomRecheck = absl::Seconds(1);

// The newest pod state, delivered by the shared watch; waits wake on a new
// state or on the run's cancellation.
struct PodMailbox {
  absl::Mutex mu;
  std::optional<PodState> latest ABSL_GUARDED_BY(mu);
  int version ABSL_GUARDED_BY(mu) = 0;

  void Post(std::optional<PodState> state) {
    absl::MutexLock lock(&mu);
    if (state.has_value()) latest = std::move(state);
    ++version;
  }
  // Waits until the version moves past `seen` or `deadline`.
  std::optional<PodState> Wait(int& seen, absl::Time deadline) {
    absl::MutexLock lock(&mu);
    auto changed = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      return version != seen;
    };
    mu.AwaitWithDeadline(absl::Condition(&changed), deadline);
    seen = version;
    return latest;
  }
};

ExecutionResult Fail(Outcome outcome, std::string message) {
  ExecutionResult result;
  result.outcome = outcome;
  result.message = std::move(message);
  return result;
}

// API failures that are the service's, not the program's, end the call with
// a gRPC status (PERMISSION_DENIED names the verb and resource).
ExecutionResult ApiFailure(absl::Status status, const Cancellation& cancel,
                           absl::string_view doing) {
  if (cancel.IsCancelled() || absl::IsCancelled(status)) {
    return Fail(Outcome::kCancelled, cancel.Reason());
  }
  ExecutionResult result =
      Fail(Outcome::kSandboxError, absl::StrCat(doing, ": ", status.message()));
  if (absl::IsPermissionDenied(status) || absl::IsUnavailable(status) ||
      absl::IsUnauthenticated(status) || absl::IsResourceExhausted(status)) {
    result.service_error = absl::Status(
        status.code(), absl::StrCat(doing, ": ", status.message()));
  }
  return result;
}

// Follows one created Job: waits for its pod to start (schedule), streams the
// launcher's frames from the pod log (run), and decides the outcome.
class JobFollower {
 public:
  JobFollower(RestClient& client, const KubernetesOptions& options,
              const ExecutionSpec& spec, OutputSink& sink,
              Cancellation& run_cancel, const Cancellation& client_cancel,
              PodMailbox& mailbox)
      : client_(client),
        options_(options),
        spec_(spec),
        sink_(sink),
        output_(spec, sink),
        run_cancel_(run_cancel),
        client_cancel_(client_cancel),
        mailbox_(mailbox) {}

  ExecutionResult Follow(absl::Time created, ExecutionResult result) {
    run_deadline_ = created + spec_.timeout;
    // Schedule: until the container runs (or already ended).
    std::optional<nlohmann::json> pod = WaitForStart(created);
    const absl::Time started = absl::Now();
    result.timings.schedule = started - created;
    if (!pod.has_value()) return Finish(std::move(result), nullptr);
    // Run: follow the log until the launcher's exit record.
    const std::string pod_name =
        pod->value("/metadata/name"_json_pointer, std::string());
    FollowLog(pod_name, started, result);
    return Finish(std::move(result), &*pod);
  }

 private:
  std::optional<nlohmann::json> WaitForStart(absl::Time created) {
    absl::Time give_up = created + options_.schedule_timeout;
    int seen = -1;
    std::string last_reason;
    bool pod_seen = false;
    while (!run_cancel_.IsCancelled()) {
      // Waiting for capacity may take the run's whole timeout (the run's
      // timer ends it, naming the reason); scheduleTimeout counts from when
      // capacity was found, and bounds everything else that stays pending.
      const bool for_capacity = IsWaitingForCapacity(last_reason);
      pending_reason_ = for_capacity ? last_reason : "";
      if (for_capacity) {
        give_up = std::max(give_up, absl::Now() + options_.schedule_timeout);
      }
      if (absl::Now() >= give_up) {
        sandbox_error_ = absl::StrCat(
            "the sandbox pod did not start within ",
            absl::FormatDuration(options_.schedule_timeout),
            pod_seen
                ? absl::StrCat(" (kubernetes.scheduleTimeout): ",
                               last_reason.empty() ? "Pending" : last_reason)
                : absl::StrCat(" (no pod was created: is the "
                               "RuntimeClass \"",
                               options_.runtime_class_name,
                               "\" installed, and the namespace's "
                               "quota enough?)"));
        return std::nullopt;
      }
      std::optional<PodState> state = mailbox_.Wait(
          seen, for_capacity ? absl::Now() + absl::Seconds(1) : give_up);
      if (!state.has_value()) continue;
      pod_seen = true;
      if (state->deleted) {
        sandbox_error_ = "the sandbox pod was deleted before it ran";
        return std::nullopt;
      }
      if (ContainerStarted(state->pod)) {
        pending_reason_.clear();
        return state->pod;
      }
      last_reason = PendingReason(state->pod);
      const nlohmann::json& status = ContainerStatus(state->pod);
      const std::string waiting =
          status.value("/state/waiting/reason"_json_pointer, std::string());
      if (IsHopelessWaitingReason(waiting)) {
        sandbox_error_ =
            absl::StrCat("the sandbox pod cannot start: ", last_reason);
        return std::nullopt;
      }
      if (PodPhase(state->pod) == "Failed") {
        sandbox_error_ = absl::StrCat(
            "the sandbox pod failed: ",
            state->pod.value("/status/reason"_json_pointer, std::string()), " ",
            last_reason);
        return std::nullopt;
      }
    }
    return std::nullopt;
  }

  void FollowLog(const std::string& pod_name, absl::Time started,
                 ExecutionResult& result) {
    KubeRequest request{
        .verb = "GET",
        .path = absl::StrCat(
            "/api/v1/namespaces/", options_.namespace_name, "/pods/", pod_name,
            "/log?follow=true&container=", kSandboxContainerName),
        .resource = "pods/log",
        .kube_verb = "get"};
    FrameParser parser;
    int64_t lines_done = 0;
    bool first_line = true;
    for (int attempt = 0; attempt <= kMaxLogReconnects; ++attempt) {
      int64_t line_number = 0;
      const absl::Status ended = client_.Stream(
          request,
          [&](absl::string_view line) {
            // After a reconnect the log starts over: skip what we have.
            if (line_number++ < lines_done) return true;
            if (!WaitForRoom()) return false;
            ++lines_done;
            if (first_line) {
              result.timings.start = absl::Now() - started;
              first_line = false;
            }
            for (LauncherEvent& event : parser.ParseLine(line)) {
              if (!output_.Consume(event)) {
                result.truncated = true;
                run_cancel_.Cancel(kOutputLimitReason);
                return false;
              }
            }
            return !output_.exit_code().has_value();
          },
          &run_cancel_);
      if (output_.exit_code().has_value() || run_cancel_.IsCancelled()) break;
      if (ended.ok()) break;  // the container ended; the status tells why
      if (absl::IsPermissionDenied(ended) || absl::IsUnauthenticated(ended)) {
        // RBAC or credentials lost mid-flight: the call ends with the API's
        // status (naming the verb and resource), not as a sandbox failure.
        sandbox_error_ = absl::StrCat("reading the pod log: ", ended.message());
        service_error_ = absl::Status(ended.code(), sandbox_error_);
        break;
      }
      if (absl::IsNotFound(ended)) {
        sandbox_error_ = absl::StrCat("reading the pod log: ", ended.message());
        break;
      }
      // Dropped connection or "waiting to start": try again shortly.
      if (run_cancel_.WaitFor(absl::Milliseconds(200))) break;
    }
    result.timings.run = absl::Now() - started - result.timings.start;
  }

  // Backpressure: no more log lines are taken while the client has not
  // taken what was queued. The program does not block (its output goes to
  // the node's log file) and cpprestsdk still buffers what the connection
  // brings. False once the run is cancelled or its time is up (the run's
  // timer then ends it as TIMEOUT).
  bool WaitForRoom() {
    while (!sink_.WaitForRoom(
        std::min(run_deadline_, absl::Now() + kRoomRecheck))) {
      if (run_cancel_.IsCancelled()) return false;
      if (absl::Now() >= run_deadline_) {
        run_cancel_.WaitFor(kRoomRecheck);  // the timer is due
        return false;
      }
    }
    return true;
  }

  // The pod's final state, for runs that ended without an exit record.
  std::optional<nlohmann::json> WaitForTermination() {
    const absl::Time give_up = absl::Now() + kFinalStatusWait;
    int seen = -1;
    while (absl::Now() < give_up && !client_cancel_.IsCancelled()) {
      std::optional<PodState> state = mailbox_.Wait(seen, give_up);
      if (!state.has_value()) continue;
      if (std::optional<nlohmann::json> terminated = Terminated(state->pod)) {
        return terminated;
      }
      if (state->deleted) break;
    }
    return std::nullopt;
  }

  ExecutionResult Finish(ExecutionResult result, const nlohmann::json* pod) {
    output_.TakeFiles(result);
    const std::string reason = run_cancel_.Reason();
    if (reason == kOutputLimitReason) {
      result.outcome = Outcome::kOutputLimit;
      result.message = absl::StrCat("output exceeded ", spec_.max_output_bytes,
                                    " bytes; the sandbox was stopped");
      return result;
    }
    if (reason == kTimeoutReason) {
      result.outcome = Outcome::kTimeout;
      result.message = absl::StrCat(
          "timed out after ", absl::FormatDuration(spec_.timeout),
          pending_reason_.empty()
              ? ""
              : absl::StrCat(
                    " (the sandbox pod never started: ", pending_reason_, ")"));
      return result;
    }
    if (client_cancel_.IsCancelled()) {
      result.outcome = Outcome::kCancelled;
      result.message = client_cancel_.Reason();
      return result;
    }
    if (!sandbox_error_.empty()) {
      result.outcome = Outcome::kSandboxError;
      result.message = sandbox_error_;
      result.service_error = service_error_;
      return result;
    }
    if (const std::optional<int>& code = output_.exit_code()) {
      result.exit_code = *code;
      result.outcome = *code == 0 ? Outcome::kOk : Outcome::kNonzeroExit;
      result.message = absl::StrCat("exited with code ", *code);
      return result;
    }
    // No exit record: the whole container was killed. The pod says why.
    std::optional<nlohmann::json> terminated = WaitForTermination();
    const std::string why =
        terminated.has_value() ? terminated->value("reason", "") : "";
    result.exit_code =
        terminated.has_value() ? terminated->value("exitCode", -1) : -1;
    if (why == "OOMKilled") {
      result.outcome = Outcome::kOomKilled;
      result.message = absl::StrCat(
          "memory limit ", FormatBytes(spec_.resources.memory_limit_bytes),
          " exceeded; the sandbox was killed");
    } else if (why == "DeadlineExceeded") {
      result.outcome = Outcome::kTimeout;
      result.message = "the Job's activeDeadlineSeconds was reached";
    } else {
      result.outcome = Outcome::kSandboxError;
      result.message =
          absl::StrCat("the sandbox ended without the launcher's exit record",
                       why.empty() ? "" : absl::StrCat(" (", why, ")"),
                       output_.diagnostics().empty()
                           ? ""
                           : absl::StrCat(": ", output_.diagnostics()));
    }
    return result;
  }

  RestClient& client_;
  const KubernetesOptions& options_;
  const ExecutionSpec& spec_;
  OutputSink& sink_;
  LauncherOutput output_;
  Cancellation& run_cancel_;
  const Cancellation& client_cancel_;
  PodMailbox& mailbox_;
  absl::Time run_deadline_ = absl::InfiniteFuture();
  std::string sandbox_error_;
  // Set while the pod waits for capacity (IsWaitingForCapacity).
  std::string pending_reason_;
  absl::Status service_error_;  // set when the API refused us mid-run
};

}  // namespace

ExecutionResult KubernetesBackend::Run(const ExecutionSpec& spec,
                                       OutputSink& sink,
                                       const Cancellation& cancel) {
  const std::string& id = spec.execution_id;
  const std::string& ns = options_.namespace_name;
  const absl::Time begin = absl::Now();
  ObjectContext context{&options_, identity_.replica, identity_.owner,
                        std::string(LauncherSource())};
  absl::StatusOr<nlohmann::json> configmap = BuildConfigMap(spec, context);
  if (!configmap.ok()) {
    return Fail(Outcome::kSandboxError,
                std::string(configmap.status().message()));
  }
  const nlohmann::json job = BuildJob(spec, context);

  // The run's own cancellation: the client, the timeout or the output cap.
  Cancellation run_cancel;
  auto mailbox = std::make_shared<PodMailbox>();
  const auto forward =
      cancel.AddCallback([&] { run_cancel.Cancel(cancel.Reason()); });
  const auto wake = run_cancel.AddCallback([mailbox] { mailbox->Post({}); });
  const int subscription = watcher_->Subscribe(
      id, [mailbox](const PodState& state) { mailbox->Post(state); });
  {
    absl::MutexLock lock(&live_mu_);
    live_executions_.insert(id);
  }
  ExecutionResult result;
  absl::Time cleanup_start;
  absl::Cleanup cleanup = [&] {
    watcher_->Unsubscribe(subscription);
    run_cancel.RemoveCallback(wake);
    cancel.RemoveCallback(forward);
    cleanup_start = absl::Now();
    DeleteExecutionObjects(id);
    absl::MutexLock lock(&live_mu_);
    live_executions_.erase(id);
  };

  // Create: ConfigMap, then the Job that mounts it.
  if (absl::Status s = CreateObject(
          "configmaps", absl::StrCat("/api/v1/namespaces/", ns, "/configmaps"),
          *configmap, id, &run_cancel);
      !s.ok()) {
    return ApiFailure(s, run_cancel, "creating the ConfigMap");
  }
  if (absl::Status s = CreateObject(
          "jobs", absl::StrCat("/apis/batch/v1/namespaces/", ns, "/jobs"), job,
          id, &run_cancel);
      !s.ok()) {
    return ApiFailure(s, run_cancel, "creating the Job");
  }
  const absl::Time created = absl::Now();
  result.timings.create = created - begin;

  // The wall-clock limit counts from the Job's creation, like the Job's
  // activeDeadlineSeconds (which is only the safety net).
  std::thread timer([&run_cancel, deadline = created + spec.timeout] {
    if (!run_cancel.WaitFor(deadline - absl::Now())) {
      run_cancel.Cancel(kTimeoutReason);
    }
  });
  absl::Cleanup stop_timer = [&] {
    run_cancel.Cancel("the run ended");
    timer.join();
  };

  JobFollower follower(*client_, options_, spec, sink, run_cancel, cancel,
                       *mailbox);
  result = follower.Follow(created, std::move(result));
  std::move(stop_timer).Invoke();
  std::move(cleanup).Invoke();
  result.timings.cleanup = absl::Now() - cleanup_start;
  return result;
}

}  // namespace codeexec::kube
