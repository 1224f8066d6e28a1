// The fake's own debug endpoints (not kube-apiserver's), for benchmarks and
// tools outside the process; never counted, faulted or authenticated:
//   GET  /debug/fake/requests[?namespace=NS]  request counts, watches,
//        objects (see fake_kube_apiserver.h)
//   POST /debug/fake/reset                     zeroes the request counters
#include <map>
#include <string>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "tests/fake_kube/api_handlers.h"

namespace codeexec::fake_kube {
namespace {

using json = nlohmann::json;

json CountList(
    const std::map<std::pair<std::string, std::string>, int64_t>& counts) {
  json list = json::array();
  for (const auto& [key, count] : counts) {
    list.push_back(
        {{"verb", key.first}, {"resource", key.second}, {"count", count}});
  }
  return list;
}

}  // namespace

void ApiHandlers::HandleDebug(const HttpRequest& request,
                              HttpResponder& responder) {
  if (request.path == "/debug/fake/reset" && request.method == "POST") {
    stats_.Reset();
    return responder.Send(200, "application/json", R"({"reset":true})");
  }
  if (request.path != "/debug/fake/requests" || request.method != "GET") {
    return responder.Send(
        404, "application/json",
        StatusBody(404, "NotFound",
                   "the server could not find the requested resource")
            .dump());
  }
  const std::string only_ns = request.Query("namespace");
  std::map<std::pair<std::string, std::string>, int64_t> totals;
  std::map<std::string, std::map<std::pair<std::string, std::string>, int64_t>>
      by_namespace;
  std::map<std::string, int64_t> content_types;
  std::map<std::string, int64_t> codes;
  int64_t watches = 0;
  for (const RequestRecord& record : stats_.Log()) {
    if (!only_ns.empty() && record.ns != only_ns) continue;
    ++totals[{record.verb, record.resource}];
    if (!record.ns.empty())
      ++by_namespace[record.ns][{record.verb, record.resource}];
    if (record.verb == "watch") ++watches;
    if (!record.content_type.empty()) ++content_types[record.content_type];
    ++codes[absl::StrCat(record.code)];
  }
  json body = {{"requests", CountList(totals)},
               {"requests_by_namespace", json::object()},
               {"watches_opened", watches},
               {"open_watches", store_.open_watches()},
               {"patch_content_types", content_types},
               {"response_codes", codes},
               {"objects", json::object()},
               {"objects_by_namespace", json::object()},
               {"garbage_collected", gc_.collected()},
               {"resource_version", absl::StrCat(store_.resource_version())}};
  if (!only_ns.empty()) body["namespace"] = only_ns;
  for (const auto& [ns, counts] : by_namespace) {
    body["requests_by_namespace"][ns] = CountList(counts);
  }
  for (const ResourceKind* kind : {&kConfigMaps, &kJobs, &kPods}) {
    int64_t total = 0;
    for (const auto& [ns, count] : store_.CountByNamespace(*kind)) {
      body["objects_by_namespace"][ns][kind->plural] = count;
      if (only_ns.empty() || ns == only_ns) total += count;
    }
    body["objects"][kind->plural] = total;
  }
  for (auto& [ns, objects] : body["objects_by_namespace"].items()) {
    for (const ResourceKind* kind : {&kConfigMaps, &kJobs, &kPods}) {
      if (!objects.contains(kind->plural)) objects[kind->plural] = 0;
    }
  }
  responder.Send(200, "application/json", body.dump());
}

}  // namespace codeexec::fake_kube
