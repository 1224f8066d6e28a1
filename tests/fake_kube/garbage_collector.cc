#include "tests/fake_kube/garbage_collector.h"

#include <algorithm>
#include <utility>

#include "absl/time/clock.h"
#include "tests/fake_kube/timer_queue.h"

namespace codeexec::fake_kube {
namespace {

using json = nlohmann::json;

// The served kind an ownerReference names (apiVersion + kind), or null.
const ResourceKind* ServedKind(const json& reference) {
  const std::string api_version = reference.value("apiVersion", "");
  const std::string kind = reference.value("kind", "");
  for (const ResourceKind* served : {&kConfigMaps, &kJobs, &kPods}) {
    if (api_version == served->api_version && kind == served->kind) {
      return served;
    }
  }
  return nullptr;
}

}  // namespace

void GarbageCollector::SetDeleters(Deleter delete_pod, Deleter delete_job) {
  delete_pod_ = std::move(delete_pod);
  delete_job_ = std::move(delete_job);
}

std::vector<GarbageCollector::Owner> GarbageCollector::OwnersOf(
    const json& object) {
  std::vector<Owner> owners;
  const json& references = JsonAt(object, {"metadata", "ownerReferences"});
  if (!references.is_array()) return owners;
  for (const json& reference : references) {
    if (!reference.is_object()) continue;
    owners.push_back({ServedKind(reference), reference.value("name", ""),
                      reference.value("uid", "")});
  }
  return owners;
}

ObjectRef GarbageCollector::RefOf(const Key& key) {
  return {FindResource(std::get<0>(key)), std::get<1>(key), std::get<2>(key),
          std::get<3>(key)};
}

void GarbageCollector::Observe(const std::string& type,
                               const ResourceKind& kind,
                               const std::shared_ptr<const json>& object) {
  const std::string uid = MetadataString(*object, "uid");
  const Key key = {kind.plural, MetadataString(*object, "namespace"),
                   MetadataString(*object, "name"), uid};
  std::set<std::string> owner_uids;
  if (type != "DELETED") {
    for (const Owner& owner : OwnersOf(*object)) owner_uids.insert(owner.uid);
  }
  std::vector<Key> to_check;
  {
    absl::MutexLock lock(&mu_);
    auto known = owners_of_.find(uid);
    const bool changed = known == owners_of_.end()
                             ? !owner_uids.empty()
                             : known->second.second != owner_uids;
    if (known != owners_of_.end()) {
      for (const std::string& owner : known->second.second) {
        auto it = dependents_.find(owner);
        if (it == dependents_.end()) continue;
        it->second.erase(key);
        if (it->second.empty()) dependents_.erase(it);
      }
      owners_of_.erase(known);
    }
    if (!owner_uids.empty()) {
      for (const std::string& owner : owner_uids)
        dependents_[owner].insert(key);
      owners_of_[uid] = {key, owner_uids};
      if (changed) to_check.push_back(key);
    }
    if (type == "DELETED") {
      auto it = dependents_.find(uid);
      if (it != dependents_.end()) {
        to_check.insert(to_check.end(), it->second.begin(), it->second.end());
      }
    }
  }
  for (const Key& dependent : to_check) ScheduleCheck(dependent);
}

void GarbageCollector::ScheduleCheck(const Key& key) {
  timers_.Schedule(absl::Now(), [this, key] { Check(key); });
}

bool GarbageCollector::OwnerExists(const std::string& ns,
                                   const Owner& owner) const {
  if (owner.kind == nullptr) return true;
  return store_.Get({owner.kind, ns, owner.name, owner.uid}).ok();
}

void GarbageCollector::Check(const Key& key) {
  const ObjectRef ref = RefOf(key);
  absl::StatusOr<json> current = store_.Get(ref);
  if (!current.ok() ||
      JsonAt(*current, {"metadata", "deletionTimestamp"}).is_string()) {
    return;  // gone, or on its way
  }
  std::vector<Owner> owners = OwnersOf(*current);
  if (owners.empty()) return;
  std::set<std::string> dangling;
  for (const Owner& owner : owners) {
    if (!OwnerExists(ref.ns, owner)) dangling.insert(owner.uid);
  }
  if (dangling.empty()) return;
  if (dangling.size() < owners.size()) {
    (void)store_.Update(ref, [&](json& object) {
      json& references = object["metadata"]["ownerReferences"];
      if (!references.is_array()) return false;
      references.erase(
          std::remove_if(references.begin(), references.end(),
                         [&](const json& reference) {
                           return dangling.contains(reference.value("uid", ""));
                         }),
          references.end());
      return true;
    });
    return;
  }
  {
    absl::MutexLock lock(&mu_);
    ++collected_;
  }
  if (ref.kind == &kPods && delete_pod_) return delete_pod_(ref);
  if (ref.kind == &kJobs && delete_job_) return delete_job_(ref);
  (void)store_.Remove(ref);
}

void GarbageCollector::OrphanDependents(const std::string& ns,
                                        const std::string& owner_uid) {
  std::vector<Key> dependents;
  {
    absl::MutexLock lock(&mu_);
    auto it = dependents_.find(owner_uid);
    if (it != dependents_.end()) {
      dependents.assign(it->second.begin(), it->second.end());
    }
  }
  for (const Key& key : dependents) {
    if (std::get<1>(key) != ns) continue;
    (void)store_.Update(RefOf(key), [&](json& object) {
      json& metadata = object["metadata"];
      if (!metadata["ownerReferences"].is_array()) return false;
      json& references = metadata["ownerReferences"];
      const size_t before = references.size();
      references.erase(std::remove_if(references.begin(), references.end(),
                                      [&](const json& reference) {
                                        return reference.value("uid", "") ==
                                               owner_uid;
                                      }),
                       references.end());
      const bool changed = references.size() != before;
      if (references.empty()) metadata.erase("ownerReferences");
      return changed;
    });
  }
}

int64_t GarbageCollector::collected() const {
  absl::MutexLock lock(&mu_);
  return collected_;
}

}  // namespace codeexec::fake_kube
