#include "server/kube/attach_run.h"

#include <algorithm>
#include <deque>
#include <memory>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "server/kube/client/api_paths.h"
#include "server/kube/client/container_stream.h"
#include "server/kube/job_follower.h"
#include "server/kube/objects/objects.h"
#include "server/launcher/frame_parser.h"
#include "server/launcher/launcher_output.h"
#include "server/launcher/request_format.h"

namespace codeexec::kube {
namespace {

// How long the shared watch may take to report how a pod ended that closed
// its stream without the launcher's exit record.
constexpr absl::Duration kTerminationWait = absl::Seconds(10);
// Slices of a wait for the client to read, so the buffer bound and
// cancellation are checked while it waits.
constexpr absl::Duration kRoomWaitSlice = absl::Milliseconds(100);
// The launcher's own words kept for the verdict.
constexpr size_t kMaxDiagnosticBytes = 16 * 1024;

}  // namespace

absl::StatusOr<AttachedStream> AttachToPod(RestClient& client,
                                           const std::string& namespace_name,
                                           const std::string& pod) {
  AttachedStream attached;
  attached.inbox = std::make_shared<StreamInbox>();
  ContainerStream::Handlers handlers;
  handlers.on_data = [inbox = attached.inbox](int channel, std::string data) {
    absl::MutexLock lock(&inbox->mu);
    inbox->queued_bytes += static_cast<int64_t>(data.size());
    inbox->chunks.emplace_back(channel, std::move(data));
  };
  handlers.on_closed = [inbox = attached.inbox](absl::Status ended) {
    absl::MutexLock lock(&inbox->mu);
    inbox->closed = std::move(ended);
  };
  const KubeRequest attach{
      .verb = "GET",
      .path = absl::StrCat(ObjectPath(namespace_name, "pods", pod),
                           "/attach?container=", kSandboxContainerName,
                           "&stdin=true&stdout=true&stderr=true"),
      .body = std::nullopt,
      .resource = "pods/attach",
      .kube_verb = "create"};
  absl::StatusOr<std::unique_ptr<ContainerStream>> stream =
      client.OpenStream(attach, std::move(handlers));
  if (!stream.ok()) return stream.status();
  attached.stream = *std::move(stream);
  return attached;
}

AttachRun::AttachRun(const ExecutionSpec& spec, OutputSink& sink,
                     const Cancellation& cancel)
    : spec_(spec), sink_(sink), cancel_(cancel) {}

AttachRunOutcome AttachRun::Run(
    AttachedStream& attached, const std::string& request,
    absl::Time clock_start,
    const std::function<std::optional<nlohmann::json>(absl::Time)>&
        wait_terminated,
    bool cell) {
  AttachRunOutcome outcome;
  const std::shared_ptr<StreamInbox>& inbox = attached.inbox;
  ContainerStream& stream = *attached.stream;
  const Cancellation::CallbackId wake = cancel_.AddCallback([inbox] {
    absl::MutexLock lock(&inbox->mu);
    inbox->woken = true;
  });
  absl::Cleanup unwake = [&] { cancel_.RemoveCallback(wake); };

  const absl::Time deadline = clock_start + spec_.timeout;
  const int64_t max_buffered =
      std::max(kMaxBufferedBytes, 2 * spec_.max_output_bytes);
  LauncherOutput output(spec_, sink_);
  FrameParser parser;
  JobRunFacts facts;
  std::string status_json;
  std::optional<absl::Status> closed;
  auto consume = [&](std::vector<LauncherEvent> events) {
    for (LauncherEvent& event : events) {
      // A cell's exit record still counts after the cap (the session goes
      // on); a one-shot run ends there.
      if (cell || !output.output_limit_reached()) output.Consume(event);
    }
  };
  // Follows the stream until it closes, a cell's exit record, or `until`;
  // with `stoppable`, also until cancellation or the buffer's bound.
  auto follow = [&](absl::Time until, bool stoppable) {
    while (true) {
      std::optional<std::pair<int, std::string>> chunk;
      int64_t queued = 0;
      {
        absl::MutexLock lock(&inbox->mu);
        inbox->mu.AwaitWithDeadline(
            absl::Condition(inbox.get(), &StreamInbox::Ready), until);
        queued = inbox->queued_bytes;
        if (!inbox->chunks.empty()) {
          // A stdout chunk waits (below) until the client has room.
          if (inbox->chunks.front().first != kStdoutChannel ||
              queued <= max_buffered || !stoppable) {
            chunk = std::move(inbox->chunks.front());
            inbox->chunks.pop_front();
            inbox->queued_bytes -= static_cast<int64_t>(chunk->second.size());
          }
        } else if (inbox->closed.has_value()) {
          closed = inbox->closed;
        }
      }
      if (stoppable && cancel_.IsCancelled()) {
        facts.stop_reason = StopReason::kCancelled;
        facts.cancel_reason = cancel_.Reason();
        return;
      }
      if (absl::Now() >= until) {
        if (stoppable) facts.stop_reason = StopReason::kTimeout;
        return;
      }
      if (stoppable && queued > max_buffered) {
        facts.stop_reason = StopReason::kOutputLimit;
        return;
      }
      if (closed.has_value()) return;
      if (!chunk.has_value()) continue;
      switch (chunk->first) {
        case kStdoutChannel:
          if (!outcome.first_output_at.has_value()) {
            outcome.first_output_at = absl::Now();
          }
          while (stoppable &&
                 !sink_.WaitForRoom(
                     std::min(deadline, absl::Now() + kRoomWaitSlice)) &&
                 !cancel_.IsCancelled() && absl::Now() < deadline) {
          }
          consume(parser.Feed(chunk->second));
          if (stoppable && output.output_limit_reached()) {
            facts.stop_reason = StopReason::kOutputLimit;
            return;
          }
          break;
        case kStderrChannel:
          if (facts.diagnostics.size() < kMaxDiagnosticBytes) {
            facts.diagnostics.append(chunk->second.substr(
                0, kMaxDiagnosticBytes - facts.diagnostics.size()));
          }
          break;
        case kStatusChannel:
          status_json += chunk->second;
          break;
        default:
          break;
      }
      if (cell && output.exit_code().has_value()) return;
    }
  };
  const std::string pod = cell ? "the session's pod" : "the warm pod";
  if (absl::Status sent = stream.Send(kStdinChannel, request); !sent.ok()) {
    facts.sandbox_error =
        absl::StrCat(pod, " did not take its request: ", sent.message());
  } else {
    outcome.delivered_at = absl::Now();
    follow(deadline, /*stoppable=*/true);
  }
  if (cell && facts.stop_reason != StopReason::kNone &&
      !output.exit_code().has_value() && !closed.has_value()) {
    // The cell, not the session, is stopped: an interrupt, then the grace.
    const char interrupt = CE_REQ_INTERRUPT;
    if (stream.Send(kStdinChannel, std::string(1, interrupt)).ok()) {
      follow(absl::Now() + SandboxSession::kInterruptGrace,
             /*stoppable=*/false);
    }
    outcome.interrupt_unanswered = !output.exit_code().has_value();
  }
  if (!cell) stream.Close();
  if (facts.stop_reason == StopReason::kNone && facts.sandbox_error.empty()) {
    consume(parser.Finish());
  }
  const absl::Time end = absl::Now();

  facts.exit_record = output.exit_code();
  if (facts.stop_reason == StopReason::kNone && facts.sandbox_error.empty() &&
      !facts.exit_record.has_value()) {
    absl::StatusOr<ContainerExit> exit = ParseContainerExit(status_json);
    if (closed.has_value() && !closed->ok()) {
      facts.sandbox_error = absl::StrCat("the connection to ", pod,
                                         " broke: ", closed->message());
    } else if (!status_json.empty() && exit.ok() && !exit->exit_code) {
      facts.sandbox_error =
          absl::StrCat(pod, "'s stream failed: ", exit->message);
    } else {
      facts.terminated = wait_terminated(absl::Now() + kTerminationWait);
    }
  }
  outcome.stream_closed = closed.has_value();
  outcome.session_ended = output.session_ended();
  facts.output_truncated = output.output_limit_reached();
  facts.timeout = spec_.timeout;
  facts.max_output_bytes = spec_.max_output_bytes;
  facts.memory_limit_bytes = spec_.resources.memory_limit_bytes;
  if (!output.diagnostics().empty()) {
    absl::StrAppend(&facts.diagnostics, facts.diagnostics.empty() ? "" : "\n",
                    output.diagnostics());
  }
  RunVerdict verdict = ClassifyJobRun(facts);
  outcome.result.outcome = verdict.outcome;
  outcome.result.exit_code = verdict.exit_code;
  outcome.result.message = std::move(verdict.message);
  outcome.result.truncated = verdict.truncated;
  outcome.result.timings.run = end - clock_start;
  output.TakeFiles(outcome.result);
  return outcome;
}

}  // namespace codeexec::kube
