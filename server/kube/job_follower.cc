#include "server/kube/job_follower.h"

#include <algorithm>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/exec/quantity.h"
#include "server/kube/client/api_paths.h"
#include "server/kube/objects/objects.h"
#include "server/kube/pod_status.h"
#include "server/launcher/frame_parser.h"

namespace codeexec::kube {
namespace {

// How long to wait for the pod's final status after its log ended without
// the launcher's exit record (OOM kill, deadline).
constexpr absl::Duration kFinalStatusWait = absl::Seconds(15);
constexpr int kMaxLogReconnects = 20;
// While the client is behind, how often the log follower looks again at the
// run's own cancellation.
constexpr absl::Duration kRoomRecheck = absl::Seconds(1);

}  // namespace

RunVerdict ClassifyJobRun(const JobRunFacts& facts) {
  RunVerdict verdict;
  verdict.truncated = facts.output_truncated;
  switch (facts.stop_reason) {
    case StopReason::kOutputLimit:
      verdict.outcome = Outcome::kOutputLimit;
      verdict.message = absl::StrCat("output exceeded ", facts.max_output_bytes,
                                     " bytes; the sandbox was stopped");
      return verdict;
    case StopReason::kTimeout:
      verdict.outcome = Outcome::kTimeout;
      verdict.message =
          absl::StrCat("timed out after ", absl::FormatDuration(facts.timeout),
                       facts.pending_reason.empty()
                           ? ""
                           : absl::StrCat(" (the sandbox pod never started: ",
                                          facts.pending_reason, ")"));
      return verdict;
    case StopReason::kCancelled:
      verdict.outcome = Outcome::kCancelled;
      verdict.message = facts.cancel_reason;
      return verdict;
    case StopReason::kNone:
      break;
  }
  if (!facts.sandbox_error.empty()) {
    verdict.outcome = Outcome::kSandboxError;
    verdict.message = facts.sandbox_error;
    return verdict;
  }
  if (facts.exit_record.has_value()) {
    const int code = *facts.exit_record;
    verdict.exit_code = code;
    verdict.outcome = code == 0 ? Outcome::kOk : Outcome::kNonzeroExit;
    verdict.message = absl::StrCat("exited with code ", code);
    return verdict;
  }
  // No exit record: the whole container was killed. The pod says why.
  const std::string why =
      facts.terminated.has_value() ? facts.terminated->value("reason", "") : "";
  verdict.exit_code = facts.terminated.has_value()
                          ? facts.terminated->value("exitCode", -1)
                          : -1;
  if (why == "OOMKilled") {
    verdict.outcome = Outcome::kOomKilled;
    verdict.message =
        absl::StrCat("memory limit ", FormatBytes(facts.memory_limit_bytes),
                     " exceeded; the sandbox was killed");
  } else if (why == "DeadlineExceeded") {
    verdict.outcome = Outcome::kTimeout;
    verdict.message = "the Job's activeDeadlineSeconds was reached";
  } else {
    verdict.outcome = Outcome::kSandboxError;
    verdict.message = absl::StrCat(
        "the sandbox ended without the launcher's exit record",
        why.empty() ? "" : absl::StrCat(" (", why, ")"),
        facts.diagnostics.empty() ? "" : absl::StrCat(": ", facts.diagnostics));
  }
  return verdict;
}

JobFollower::JobFollower(RestClient& client, const KubernetesOptions& options,
                         const ExecutionSpec& spec, OutputSink& sink,
                         const Cancellation& client_cancel)
    : client_(client),
      options_(options),
      spec_(spec),
      sink_(sink),
      output_(spec, sink),
      client_cancel_(client_cancel) {
  wake_ = run_cancel_.AddCallback([this] {
    absl::MutexLock lock(&mu_);
    ++version_;
  });
  forward_ =
      client_cancel_.AddCallback([this] { Stop(StopReason::kCancelled); });
}

JobFollower::~JobFollower() {
  client_cancel_.RemoveCallback(forward_);
  run_cancel_.RemoveCallback(wake_);
}

void JobFollower::OnPodState(const PodState& state) {
  absl::MutexLock lock(&mu_);
  latest_ = state;
  ++version_;
}

void JobFollower::Stop(StopReason reason) {
  StopReason recorded;
  {
    absl::MutexLock lock(&mu_);
    if (stop_reason_ == StopReason::kNone) stop_reason_ = reason;
    recorded = stop_reason_;
  }
  switch (recorded) {
    case StopReason::kTimeout:
      run_cancel_.Cancel("timeout");
      break;
    case StopReason::kOutputLimit:
      run_cancel_.Cancel("output limit");
      break;
    case StopReason::kCancelled:
    case StopReason::kNone:
      run_cancel_.Cancel(client_cancel_.Reason());
      break;
  }
}

StopReason JobFollower::stop_reason() const {
  absl::MutexLock lock(&mu_);
  return stop_reason_;
}

std::optional<PodState> JobFollower::WaitForPod(int& seen,
                                                absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto changed = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return version_ != seen;
  };
  mu_.AwaitWithDeadline(absl::Condition(&changed), deadline);
  seen = version_;
  return latest_;
}

