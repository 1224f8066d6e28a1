// What the fake apiserver should get wrong, and when: canned error answers,
// resets, delays, RBAC denials, expired watches, slow logs, pods that never
// leave Pending, attach streams dropped mid-run. Thread-safe; shared by the
// HTTP front, the watch and log streams and the kubelet.
#ifndef CODEEXEC_TESTS_FAKE_KUBE_FAULT_INJECTOR_H_
#define CODEEXEC_TESTS_FAKE_KUBE_FAULT_INJECTOR_H_

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "tests/fake_kube/http_server.h"

namespace codeexec::fake_kube {

// Which requests a fault applies to. Empty fields match anything. Verbs are
// Kubernetes' (create, get, list, watch, delete, deletecollection); the log
// is verb "get" on resource "pods/log" ("log" is accepted as a verb alias).
struct RequestMatch {
  std::string verb;
  std::string resource;  // configmaps, jobs, pods, pods/log
  std::string name;
  std::string ns;
};

// What the apiserver was asked, in RBAC terms.
struct RequestInfo {
  std::string verb;
  std::string resource;
  std::string ns;
  std::string name;
};

struct Fault {
  enum class Action {
    kRespond,             // answer status_code with a Status body
    kReset,               // reset the connection before handling
    kResetAfterHandling,  // handle the request, then reset instead of answering
    kDelay,               // wait `delay`, then handle normally
  };
  Action action = Action::kRespond;
  int status_code = 500;
  std::string reason;   // Status reason; derived from the code when empty
  std::string message;  // Status message; a generic one when empty
  HeaderList headers;   // e.g. {"Retry-After", "1"}
  absl::Duration delay;
};

// Pods created while this is active never start: they stay Pending with
// their container waiting for `reason` (ErrImagePull, ImagePullBackOff,
// CreateContainerConfigError, ...), or unscheduled (PodScheduled False,
// reason Unschedulable) when `unschedulable`.
struct PendingFault {
  std::string reason = "ImagePullBackOff";
  std::string message = "Back-off pulling image \"python:3.11-slim\"";
  bool unschedulable = false;
  // Only pods whose labels match (e.g. "code-executor.dev/execution-id=x");
  // empty: every pod.
  std::string label_selector;
};

class FaultInjector {
 public:
  // Applies `fault` to the next `times` requests matching `match` (times < 0:
  // to all of them until Clear()). Rules are tried in the order added.
  void Add(RequestMatch match, int times, Fault fault);
  // The fault for `request`, consuming one use of the first matching rule.
  std::optional<Fault> Take(const RequestInfo& request);

  // RBAC: `verb` on `resource` answers 403 Forbidden.
  void Forbid(std::string verb, std::string resource);
  bool IsForbidden(const RequestInfo& request) const;

  // The next `count` watch starts get a 410 Expired ERROR event.
  void ExpireNextWatches(int count);
  bool TakeWatchExpiry();

  // The next `count` attach sessions are dropped (the connection cut, no
  // close frame, no status) once `after_output_bytes` of the container's
  // output went through them: a stream lost mid-run.
  void DropNextAttachStreams(int count, int64_t after_output_bytes);
  // The output bytes after which this new attach session is dropped.
  std::optional<int64_t> TakeAttachDrop();

  // Pause between chunks of every log stream (zero: none); logs are then
  // sent a line at a time.
  void SetLogChunkDelay(absl::Duration delay);
  absl::Duration log_chunk_delay() const;

  void AddPendingFault(PendingFault fault);
  // The pending fault that applies to a new pod with `labels`, if any.
  std::optional<PendingFault> PendingFaultFor(
      const nlohmann::json& labels) const;

  // Forgets every rule above.
  void Clear();

 private:
  struct Rule {
    RequestMatch match;
    int remaining;
    Fault fault;
  };
  static bool Matches(const RequestMatch& match, const RequestInfo& request);

  mutable absl::Mutex mu_;
  std::vector<Rule> rules_ ABSL_GUARDED_BY(mu_);
  std::set<std::pair<std::string, std::string>> forbidden_ ABSL_GUARDED_BY(mu_);
  int watch_expiries_ ABSL_GUARDED_BY(mu_) = 0;
  int attach_drops_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t attach_drop_after_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Duration log_chunk_delay_ ABSL_GUARDED_BY(mu_);
  std::vector<PendingFault> pending_faults_ ABSL_GUARDED_BY(mu_);
};

}  // namespace codeexec::fake_kube

#endif  // CODEEXEC_TESTS_FAKE_KUBE_FAULT_INJECTOR_H_
