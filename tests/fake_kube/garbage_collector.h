// The fake kube-controller-manager's garbage collector: it keeps the graph
// of metadata.ownerReferences (owner uid -> dependents) from the store's
// changes, like the real one does from its informers, and
//  - when an owner is removed, deletes each dependent none of whose owners
//    exists any more (Pods through the kubelet, Jobs with Background
//    propagation, ConfigMaps at once), and drops the dangling reference
//    from a dependent that still has a live owner;
//  - deletes an object created or changed with ownerReferences none of
//    whose owners exists (an owner is found by kind, name and uid);
//  - on Orphan propagation, removes the references to the owner from its
//    dependents before the owner goes (OrphanDependents).
// Owners of kinds the fake does not serve (Deployments, ...) are taken to
// exist. Work runs on the TimerQueue, soon after the change, as the real
// collector runs asynchronously.
#ifndef CODEEXEC_TESTS_FAKE_KUBE_GARBAGE_COLLECTOR_H_
#define CODEEXEC_TESTS_FAKE_KUBE_GARBAGE_COLLECTOR_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"
#include "tests/fake_kube/object_store.h"

namespace codeexec::fake_kube {

class TimerQueue;

class GarbageCollector {
 public:
  // Deletes one object the way its kind is deleted (e.g. a pod through the
  // kubelet).
  using Deleter = std::function<void(const ObjectRef&)>;

  GarbageCollector(ObjectStore& store, TimerQueue& timers)
      : store_(store), timers_(timers) {}

  // How Pods and Jobs are deleted; ConfigMaps are removed from the store.
  void SetDeleters(Deleter delete_pod, Deleter delete_job);
  // The store's observer (ObjectStore::SetObserver): updates the graph and
  // queues the checks a change calls for. Called with the store's lock
  // held; never calls the store.
  void Observe(const std::string& type, const ResourceKind& kind,
               const std::shared_ptr<const nlohmann::json>& object);
  // Orphan propagation: removes the references to `owner_uid` from its
  // dependents in `ns`, now (before the owner is removed).
  void OrphanDependents(const std::string& ns, const std::string& owner_uid);
  // Objects this collector deleted so far.
  int64_t collected() const;

 private:
  // (plural, namespace, name, uid) of a dependent.
  using Key = std::tuple<std::string, std::string, std::string, std::string>;
  struct Owner {
    const ResourceKind* kind;  // null: a kind the fake does not serve
    std::string name;
    std::string uid;
  };
  static std::vector<Owner> OwnersOf(const nlohmann::json& object);
  static ObjectRef RefOf(const Key& key);
  bool OwnerExists(const std::string& ns, const Owner& owner) const;
  // Deletes `key`'s object if none of its owners exists; drops dangling
  // references if some do.
  void Check(const Key& key);
  void ScheduleCheck(const Key& key);

  ObjectStore& store_;
  TimerQueue& timers_;
  Deleter delete_pod_;
  Deleter delete_job_;
  mutable absl::Mutex mu_;
  // Owner uid -> its dependents.
  std::map<std::string, std::set<Key>> dependents_ ABSL_GUARDED_BY(mu_);
  // Dependent uid -> (its key, the owner uids it references).
  std::map<std::string, std::pair<Key, std::set<std::string>>> owners_of_
      ABSL_GUARDED_BY(mu_);
  int64_t collected_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace codeexec::fake_kube

#endif  // CODEEXEC_TESTS_FAKE_KUBE_GARBAGE_COLLECTOR_H_
