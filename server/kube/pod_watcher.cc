#include "server/kube/pod_watcher.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "server/kube/client/api_paths.h"
#include "server/kube/objects/objects.h"

namespace codeexec::kube {
namespace {

std::string ExecutionIdOf(const nlohmann::json& pod) {
  const auto& labels =
      pod.value("/metadata/labels"_json_pointer, nlohmann::json::object());
  auto it = labels.find(kExecutionIdLabel);
  return it != labels.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

PodWatcher::PodWatcher(RestClient& client, PodWatcherOptions options,
                       prometheus::Counter* restarts)
    : client_(client), options_(std::move(options)), restarts_(restarts) {}

PodWatcher::~PodWatcher() { Stop(); }

absl::Status PodWatcher::Start() {
  if (absl::Status listed = Relist(); !listed.ok()) return listed;
  thread_ = std::thread([this] { WatchLoop(); });
  return absl::OkStatus();
}

void PodWatcher::Stop() {
  stop_.Cancel("the pod watcher is stopping");
  if (thread_.joinable()) thread_.join();
}

int PodWatcher::Subscribe(const std::string& execution_id, Callback on_change) {
  absl::MutexLock lock(&mu_);
  const int id = next_subscription_++;
  auto known = pods_.find(execution_id);
  if (known != pods_.end()) on_change(known->second);
  subscriptions_[id] = {execution_id, std::move(on_change)};
  return id;
}

void PodWatcher::Unsubscribe(int subscription) {
  absl::MutexLock lock(&mu_);
  auto it = subscriptions_.find(subscription);
  if (it == subscriptions_.end()) return;
  const std::string execution_id = it->second.execution_id;
  subscriptions_.erase(it);
  // Forget the pod once nobody waits for it any more.
  const bool still_subscribed = std::any_of(
      subscriptions_.begin(), subscriptions_.end(),
      [&](const auto& s) { return s.second.execution_id == execution_id; });
  if (!still_subscribed) pods_.erase(execution_id);
}

absl::Status PodWatcher::Relist() {
  KubeRequest request;
  request.verb = "GET";
  request.kube_verb = "list";
  request.resource = "pods";
  request.path =
      absl::StrCat(CollectionPath(options_.namespace_name, "pods"),
                   "?labelSelector=", UrlEncode(options_.label_selector));
  absl::StatusOr<nlohmann::json> list = client_.Call(request, &stop_);
  if (!list.ok()) return list.status();
  absl::MutexLock lock(&mu_);
  resource_version_ =
      list->value("/metadata/resourceVersion"_json_pointer, std::string());
  for (const auto& pod : list->value("items", nlohmann::json::array())) {
    Apply("MODIFIED", pod);
  }
  return absl::OkStatus();
}

void PodWatcher::Apply(const std::string& type, const nlohmann::json& pod) {
  const std::string execution_id = ExecutionIdOf(pod);
  if (execution_id.empty()) return;
  PodState& state = pods_[execution_id];
  state.pod = pod;
  state.deleted = type == "DELETED";
  for (auto& [id, subscription] : subscriptions_) {
    if (subscription.execution_id == execution_id) subscription.callback(state);
  }
  // Nobody waits for a deleted pod: do not keep it.
  if (state.deleted && std::none_of(subscriptions_.begin(),
                                    subscriptions_.end(), [&](const auto& s) {
                                      return s.second.execution_id ==
                                             execution_id;
                                    })) {
    pods_.erase(execution_id);
  }
}

void PodWatcher::WatchLoop() {
  absl::BitGen jitter;
  absl::Duration backoff = options_.initial_backoff;
  bool relist_needed = false;
  while (!stop_.IsCancelled()) {
    if (relist_needed) {
      if (absl::Status listed = Relist(); !listed.ok()) {
        if (stop_.WaitFor(backoff * absl::Uniform(jitter, 0.5, 1.5))) return;
        backoff = std::min(backoff * 2, options_.max_backoff);
        continue;
      }
      relist_needed = false;
    }
    std::string resource_version;
    {
      absl::MutexLock lock(&mu_);
      resource_version = resource_version_;
      if (connections_opened_++ > 0 && restarts_ != nullptr) {
        restarts_->Increment();
      }
    }
    KubeRequest request;
    request.verb = "GET";
    request.kube_verb = "watch";
    request.resource = "pods";
    request.path = absl::StrCat(
        CollectionPath(options_.namespace_name, "pods"),
        "?watch=1&allowWatchBookmarks=true&labelSelector=",
        UrlEncode(options_.label_selector),
        "&resourceVersion=", UrlEncode(resource_version),
        "&timeoutSeconds=", absl::ToInt64Seconds(options_.watch_timeout));
    bool got_events = false;
    const absl::Status ended = client_.Stream(
        request,
        [&](absl::string_view line) {
          nlohmann::json event = nlohmann::json::parse(line, nullptr, false);
          if (event.is_discarded() || !event.is_object()) return true;
          const std::string type = event.value("type", "");
          const nlohmann::json& object =
              event.contains("object") ? event["object"] : nlohmann::json();
          if (type == "ERROR") {
            // 410 Gone / Expired: our resourceVersion is too old.
            relist_needed = true;
            return false;
          }
          got_events = true;
          absl::MutexLock lock(&mu_);
          const std::string version = object.value(
              "/metadata/resourceVersion"_json_pointer, std::string());
          if (!version.empty()) resource_version_ = version;
          if (type != "BOOKMARK") Apply(type, object);
          return true;
        },
        &stop_);
    if (stop_.IsCancelled()) return;
    if (absl::IsFailedPrecondition(ended)) relist_needed = true;  // HTTP 410
    if (ended.ok() || got_events) {
      backoff = options_.initial_backoff;  // a normal end: reconnect now
      continue;
    }
    if (stop_.WaitFor(backoff * absl::Uniform(jitter, 0.5, 1.5))) return;
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

}  // namespace codeexec::kube
