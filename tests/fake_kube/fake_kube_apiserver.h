// A fake kube-apiserver (with a Job controller, garbage collector and
// "kubelet") for testing the Kubernetes backend without a cluster.
//
// WHAT IT FAKES (plain HTTP/1.1 on 127.0.0.1, real URL paths, JSON shapes
// and status codes of kube-apiserver):
//   POST/GET/DELETE /api/v1/namespaces/{ns}/configmaps[/{name}]
//   POST/GET/DELETE /apis/batch/v1/namespaces/{ns}/jobs[/{name}]
//   GET/DELETE      /api/v1/namespaces/{ns}/pods[/{name}]
//   GET             /api/v1/namespaces/{ns}/pods/{name}/log
//                     ?follow=&container=  (the container's stdout+stderr
//                     merged; streamed while it runs when follow=true; 400
//                     "container ... is waiting to start: <reason>" while
//                     its container waits; empty before it is scheduled)
//   GET ...?labelSelector=  lists ({"kind":"PodList","metadata":
//                     {"resourceVersion":..},"items":[..]}, items without
//                     kind/apiVersion, sorted by name); selectors: a=b, a==b,
//                     a!=b, a, !a, a in (..), a notin (..)
//   GET ...?watch=1&resourceVersion=&labelSelector=&allowWatchBookmarks=
//          &timeoutSeconds=   chunked JSON lines {"type":"ADDED|MODIFIED|
//                     DELETED|BOOKMARK","object":..}; no/zero resourceVersion
//                     starts with ADDED for existing objects; an older
//                     resourceVersion than the kept history gets an ERROR
//                     event with a 410 Expired Status (HTTP 200, as the real
//                     watch cache does); label changes turn MODIFIED into
//                     ADDED/DELETED; timeoutSeconds ends it cleanly
//   DELETE ...?propagationPolicy= (query or DeleteOptions body;
//                     orphanDependents too): Background/Foreground delete the
//                     Job's pods; Orphan (the batch/v1 default!) leaves them,
//                     without their ownerReference; deleting a pod marks it
//                     (deletionTimestamp), kills its container, then removes it
//   /version, /healthz, /readyz, /livez
// Objects get metadata.uid (UUID v4), resourceVersion (one global counter),
// creationTimestamp, generation (Jobs, Pods); errors are Status bodies
// (NotFound 404, AlreadyExists 409, Invalid 422, BadRequest 400, Forbidden
// 403, Unauthorized 401, 413 for bodies over 3 MiB); ConfigMaps over 1 MiB and
// bad keys, bad names/labels, Jobs without restartPolicy Never/OnFailure or
// containers, volumeMounts naming no volume are rejected like the apiserver
// does. Job controller: creates `<job>-<5 chars>` pods (template labels +
// job-name, controller-uid and their batch.kubernetes.io/ forms,
// ownerReference controller=true), Job status active/ready/succeeded/failed,
// startTime/completionTime, conditions Complete / Failed (BackoffLimitExceeded,
// DeadlineExceeded), backoffLimit retries, activeDeadlineSeconds (kills the
// pod: pod Failed reason DeadlineExceeded, then deletes it),
// ttlSecondsAfterFinished. Pods: Pending -> scheduled -> ContainerCreating ->
// Running -> Succeeded/Failed with containerStatuses[0].state
// waiting/running/terminated{exitCode, reason Completed|Error|OOMKilled|
// StartError}; pod-level activeDeadlineSeconds; runAsNonRoot with uid 0 ->
// CreateContainerConfigError. Kubelet modes: kRunsc really runs the container
// under gVisor (host "/" read-only as the image, command+args, workingDir,
// env (value, fieldRef metadata.*), runAsUser/Group, configMap volumes in the
// kubelet's ..data layout, emptyDir as tmpfs with sizeLimit, memory/cpu limits
// in a cgroup -> OOMKilled 137, --network=none); kInstant finishes every pod
// at once with a canned log.
// Faults (FaultInjector, see fault_injector.h): status N (+headers) for the
// next K matching requests, 429 + Retry-After, resets before or after
// handling, delays, dropping every open watch mid-stream, 410 on the next
// watch starts, history compaction, slow logs, pods stuck Pending, RBAC
// denials (403 with the real message), a required bearer token (401).
// Introspection: requests per (verb, resource), watch connections opened,
// current objects by namespace and label selector, last created objects.
//
// WHAT IT DOES NOT FAKE: TLS and authentication beyond one bearer token,
// authorization beyond the deny list, admission (quotas, LimitRanges, pod
// security), validation beyond the basics above, PATCH/PUT (status or spec
// updates by clients), field selectors, resourceVersionMatch, list paging
// (limit/continue), server-side apply, managedFields, namespaces as objects
// (any namespace exists unless FakeKubeOptions::namespaces is set), other
// resources (Secrets, Events, RuntimeClasses, ...), the "too large resource
// version" wait, ownerReferences to anything but a Job (no GC of ConfigMaps
// whose owner is gone), pod graceful termination (the container is killed at
// once), init/sidecar/multiple containers, restarts (restartPolicy is
// recorded, containers never restart), real images and image pulls (the
// image is recorded; the rootfs is the host's), readOnlyRootFilesystem false
// (the root is always read-only), subPath, networking/Services/DNS,
// scheduling/nodes/taints/RuntimeClass (every pod lands on one fake node;
// runtimeClassName and tolerations are recorded), Events, log options other
// than follow/container, ephemeral-storage limits.
#ifndef CODEEXEC_TESTS_FAKE_KUBE_FAKE_KUBE_APISERVER_H_
#define CODEEXEC_TESTS_FAKE_KUBE_FAKE_KUBE_APISERVER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "tests/fake_kube/fault_injector.h"
#include "tests/fake_kube/kubelet.h"
#include "tests/fake_kube/request_stats.h"

