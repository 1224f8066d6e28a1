// A session's sandbox on the kubernetes backend: a pod whose launcher waits
// on an attached stream (warm_pods.h) — one claimed from the warm pool, or
// one started for the session and named by its id when none fits — turned
// into a session's by its first cell (a SESSION request, request_format.h).
// Each cell is one AttachRun in cell mode over that same stream: it ends at
// the cell's exit record, and a cell stopped at its timeout, on
// cancellation or at the output cap is interrupted (Python raises
// KeyboardInterrupt) before its pod is deleted. The pod's Job is deleted
// when the session ends; a replica that dies leaves it to the
// ownerReferences' garbage collection and its successor's janitor.
#ifndef CODEEXEC_SERVER_KUBE_KUBE_SESSION_H_
#define CODEEXEC_SERVER_KUBE_KUBE_SESSION_H_

#include <memory>
#include <optional>
#include <string_view>

#include "absl/status/statusor.h"
#include "server/exec/backend.h"
#include "server/kube/warm_pods.h"
#include "server/launcher/python_prestart.h"

namespace codeexec::kube {

class KubeSession : public SandboxSession {
 public:
  // `pod` runs and is attached; its cells run in `kernel` if given.
  // `pods` must outlive this.
  KubeSession(WarmPods& pods, std::unique_ptr<KubeWarmSandbox> pod,
              std::optional<Starter> kernel);
  // Deletes the pod's Job (unless a cell did already).
  ~KubeSession() override;

  // The Job's name: the session id, or the claimed pool pod's "cw-" id.
  std::string_view sandbox_name() const override { return pod_->id(); }

  // timings: create = writing the request, run = the rest.
  absl::StatusOr<ExecutionResult> RunCell(const ExecutionSpec& spec,
                                          OutputSink& sink,
                                          const Cancellation& cancel) override;

 private:
  void DeletePod();

  WarmPods& pods_;
  const std::unique_ptr<KubeWarmSandbox> pod_;
  const std::optional<Starter> kernel_;
  bool ended_ = false;
  bool deleted_ = false;
};

}  // namespace codeexec::kube

#endif  // CODEEXEC_SERVER_KUBE_KUBE_SESSION_H_
