// The streaming half of ApiHandlers: watches and pod logs.
#include <algorithm>
#include <optional>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/fake_kube/api_handlers.h"
#include "tests/fake_kube/pod_status.h"

namespace codeexec::fake_kube {
namespace {

using json = nlohmann::json;

// How often a stream looks at its client, drops and shutdown.
constexpr absl::Duration kStreamPoll = absl::Milliseconds(100);

json ExpiredStatus(const std::string& message) {
  return StatusBody(410, "Expired", message);
}

}  // namespace

bool ApiHandlers::WriteWatchEvent(Call& call, const std::string& type,
                                  const json& object) {
  // Field order as kube-apiserver writes it (json objects sort their keys).
  return call.responder.WriteChunk(absl::StrCat(
      "{\"type\":\"", type, "\",\"object\":", object.dump(), "}\n"));
}

void ApiHandlers::Watch(Call& call) {
  const HttpRequest& request = call.request;
  LabelSelector labels;
  FieldSelector fields;
  if (absl::Status parsed = ParseSelectors(call, &labels, &fields);
      !parsed.ok()) {
    return ReplyError(call, parsed);
  }
  std::optional<int64_t> from_rv;
  if (const std::string rv = request.Query("resourceVersion"); !rv.empty()) {
    int64_t parsed = 0;
    if (!absl::SimpleAtoi(rv, &parsed) || parsed < 0) {
      return ReplyError(call, absl::InvalidArgumentError(absl::StrCat(
                                  "resourceVersion: Invalid value: \"", rv,
                                  "\": strconv.ParseUint: parsing \"", rv,
                                  "\": invalid syntax")));
    }
    from_rv = parsed;
  }
  absl::Duration timeout = options_.default_watch_timeout;
  if (int64_t seconds = 0;
      absl::SimpleAtoi(request.Query("timeoutSeconds"), &seconds) &&
      seconds > 0) {
    timeout = absl::Seconds(seconds);
  }
  const std::string bookmarks_param = request.Query("allowWatchBookmarks");
  const bool bookmarks = QueryBool(bookmarks_param);

  stats_.SetCode(call.record, 200);
  if (!call.responder.StartStream(200, "application/json")) return;
  if (faults_.TakeWatchExpiry()) {
    const int64_t current = store_.resource_version();
    WriteWatchEvent(call, "ERROR",
                    ExpiredStatus(absl::StrCat(
                        "too old resource version: ", from_rv.value_or(0), " (",
                        current, ")")));
    return call.responder.EndStream();
  }
  absl::StatusOr<std::shared_ptr<WatchSubscription>> subscription =
      store_.Watch(*call.route.kind, call.route.ns, std::move(labels), from_rv,
                   std::move(fields));
  if (!subscription.ok()) {
    WriteWatchEvent(
        call, "ERROR",
        ExpiredStatus(std::string(subscription.status().message())));
    return call.responder.EndStream();
  }
  const absl::Time end = absl::Now() + timeout;
  absl::Time next_bookmark = absl::Now() + options_.bookmark_interval;
  bool cut = false;
  while (true) {
    absl::Time wake = std::min(end, absl::Now() + kStreamPoll);
    if (bookmarks) wake = std::min(wake, next_bookmark);
    int64_t bookmark_rv = 0;
    std::vector<WatchEvent> events = (*subscription)->Next(wake, &bookmark_rv);
    const WatchEnd ended = (*subscription)->end();
    if (ended == WatchEnd::kDropped) {
      cut = true;
      break;
    }
    bool written = true;
    for (const WatchEvent& event : events) {
      written = written && WriteWatchEvent(call, event.type, *event.object);
    }
    if (!written || ended == WatchEnd::kStopped || stopping_ ||
        absl::Now() >= end || call.responder.ClientGone()) {
      break;
    }
    if (bookmarks && absl::Now() >= next_bookmark) {
      json object = {{"kind", call.route.kind->kind},
                     {"apiVersion", call.route.kind->api_version},
                     {"metadata",
                      {{"resourceVersion", absl::StrCat(bookmark_rv)},
                       {"creationTimestamp", nullptr}}}};
      if (!WriteWatchEvent(call, "BOOKMARK", object)) break;
      next_bookmark = absl::Now() + options_.bookmark_interval;
    }
  }
  store_.Unsubscribe(*subscription);
  if (cut) return call.responder.Abort(/*reset=*/false);
  call.responder.EndStream();
}

void ApiHandlers::StreamLog(Call& call) {
  const ObjectRef ref = {&kPods, call.route.ns, call.route.name, ""};
  absl::StatusOr<json> pod = store_.Get(ref);
  if (!pod.ok()) return ReplyError(call, pod.status());
  const std::string container = ContainerName(*pod);
  const std::string asked = call.request.Query("container");
  if (!asked.empty() && asked != container) {
    return ReplyError(call, absl::FailedPreconditionError(absl::StrCat(
                                "container ", asked, " is not valid for pod ",
                                call.route.name)));
  }
  if (ContainerStateName(*pod) == "waiting") {
    return ReplyError(
        call, absl::FailedPreconditionError(absl::StrCat(
                  "container \"", container, "\" in pod \"", call.route.name,
                  "\" is waiting to start: ", WaitingReason(*pod))));
  }
  std::shared_ptr<PodLog> log = kubelet_.Log(MetadataString(*pod, "uid"));
  const std::string follow = call.request.Query("follow");
  if (log == nullptr || !JsonAt(*pod, {"spec", "nodeName"}).is_string() ||
      !QueryBool(follow)) {
    // Not on a node yet: an empty log, as kube-apiserver answers.
    stats_.SetCode(call.record, 200);
    return call.responder.Send(200, "text/plain",
                               log == nullptr ? "" : log->Contents());
  }
  stats_.SetCode(call.record, 200);
  if (!call.responder.StartStream(200, "text/plain")) return;
  size_t offset = 0;
  while (!stopping_) {
    PodLog::Chunk chunk = log->ReadFrom(offset, absl::Now() + kStreamPoll);
    offset += chunk.data.size();
    const absl::Duration delay = faults_.log_chunk_delay();
    absl::string_view rest = chunk.data;
    bool written = true;
    while (!rest.empty() && written) {
      size_t size = rest.size();
      if (delay > absl::ZeroDuration()) {
        const size_t newline = rest.find('\n');
        size = newline == absl::string_view::npos ? rest.size() : newline + 1;
        absl::SleepFor(delay);
      }
      written = call.responder.WriteChunk(rest.substr(0, size));
      rest.remove_prefix(size);
    }
    if (!written || call.responder.ClientGone()) return;
    if (chunk.finished) break;  // `chunk` held everything there will be
  }
  call.responder.EndStream();
}

}  // namespace codeexec::fake_kube
