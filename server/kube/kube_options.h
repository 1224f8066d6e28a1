// Options of the kubernetes backend (config section `kubernetes:`).
#ifndef CODEEXEC_SERVER_KUBE_KUBE_OPTIONS_H_
#define CODEEXEC_SERVER_KUBE_KUBE_OPTIONS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "server/exec/warm_pool.h"  // WarmPoolOptions

namespace codeexec::kube {

// A pod toleration, as in the Kubernetes API (empty fields are omitted).
struct Toleration {
  std::string key;
  std::string op;  // "Equal" or "Exists"
  std::string value;
  std::string effect;  // "NoSchedule", "PreferNoSchedule", "NoExecute"
};

struct KubernetesOptions {
  // Namespace of every ConfigMap/Job/Pod of ours; never taken from clients.
  std::string namespace_name = "default";
  // Connection, in ADK GkeCodeExecutor's order: an explicit kubeconfig
  // (+ context) first, then in-cluster config, then $KUBECONFIG or
  // ~/.kube/config.
  std::string kubeconfig_path;
  std::string kubeconfig_context;
  // Image when a language profile names none.
  std::string default_image = "python:3.11-slim";
  std::string image_pull_policy = "IfNotPresent";
  std::vector<std::string> image_pull_secrets;
  // RuntimeClass of sandbox pods (GKE Sandbox: gvisor). Empty = none.
  std::string runtime_class_name = "gvisor";
  // Scheduling of sandbox pods. The gVisor toleration
  // sandbox.gke.io/runtime=gvisor:NoSchedule is always added when
  // runtime_class_name is "gvisor".
  std::map<std::string, std::string> node_selector;
  std::vector<Toleration> tolerations;
  // uid/gid of the sandbox container (runAsNonRoot).
  int64_t run_as_user = 1001;
  int64_t run_as_group = 1001;
  // memory-backed emptyDir sizes: the workspace and /tmp.
  int64_t workspace_bytes = int64_t{64} << 20;
  int64_t tmp_bytes = int64_t{64} << 20;
  // ephemeral-storage request/limit of the container (logs, writable layer).
  int64_t ephemeral_storage_bytes = int64_t{128} << 20;
  // Job.spec.ttlSecondsAfterFinished: a safety net only; we delete at once.
  absl::Duration ttl_after_finished = absl::Seconds(300);
  // A pod Pending longer than this (image pull error, untolerated taint,
  // missing RuntimeClass) ends the run with SANDBOX_ERROR carrying the
  // reason. A pod waiting for capacity (Insufficient cpu/memory) may wait the
  // run's whole timeout (then TIMEOUT naming the reason); for it this counts
  // from when it was scheduled.
  absl::Duration schedule_timeout = absl::Seconds(120);
  // Client-side rate limit of API requests (token bucket). An execution
  // takes 5 requests, so 200/s lets one replica start and finish ~40 runs a
  // second; the API server's Priority and Fairness is the real guard.
  double qps = 200;
  int burst = 400;
  // Per-request timeout (not for watch / log streams).
  absl::Duration request_timeout = absl::Seconds(30);
  // How often the janitor lists this replica's objects and deletes orphans.
  absl::Duration janitor_interval = absl::Seconds(60);
  // Pods of the default language and limits started ahead, waiting for one
  // request each over pods/attach (config `kubernetes.warmPool`); a run
  // that fits takes one and skips scheduling and the pod's start. Needs
  // get and create on pods/attach (the chart adds them when size > 0).
  WarmPoolOptions warm_pool;
};

}  // namespace codeexec::kube

#endif  // CODEEXEC_SERVER_KUBE_KUBE_OPTIONS_H_