namespace codeexec::fake_kube {

class ApiHandlers;
class HttpServer;
class JobController;
class ObjectStore;
class TimerQueue;

struct FakeKubeOptions {
  std::string listen_host = "127.0.0.1";
  int port = 0;  // 0: a free port
  // How pods run (kubelet.h): kRunsc or kInstant, plus their settings
  // (schedule delay, canned log, runsc path, cgroup parent, ...).
  KubeletOptions kubelet;
  // Non-empty: every request needs "Authorization: Bearer <token>" (401).
  std::string required_bearer_token;
  // The user named in 403 messages.
  std::string user_name = "system:serviceaccount:default:code-executor";
  // Non-empty: only these namespaces exist (404 for others).
  std::vector<std::string> namespaces;
  // Changes kept for watches to resume from.
  int watch_history = 1000;
  // BOOKMARK interval of watches that allow them (kube-apiserver: ~1 min).
  absl::Duration bookmark_interval = absl::Seconds(1);
  // Watch length without timeoutSeconds (kube-apiserver: 30-60 min).
  absl::Duration default_watch_timeout = absl::Minutes(30);
};

class FakeKubeApiServer {
 public:
  // Starts listening; fails if the port is taken or (kRunsc) runsc, root or
  // the cgroups are missing.
  static absl::StatusOr<std::unique_ptr<FakeKubeApiServer>> Start(
      FakeKubeOptions options);
  ~FakeKubeApiServer();

  // Ends every watch and log stream, kills every container, removes every
  // sandbox, stops listening. Idempotent.
  void Stop();

  int port() const;
  std::string url() const;  // "http://127.0.0.1:<port>"

  // ---- Fault injection (thread-safe) ----
  FaultInjector& faults() { return *faults_; }
  // Answer `status_code` (Status body; reason from the code unless given)
  // to the next `times` requests matching `match`.
  void FailNext(RequestMatch match, int times, int status_code,
                std::string message = "", HeaderList headers = {});
  // 429 TooManyRequests with Retry-After: `retry_after_seconds`.
  void ThrottleNext(RequestMatch match, int times, int retry_after_seconds);
  // Close the connection (TCP RST) without answering; `after_handling`: the
  // request takes effect first (e.g. the Job is created), the answer is lost.
  void ResetNext(RequestMatch match, int times, bool after_handling = false);
  void DelayNext(RequestMatch match, int times, absl::Duration delay);
  // Cuts every open watch stream now (no final chunk).
  void DropWatches();
  // The next `count` watches get a 410 Expired ERROR event and end.
  void ExpireNextWatches(int count);
  // Forgets the change history: resuming a watch from any earlier
  // resourceVersion gets 410 Expired.
  void CompactWatchHistory();
  void SetLogChunkDelay(absl::Duration delay);
  void StickPodsPending(PendingFault fault);
  void Forbid(std::string verb, std::string resource);
  void SetRequiredBearerToken(std::string token);
  void ClearFaults();

  // ---- Introspection ----
  // Requests so far by Kubernetes verb and resource, e.g. ("create",
  // "jobs"), ("watch", "pods"), ("get", "pods/log").
  int64_t RequestCount(const std::string& verb,
                       const std::string& resource) const;
  std::map<std::pair<std::string, std::string>, int64_t> RequestCounts() const;
  std::vector<RequestRecord> RequestLog() const;
  int64_t WatchConnectionsOpened() const;
  int OpenWatches() const;
  void ResetCounters();
  // Names of `resource` ("configmaps", "jobs", "pods") objects in `ns`
  // matching `label_selector`.
  std::vector<std::string> ObjectNames(
      const std::string& resource, const std::string& ns,
      const std::string& label_selector = "") const;
  // No Job, Pod or ConfigMap in `ns` matches `label_selector`.
  bool HoldsNoObjects(const std::string& ns,
                      const std::string& label_selector = "") const;
  std::optional<nlohmann::json> GetObject(const std::string& resource,
                                          const std::string& ns,
                                          const std::string& name) const;
  // The last object of `resource` created through the API (as stored then).
  std::optional<nlohmann::json> LastCreated(const std::string& resource) const;
  std::string PodLogContents(const std::string& ns,
                             const std::string& pod_name) const;
  // Containers (sandboxes) the kubelet is running now.
  int RunningContainers() const;
  int64_t resource_version() const;

 private:
  explicit FakeKubeApiServer(FakeKubeOptions options);

  FakeKubeOptions options_;
  std::unique_ptr<FaultInjector> faults_;
  std::unique_ptr<RequestStats> stats_;
  std::unique_ptr<ObjectStore> store_;
  std::unique_ptr<TimerQueue> timers_;
  std::unique_ptr<Kubelet> kubelet_;
  std::unique_ptr<JobController> controller_;
  std::unique_ptr<ApiHandlers> handlers_;
  std::unique_ptr<HttpServer> http_;
};

}  // namespace codeexec::fake_kube

#endif  // CODEEXEC_TESTS_FAKE_KUBE_FAKE_KUBE_APISERVER_H_
