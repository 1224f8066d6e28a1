#include "tests/fake_kube/object_store.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace codeexec::fake_kube {
namespace {

using json = nlohmann::json;

// The first resourceVersion handed out; watching from anything older is
// "too old" from the start, as on a long-running cluster.
constexpr int64_t kInitialResourceVersion = 100;

void SetResourceVersion(json& object, int64_t resource_version) {
  object["metadata"]["resourceVersion"] = absl::StrCat(resource_version);
}

}  // namespace

std::vector<WatchEvent> WatchSubscription::Next(absl::Time deadline,
                                                int64_t* bookmark_rv) {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return !queue_.empty() || end_ != WatchEnd::kOpen;
  };
  mu_.AwaitWithDeadline(absl::Condition(&ready), deadline);
  std::vector<WatchEvent> events(std::make_move_iterator(queue_.begin()),
                                 std::make_move_iterator(queue_.end()));
  queue_.clear();
  *bookmark_rv = seen_rv_;
  return events;
}

WatchEnd WatchSubscription::end() const {
  absl::MutexLock lock(&mu_);
  return end_;
}

ObjectStore::ObjectStore(size_t history_limit)
    : history_limit_(std::max<size_t>(history_limit, 1)),
      resource_version_(kInitialResourceVersion),
      history_floor_(kInitialResourceVersion) {}

int64_t ObjectStore::resource_version() const {
  absl::MutexLock lock(&mu_);
  return resource_version_;
}

ObjectStore::Key ObjectStore::MakeKey(const ResourceKind& kind,
                                      const std::string& ns,
                                      const std::string& name) {
  return absl::StrCat(kind.plural, "/", ns, "/", name);
}

const std::shared_ptr<const json>* ObjectStore::Find(
    const ObjectRef& ref) const {
  auto it = objects_.find(MakeKey(*ref.kind, ref.ns, ref.name));
  if (it == objects_.end() ||
      (!ref.uid.empty() && MetadataString(*it->second, "uid") != ref.uid)) {
    return nullptr;
  }
  return &it->second;
}

absl::StatusOr<json> ObjectStore::Create(const ResourceKind& kind,
                                         const std::string& ns, json object) {
  absl::MutexLock lock(&mu_);
  json& metadata = object["metadata"];
  std::string name = MetadataString(object, "name");
  if (name.empty()) {
    const std::string prefix = MetadataString(object, "generateName");
    do {
      name = prefix + RandomNameSuffix();
    } while (objects_.contains(MakeKey(kind, ns, name)));
    metadata["name"] = name;
  }
  const Key key = MakeKey(kind, ns, name);
  if (objects_.contains(key)) return AlreadyExistsError(kind, name);
  object["kind"] = kind.kind;
  object["apiVersion"] = kind.api_version;
  metadata["namespace"] = ns;
  if (MetadataString(object, "uid").empty()) metadata["uid"] = NewUid();
  metadata["creationTimestamp"] = FormatKubeTime(absl::Now());
  SetResourceVersion(object, ++resource_version_);
  auto stored = std::make_shared<const json>(std::move(object));
  objects_[key] = stored;
  Commit({&kind, ns, "ADDED", stored, nullptr, resource_version_});
  return *stored;
}

absl::StatusOr<json> ObjectStore::Get(const ObjectRef& ref) const {
  absl::MutexLock lock(&mu_);
  const std::shared_ptr<const json>* found = Find(ref);
  if (found == nullptr) return NotFoundError(*ref.kind, ref.name);
  return **found;
}

ObjectStore::ListResult ObjectStore::List(const ResourceKind& kind,
                                          const std::string& ns,
                                          const LabelSelector& selector,
                                          const FieldSelector& fields) const {
  absl::MutexLock lock(&mu_);
  ListResult result;
  result.resource_version = resource_version_;
  const std::string prefix =
      ns.empty() ? absl::StrCat(kind.plural, "/") : MakeKey(kind, ns, "");
  for (auto it = objects_.lower_bound(prefix);
       it != objects_.end() && absl::StartsWith(it->first, prefix); ++it) {
    if (selector.MatchesObject(*it->second) &&
        fields.MatchesObject(*it->second)) {
      result.items.push_back(*it->second);
    }
  }
  return result;
}

std::map<std::string, int64_t> ObjectStore::CountByNamespace(
    const ResourceKind& kind) const {
  absl::MutexLock lock(&mu_);
  std::map<std::string, int64_t> counts;
  const std::string prefix = absl::StrCat(kind.plural, "/");
  for (auto it = objects_.lower_bound(prefix);
       it != objects_.end() && absl::StartsWith(it->first, prefix); ++it) {
    ++counts[MetadataString(*it->second, "namespace")];
  }
  return counts;
}

void ObjectStore::SetObserver(Observer observer) {
  absl::MutexLock lock(&mu_);
  observer_ = std::move(observer);
}

absl::StatusOr<json> ObjectStore::Update(
    const ObjectRef& ref, absl::FunctionRef<bool(json&)> mutate) {
  absl::MutexLock lock(&mu_);
  if (Find(ref) == nullptr) return NotFoundError(*ref.kind, ref.name);
  std::shared_ptr<const json>& slot =
      objects_[MakeKey(*ref.kind, ref.ns, ref.name)];
  json updated = *slot;
  if (!mutate(updated)) return updated;
  SetResourceVersion(updated, ++resource_version_);
  std::shared_ptr<const json> previous = slot;
  slot = std::make_shared<const json>(std::move(updated));
  Commit({ref.kind, ref.ns, "MODIFIED", slot, previous, resource_version_});
  return *slot;
}

