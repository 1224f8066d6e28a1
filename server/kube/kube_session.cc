#include "server/kube/kube_session.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/kube/attach_run.h"
#include "server/launcher/launcher_bundle.h"

namespace codeexec::kube {
KubeSession::KubeSession(WarmPods& pods, std::unique_ptr<KubeWarmSandbox> pod,
                         std::optional<Starter> kernel)
    : pods_(pods), pod_(std::move(pod)), kernel_(std::move(kernel)) {}

KubeSession::~KubeSession() { DeletePod(); }

void KubeSession::DeletePod() {
  if (deleted_) return;
  deleted_ = true;
  pods_.Release(*pod_);  // closes the stream: the launcher ends first
}

absl::StatusOr<ExecutionResult> KubeSession::RunCell(
    const ExecutionSpec& spec, OutputSink& sink, const Cancellation& cancel) {
  if (ended_ || !pod_->Alive()) {
    ended_ = true;
    ExecutionResult result = SandboxErrorResult("");
    MarkEnded(result, EndCause::kSandboxEnded);
    return result;
  }
  absl::StatusOr<std::string> request = BuildCellRequest(spec, kernel_);
  if (!request.ok()) {
    return SandboxErrorResult(absl::StrCat(
        "cannot write the code and input files: ", request.status().message()));
  }
  const absl::Time start = absl::Now();
  AttachRun run(spec, sink, cancel);
  AttachRunOutcome outcome = run.Run(
      pod_->attached, *request, start,
      [this](absl::Time deadline) { return pod_->WaitTerminated(deadline); },
      /*cell=*/true);
  ExecutionResult result = std::move(outcome.result);
  result.timings.create = outcome.delivered_at.value_or(start) - start;
  result.timings.run -= result.timings.create;
  if (outcome.interrupt_unanswered) {
    const absl::Time cleanup_start = absl::Now();
    DeletePod();
    result.timings.cleanup = absl::Now() - cleanup_start;
    MarkEnded(result, EndCause::kKilled);
  } else if (outcome.session_ended) {
    MarkEnded(result, EndCause::kInterpreterExit);
  } else if (outcome.stream_closed || !outcome.delivered_at.has_value()) {
    MarkEnded(result, EndCause::kSandboxEnded);
  }
  ended_ = result.session_ended;
  return result;
}

}  // namespace codeexec::kube
