// The fake apiserver's storage: objects by (resource, namespace, name), one
// global resourceVersion counter bumped by every write, a bounded history of
// changes, and watch subscriptions fed from it (like the apiserver's watch
// cache: label-filtered, resumable from a resourceVersion still in the
// history, "too old" otherwise).
#ifndef CODEEXEC_TESTS_FAKE_KUBE_OBJECT_STORE_H_
#define CODEEXEC_TESTS_FAKE_KUBE_OBJECT_STORE_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "tests/fake_kube/field_selector.h"
#include "tests/fake_kube/kube_json.h"
#include "tests/fake_kube/label_selector.h"

namespace codeexec::fake_kube {

// Names one stored object; an empty `uid` matches any object of that name,
// a set one only the object with that uid (not a later namesake).
struct ObjectRef {
  const ResourceKind* kind;
  std::string ns;
  std::string name;
  std::string uid;
};

struct WatchEvent {
  std::string type;  // ADDED, MODIFIED, DELETED
  std::shared_ptr<const nlohmann::json> object;
};

// Why a subscription stopped delivering.
enum class WatchEnd { kOpen, kDropped, kStopped };

class WatchSubscription {
 public:
  // Waits until events are queued, the subscription ends or `deadline`
  // passes; returns the queued events (maybe none). `*bookmark_rv` is then
  // a resourceVersion every change up to which has been delivered.
  std::vector<WatchEvent> Next(absl::Time deadline, int64_t* bookmark_rv);
  WatchEnd end() const;

 private:
  friend class ObjectStore;

  const ResourceKind* kind_ = nullptr;
  std::string ns_;
  LabelSelector selector_;
  FieldSelector fields_;
  mutable absl::Mutex mu_;
  std::deque<WatchEvent> queue_ ABSL_GUARDED_BY(mu_);
  int64_t seen_rv_ ABSL_GUARDED_BY(mu_) = 0;
  WatchEnd end_ ABSL_GUARDED_BY(mu_) = WatchEnd::kOpen;
};

class ObjectStore {
 public:
  // Keeps the last `history_limit` changes for watches to resume from.
  explicit ObjectStore(size_t history_limit);

  int64_t resource_version() const;

  // Stores `object` under namespace `ns`: sets kind, apiVersion,
  // metadata.namespace, uid (unless the caller set one), creationTimestamp,
  // resourceVersion, and
  // metadata.name from generateName when the name is empty. ADDED event.
  absl::StatusOr<nlohmann::json> Create(const ResourceKind& kind,
                                        const std::string& ns,
                                        nlohmann::json object);
  absl::StatusOr<nlohmann::json> Get(const ObjectRef& ref) const;

  struct ListResult {
    std::vector<nlohmann::json> items;  // sorted by name
    int64_t resource_version = 0;
  };
  // Objects of `kind` in `ns` (every namespace when empty) matching
  // `selector` and `fields`.
  ListResult List(const ResourceKind& kind, const std::string& ns,
                  const LabelSelector& selector,
                  const FieldSelector& fields = FieldSelector()) const;
  // How many objects of `kind` each namespace holds (no copies).
  std::map<std::string, int64_t> CountByNamespace(
      const ResourceKind& kind) const;

  // Applies `mutate` to the stored object; when it returns true the change
  // gets a new resourceVersion and a MODIFIED event. Returns the object as
  // stored afterwards; NotFound if there is none.
  absl::StatusOr<nlohmann::json> Update(
      const ObjectRef& ref, absl::FunctionRef<bool(nlohmann::json&)> mutate);
  // Removes the object (DELETED event carrying the removal's
  // resourceVersion) and returns it.
  absl::StatusOr<nlohmann::json> Remove(const ObjectRef& ref);

  // Starts a watch. `from_rv` unset or 0: synthetic ADDED events for the
  // current objects first; otherwise every change after it, OutOfRange
  // ("too old resource version") when it is older than the history.
  absl::StatusOr<std::shared_ptr<WatchSubscription>> Watch(
      const ResourceKind& kind, const std::string& ns, LabelSelector selector,
      std::optional<int64_t> from_rv, FieldSelector fields = FieldSelector());
  void Unsubscribe(const std::shared_ptr<WatchSubscription>& subscription);
  // Ends every open subscription with `reason`.
  void EndAllWatches(WatchEnd reason);
  int open_watches() const;
  // Forgets the history (like an etcd compaction): resuming from any older
  // resourceVersion is then "too old".
  void CompactHistory();

  // Told of every change (ADDED, MODIFIED, DELETED) as it is committed, with
  // the store's lock held: it must not call back into the store (the
  // garbage collector queues its work). Set before serving requests.
  using Observer =
      std::function<void(const std::string& type, const ResourceKind& kind,
                         const std::shared_ptr<const nlohmann::json>& object)>;
  void SetObserver(Observer observer);

 private:
  struct Change {
    const ResourceKind* kind;
    std::string ns;
    std::string type;
    std::shared_ptr<const nlohmann::json> object;
    std::shared_ptr<const nlohmann::json> previous;  // MODIFIED only
    int64_t resource_version;
  };
  using Key = std::string;  // "<plural>/<ns>/<name>"

  static Key MakeKey(const ResourceKind& kind, const std::string& ns,
                     const std::string& name);
  // The event `change` means for `subscription`, if any (label changes turn
  // MODIFIED into ADDED or DELETED, like the watch cache).
  static std::optional<WatchEvent> Filter(
      const Change& change, const WatchSubscription& subscription);
  void Commit(Change change) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The stored object `ref` names; nullptr when there is none.
  const std::shared_ptr<const nlohmann::json>* Find(const ObjectRef& ref) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  const size_t history_limit_;
  mutable absl::Mutex mu_;
  int64_t resource_version_ ABSL_GUARDED_BY(mu_);
  // Every change after this resourceVersion is in history_.
  int64_t history_floor_ ABSL_GUARDED_BY(mu_);
  std::map<Key, std::shared_ptr<const nlohmann::json>> objects_
      ABSL_GUARDED_BY(mu_);
  std::deque<Change> history_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<WatchSubscription>> subscriptions_
      ABSL_GUARDED_BY(mu_);
  Observer observer_ ABSL_GUARDED_BY(mu_);
};

}  // namespace codeexec::fake_kube

#endif  // CODEEXEC_TESTS_FAKE_KUBE_OBJECT_STORE_H_