absl::StatusOr<json> ObjectStore::Remove(const ObjectRef& ref) {
  absl::MutexLock lock(&mu_);
  const std::shared_ptr<const json>* found = Find(ref);
  if (found == nullptr) return NotFoundError(*ref.kind, ref.name);
  json removed = **found;
  objects_.erase(MakeKey(*ref.kind, ref.ns, ref.name));
  SetResourceVersion(removed, ++resource_version_);
  auto stored = std::make_shared<const json>(removed);
  Commit({ref.kind, ref.ns, "DELETED", stored, nullptr, resource_version_});
  return removed;
}

std::optional<WatchEvent> ObjectStore::Filter(
    const Change& change, const WatchSubscription& subscription) {
  if (change.kind != subscription.kind_ ||
      (!subscription.ns_.empty() && change.ns != subscription.ns_)) {
    return std::nullopt;
  }
  auto matches = [&](const json& object) {
    return subscription.selector_.MatchesObject(object) &&
           subscription.fields_.MatchesObject(object);
  };
  const bool now_matches = matches(*change.object);
  if (change.type != "MODIFIED" || change.previous == nullptr) {
    if (!now_matches) return std::nullopt;
    return WatchEvent{change.type, change.object};
  }
  const bool matched_before = matches(*change.previous);
  if (now_matches) {
    return WatchEvent{matched_before ? "MODIFIED" : "ADDED", change.object};
  }
  if (!matched_before) return std::nullopt;
  // Left the selection: DELETED with the last matching state.
  json gone = *change.previous;
  SetResourceVersion(gone, change.resource_version);
  return WatchEvent{"DELETED", std::make_shared<const json>(std::move(gone))};
}

void ObjectStore::Commit(Change change) {
  if (observer_) observer_(change.type, *change.kind, change.object);
  for (const std::shared_ptr<WatchSubscription>& subscription :
       subscriptions_) {
    std::optional<WatchEvent> event = Filter(change, *subscription);
    absl::MutexLock lock(&subscription->mu_);
    if (event.has_value()) subscription->queue_.push_back(*std::move(event));
    subscription->seen_rv_ = change.resource_version;
  }
  history_.push_back(std::move(change));
  while (history_.size() > history_limit_) {
    history_floor_ = history_.front().resource_version;
    history_.pop_front();
  }
}

absl::StatusOr<std::shared_ptr<WatchSubscription>> ObjectStore::Watch(
    const ResourceKind& kind, const std::string& ns, LabelSelector selector,
    std::optional<int64_t> from_rv, FieldSelector fields) {
  auto subscription = std::make_shared<WatchSubscription>();
  subscription->kind_ = &kind;
  subscription->ns_ = ns;
  subscription->selector_ = std::move(selector);
  subscription->fields_ = std::move(fields);
  absl::MutexLock lock(&mu_);
  std::deque<WatchEvent> initial;
  if (!from_rv.has_value() || *from_rv == 0) {
    const std::string prefix =
        ns.empty() ? absl::StrCat(kind.plural, "/") : MakeKey(kind, ns, "");
    for (auto it = objects_.lower_bound(prefix);
         it != objects_.end() && absl::StartsWith(it->first, prefix); ++it) {
      if (subscription->selector_.MatchesObject(*it->second) &&
          subscription->fields_.MatchesObject(*it->second)) {
        initial.push_back(WatchEvent{"ADDED", it->second});
      }
    }
  } else {
    if (*from_rv < history_floor_) {
      return absl::OutOfRangeError(
          absl::StrCat("too old resource version: ", *from_rv, " (",
                       history_floor_ + 1, ")"));
    }
    for (const Change& change : history_) {
      if (change.resource_version <= *from_rv) continue;
      std::optional<WatchEvent> event = Filter(change, *subscription);
      if (event.has_value()) initial.push_back(*std::move(event));
    }
  }
  {
    absl::MutexLock sub_lock(&subscription->mu_);
    subscription->queue_ = std::move(initial);
    subscription->seen_rv_ = resource_version_;
  }
  subscriptions_.push_back(subscription);
  return subscription;
}

void ObjectStore::Unsubscribe(
    const std::shared_ptr<WatchSubscription>& subscription) {
  absl::MutexLock lock(&mu_);
  subscriptions_.erase(
      std::remove(subscriptions_.begin(), subscriptions_.end(), subscription),
      subscriptions_.end());
}

void ObjectStore::EndAllWatches(WatchEnd reason) {
  absl::MutexLock lock(&mu_);
  for (const std::shared_ptr<WatchSubscription>& subscription :
       subscriptions_) {
    absl::MutexLock sub_lock(&subscription->mu_);
    if (subscription->end_ == WatchEnd::kOpen) subscription->end_ = reason;
  }
  subscriptions_.clear();
}

int ObjectStore::open_watches() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(subscriptions_.size());
}

void ObjectStore::CompactHistory() {
  absl::MutexLock lock(&mu_);
  history_.clear();
  history_floor_ = resource_version_;
}

}  // namespace codeexec::fake_kube
