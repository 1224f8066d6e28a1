// A fake kube-apiserver (with a Job controller, garbage collector and
// "kubelet") for testing the Kubernetes backend without a cluster.
//
// WHAT IT FAKES (plain HTTP/1.1 on 127.0.0.1, real URL paths, JSON shapes
// and status codes of kube-apiserver):
//   POST/GET/PATCH/DELETE /api/v1/namespaces/{ns}/configmaps[/{name}]
//   POST/GET/PATCH/DELETE /apis/batch/v1/namespaces/{ns}/jobs[/{name}]
//   GET/PATCH/DELETE      /api/v1/namespaces/{ns}/pods[/{name}]
//   GET             /api/v1/namespaces/{ns}/pods/{name}/log
//                     ?follow=&container=  (the container's stdout+stderr
//                     merged, text/plain: all of it so far without follow;
//                     streamed while it runs with follow=true; 400
//                     "container ... is waiting to start: <reason>" while
//                     its container waits; empty before it is scheduled)
//   PATCH           application/strategic-merge-patch+json (what the
//                     Python client sends for a dict body; lists merged by
//                     their API keys: ownerReferences by uid, containers/
//                     volumes/env by name, ...), application/merge-patch+json
//                     (RFC 7386), application/json-patch+json (RFC 6902);
//                     other media types 415 UnsupportedMediaType (also
//                     apply-patch+yaml: no server-side apply). Server-set
//                     metadata and status are kept (status is a
//                     subresource), a different name/namespace is 400, a
//                     stale resourceVersion or uid 409 Conflict, a changed
//                     Job template/selector or Pod spec 422, the result is
//                     validated like a new object; no change, no new
//                     resourceVersion (merge_patch.h)
//   GET ...?labelSelector=&fieldSelector=&limit=&continue=  lists
//                     ({"kind":"PodList","metadata":{"resourceVersion":..},
//                     "items":[..]}, items without kind/apiVersion, sorted
//                     by namespace and name); label selectors a=b, a==b,
//                     a!=b, a, !a, a in (..), a notin (..); field selectors
//                     (=, ==, !=) on metadata.name and metadata.namespace of
//                     every kind, Jobs' status.successful, Pods'
//                     spec.nodeName/restartPolicy/serviceAccountName and
//                     status.phase/podIP ("field label not supported" 400
//                     otherwise); limit=N gives N items, metadata.continue
//                     (a token shaped like the apiserver's) and, without
//                     selectors, remainingItemCount; continue= resumes after
//                     the token's item
//   GET ...?watch=1&resourceVersion=&labelSelector=&fieldSelector=
//          &allowWatchBookmarks=&timeoutSeconds=   chunked JSON lines
//                     {"type":"ADDED|MODIFIED|DELETED|BOOKMARK","object":..};
//                     no/zero resourceVersion starts with ADDED for existing
//                     objects; an older resourceVersion than the kept
//                     history gets an ERROR event with a 410 Expired Status
//                     (HTTP 200, as the real watch cache does); label or
//                     field changes turn MODIFIED into ADDED/DELETED;
//                     timeoutSeconds ends it cleanly; watch=true/True/1 (Go
//                     ParseBool) all work
//   DELETE ...?propagationPolicy= (query or DeleteOptions body;
//                     orphanDependents too; collections take label and field
//                     selectors): Background/Foreground delete the Job's
//                     pods; Orphan (the batch/v1 default!) leaves them (and
//                     every other dependent) without their ownerReference;
//                     deleting a pod marks it (deletionTimestamp), kills its
//                     container, then removes it
//   GET .../pods/{name}/attach?container=&stdin=&stdout=&stderr= with a
//                     WebSocket upgrade (v5.channel.k8s.io or
//                     v4.channel.k8s.io; api_attach.cc): stdin to the
//                     container (spec stdin/stdinOnce), its stdout/stderr on
//                     channels 1/2 from the moment of attaching, a Success
//                     Status on channel 3 when it ends; authorised as get
//                     and create on pods/attach, as since Kubernetes 1.31
//   /version, /healthz, /readyz, /livez
//   GET  /debug/fake/requests[?namespace=NS]   (the fake's own, not the
//                     apiserver's; never counted, faulted or authenticated)
//                     {"requests":[{"verb","resource","count"}..],
//                     "requests_by_namespace":{ns:[..]}, "watches_opened":N,
//                     "open_watches":N, "patch_content_types":{type:N},
//                     "response_codes":{"200":N,..}, "objects":{"configmaps":
//                     N,"jobs":N,"pods":N}, "objects_by_namespace":{ns:{..}},
//                     "garbage_collected":N, "resource_version":".."};
//                     verbs as the audit log names them (create, get, list,
//                     watch, patch, delete, deletecollection), subresources
//                     as "pods/log"; with ?namespace= requests, watches and
//                     objects of that namespace only
//   POST /debug/fake/reset   zeroes the request counters (objects stay)
// Objects get metadata.uid (UUID v4), resourceVersion (one global counter),
// creationTimestamp, generation (Jobs, Pods); errors are Status bodies
// (NotFound 404, AlreadyExists 409, Invalid 422, BadRequest 400, Forbidden
// 403, Unauthorized 401, 413 for bodies over 3 MiB); ConfigMaps over 1 MiB and
// bad keys, bad names/labels/ownerReferences, Jobs without restartPolicy
// Never/OnFailure or containers, volumeMounts naming no volume are rejected
// like the apiserver does; metadata.namespace may be left out of a body.
// Job controller: creates `<job>-<5 chars>` pods (template labels +
// job-name, controller-uid and their batch.kubernetes.io/ forms,
// ownerReference controller=true), Job status active/ready/succeeded/failed,
// startTime/completionTime, conditions Complete / Failed (BackoffLimitExceeded,
// DeadlineExceeded), backoffLimit retries, activeDeadlineSeconds (kills the
// pod: pod Failed reason DeadlineExceeded, then deletes it),
// ttlSecondsAfterFinished (deletes the Job with Background propagation).
// Garbage collector (garbage_collector.h): keeps the ownerReferences graph;
// when an owner goes, dependents none of whose owners exist any more are
// deleted (e.g. the ConfigMap ADK makes its Job own), dangling references of
// dependents with a live owner are dropped; an object created or patched
// with owners that do not exist (kind + name + uid) is collected; owners of
// kinds the fake does not serve are taken to exist. Pods: Pending ->
// scheduled -> ContainerCreating -> Running -> Succeeded/Failed with
// containerStatuses[0].state waiting/running/terminated{exitCode, reason
// Completed|Error|OOMKilled|StartError}; pod-level activeDeadlineSeconds;
// runAsNonRoot with uid 0 -> CreateContainerConfigError. Kubelet modes:
// kRunsc really runs the container under gVisor (host "/" read-only as the
// image, command+args, workingDir, env (value, fieldRef metadata.*),
// runAsUser/Group, configMap volumes in the kubelet's ..data layout, emptyDir
// as tmpfs with sizeLimit, memory/cpu limits in a cgroup -> OOMKilled 137,
// --network=none); kInstant finishes every pod at once (or after
// instant_run_time) with a canned log (instant_log at start, then
// instant_final_log at the end), and a running instant pod that is deleted
// ends at once with exit code 143, as after the kubelet's SIGTERM; an
// instant pod with stdin waits for one whole launcher request on it, as the
// warm launcher does.
// Faults (FaultInjector, see fault_injector.h): status N (+headers) for the
// next K matching requests, 429 + Retry-After, resets before or after
// handling, delays, dropping every open watch mid-stream, 410 on the next
// watch starts, history compaction, slow logs, pods stuck Pending, attach
// streams cut mid-run (faults().DropNextAttachStreams), RBAC
// denials (403 with the real message), a required bearer token (401).
// Introspection: requests per (verb, resource), watch connections opened,
// current objects by namespace and label selector, last created objects,
// objects garbage-collected; the same over HTTP at /debug/fake/.
// Authentication: none unless a bearer token is required (any kubeconfig
// with `server: http://127.0.0.1:<port>` works, e.g. the Python client's
// load_kube_config + BatchV1Api).
//
// WHAT IT DOES NOT FAKE: TLS and authentication beyond one bearer token
// (no users: RBAC denials are injected, not derived from roles),
// authorization beyond the deny list, admission (quotas, LimitRanges, pod
// security), validation beyond the basics above, PUT (updates) and status
// subresources, server-side apply, strategic-merge `$patch` directives other
// than delete in merged lists (and `$setElementOrder`, `$retainKeys`),
// resourceVersionMatch, consistent list snapshots (a continue token resumes
// in the current state, not at its resourceVersion; expired tokens are never
// 410), managedFields, namespaces as objects (any namespace exists unless
// FakeKubeOptions::namespaces is set), other resources (Secrets, Events,
// RuntimeClasses, ...), the "too large resource version" wait, foreground
// deletion of dependents other than a Job's pods (they go when the Job is
// gone), blockOwnerDeletion, pod graceful termination (the container is
// killed at once), init/sidecar/multiple containers, restarts
// (restartPolicy is recorded, containers never restart), real images and
// image pulls (the image is recorded; the rootfs is the sandbox rootfs
// scripts/install-sandbox-rootfs makes, the same tree as the e2e images),
// readOnlyRootFilesystem false (the root is always read-only), subPath,
// networking/Services/DNS, scheduling/nodes/taints/RuntimeClass (every pod
// lands on one fake node; runtimeClassName and tolerations are recorded),
// Events, log options other than follow/container, SPDY attach, exec,
// port-forward, attach protocols before v4 and tty, ephemeral-storage
// limits, API priority and fairness (no 429 unless injected).
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
class GarbageCollector;
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

  // ---- ServiceAccount tokens (TokenReview) ----
  // A token of ServiceAccount `ns`/`name` for `audiences`, valid for `ttl`,
  // as TokenRequest would give: a JWT (unsigned: the fake's TokenReview
  // knows it by value) whose `exp` is its expiry.
  std::string MintServiceAccountToken(const std::string& ns,
                                      const std::string& name,
                                      std::vector<std::string> audiences,
                                      absl::Duration ttl);

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
  // Objects the garbage collector deleted (their owners were gone).
  int64_t GarbageCollected() const;
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
  std::unique_ptr<GarbageCollector> gc_;
  std::unique_ptr<Kubelet> kubelet_;
  std::unique_ptr<JobController> controller_;
  std::unique_ptr<ApiHandlers> handlers_;
  std::unique_ptr<HttpServer> http_;
};

}  // namespace codeexec::fake_kube

#endif  // CODEEXEC_TESTS_FAKE_KUBE_FAKE_KUBE_APISERVER_H_
