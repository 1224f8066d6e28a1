// The ONE pod watch of a replica: lists, then watches the pods carrying this
// replica's labels (allowWatchBookmarks, resuming from the last
// resourceVersion, relisting on 410 Gone, reconnecting with backoff), and
// hands each pod's newest state to the execution waiting for it (by the
// code-executor.dev/execution-id label). No per-execution watch, no polling.
#ifndef CODEEXEC_SERVER_KUBE_POD_WATCHER_H_
#define CODEEXEC_SERVER_KUBE_POD_WATCHER_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "prometheus/counter.h"
#include "server/exec/cancellation.h"
#include "server/kube/client/rest_client.h"

namespace codeexec::kube {

struct PodWatcherOptions {
  std::string namespace_name;
  // e.g. "app.kubernetes.io/managed-by=code-executor,code-executor.dev/
  // replica=<pod>" (not URL-encoded).
  std::string label_selector;
  // The server ends each watch after this long; we resume from the last
  // resourceVersion.
  absl::Duration watch_timeout = absl::Minutes(5);
  // Backoff between failed (re)connections.
  absl::Duration initial_backoff = absl::Milliseconds(200);
  absl::Duration max_backoff = absl::Seconds(10);
};

// The newest state of one pod, as last seen.
struct PodState {
  nlohmann::json pod;    // the Pod object
  bool deleted = false;  // a DELETED event was seen
};

class PodWatcher {
 public:
  // `restarts` (may be null) counts watch (re)connections after the first.
  PodWatcher(RestClient& client, PodWatcherOptions options,
             prometheus::Counter* restarts);
  ~PodWatcher();  // Stop()

  // Lists once (so that the first Subscribe sees current state) and starts
  // the watch thread. Fails if the first list fails (RBAC, connection).
  absl::Status Start();
  void Stop();

  // Calls `on_change` (on the watch thread; it must not block) with the
  // newest state of the pod of `execution_id` whenever it changes; at once
  // if a state is already known.
  using Callback = std::function<void(const PodState&)>;
  int Subscribe(const std::string& execution_id, Callback on_change);
  void Unsubscribe(int subscription);

 private:
  absl::Status Relist();
  void WatchLoop();
  // Records one watch event or listed pod and tells its subscribers.
  void Apply(const std::string& type, const nlohmann::json& pod)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  RestClient& client_;
  const PodWatcherOptions options_;
  prometheus::Counter* const restarts_;
  Cancellation stop_;
  std::thread thread_;

  mutable absl::Mutex mu_;
  std::string resource_version_ ABSL_GUARDED_BY(mu_);
  // Newest state per execution id (dropped once the pod is deleted and
  // nobody is subscribed).
  std::map<std::string, PodState> pods_ ABSL_GUARDED_BY(mu_);
  struct Subscription {
    std::string execution_id;
    Callback callback;
  };
  std::map<int, Subscription> subscriptions_ ABSL_GUARDED_BY(mu_);
  int next_subscription_ ABSL_GUARDED_BY(mu_) = 0;
  int connections_opened_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace codeexec::kube

#endif  // CODEEXEC_SERVER_KUBE_POD_WATCHER_H_