absl::Status JobFollower::Follow(absl::Time created, ExecutionResult& result) {
  run_deadline_ = created + spec_.timeout;
  // The wall-clock limit counts from the Job's creation, like the Job's
  // activeDeadlineSeconds (which is only the safety net).
  Cancellation follow_done;
  std::thread timer([this, &follow_done] {
    if (!follow_done.WaitFor(run_deadline_ - absl::Now())) {
      Stop(StopReason::kTimeout);
    }
  });
  absl::Status refused;
  // Schedule: until the container runs (or already ended).
  std::optional<nlohmann::json> pod = WaitForStart(created);
  const absl::Time started = absl::Now();
  result.timings.schedule = started - created;
  if (pod.has_value()) {
    // Run: follow the log until the launcher's exit record.
    refused =
        FollowLog(pod->value("/metadata/name"_json_pointer, std::string()),
                  started, result);
  }
  follow_done.Cancel("the run ended");
  timer.join();

  output_.TakeFiles(result);
  JobRunFacts facts;
  facts.stop_reason = stop_reason();
  if (facts.stop_reason == StopReason::kNone && client_cancel_.IsCancelled()) {
    facts.stop_reason = StopReason::kCancelled;
  }
  facts.cancel_reason = client_cancel_.Reason();
  facts.pending_reason = pending_reason_;
  facts.sandbox_error = sandbox_error_;
  facts.exit_record = output_.exit_code();
  facts.diagnostics = output_.diagnostics();
  facts.output_truncated = output_.output_limit_reached();
  facts.timeout = spec_.timeout;
  facts.max_output_bytes = spec_.max_output_bytes;
  facts.memory_limit_bytes = spec_.resources.memory_limit_bytes;
  if (facts.stop_reason == StopReason::kNone && facts.sandbox_error.empty() &&
      !facts.exit_record.has_value()) {
    facts.terminated = WaitForTermination();
  }
  RunVerdict verdict = ClassifyJobRun(facts);
  result.outcome = verdict.outcome;
  result.exit_code = verdict.exit_code;
  result.message = std::move(verdict.message);
  result.truncated = verdict.truncated;
  return refused;
}

std::optional<nlohmann::json> JobFollower::WaitForStart(absl::Time created) {
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
          pod_seen ? absl::StrCat(" (kubernetes.scheduleTimeout): ",
                                  last_reason.empty() ? "Pending" : last_reason)
                   : absl::StrCat(" (no pod was created: is the "
                                  "RuntimeClass \"",
                                  options_.runtime_class_name,
                                  "\" installed, and the namespace's "
                                  "quota enough?)"));
      return std::nullopt;
    }
    std::optional<PodState> state = WaitForPod(
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

absl::Status JobFollower::FollowLog(const std::string& pod_name,
                                    absl::Time started,
                                    ExecutionResult& result) {
  KubeRequest request{
      .verb = "GET",
      .path = absl::StrCat(PodLogPath(options_.namespace_name, pod_name),
                           "?follow=true&container=", kSandboxContainerName),
      .body = std::nullopt,
      .resource = "pods/log",
      .kube_verb = "get"};
  absl::Status refused;
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
              Stop(StopReason::kOutputLimit);
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
      refused = absl::Status(ended.code(), sandbox_error_);
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
  return refused;
}

// Backpressure: no more log lines are taken while the client has not taken
// what was queued. The program does not block (its output goes to the
// node's log file) and cpprestsdk still buffers what the connection brings.
// False once the run is cancelled or its time is up (the run's timer then
// ends it as TIMEOUT).
bool JobFollower::WaitForRoom() {
  while (
      !sink_.WaitForRoom(std::min(run_deadline_, absl::Now() + kRoomRecheck))) {
    if (run_cancel_.IsCancelled()) return false;
    if (absl::Now() >= run_deadline_) {
      run_cancel_.WaitFor(kRoomRecheck);  // the timer is due
      return false;
    }
  }
  return true;
}

// The pod's final state, for runs that ended without an exit record.
std::optional<nlohmann::json> JobFollower::WaitForTermination() {
  const absl::Time give_up = absl::Now() + kFinalStatusWait;
  int seen = -1;
  while (absl::Now() < give_up && !client_cancel_.IsCancelled()) {
    std::optional<PodState> state = WaitForPod(seen, give_up);
    if (!state.has_value()) continue;
    if (std::optional<nlohmann::json> terminated = Terminated(state->pod)) {
      return terminated;
    }
    if (state->deleted) break;
  }
  return std::nullopt;
}

}  // namespace codeexec::kube
