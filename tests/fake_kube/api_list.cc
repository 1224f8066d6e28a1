// The LIST half of ApiHandlers: label and field selectors, and paging with
// `limit` and `continue` (tokens shaped like kube-apiserver's: URL-safe
// base64 of {"v":"meta.k8s.io/v1","rv":N,"start":"<ns>/<name>\u0000"}).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tests/fake_kube/api_handlers.h"

namespace codeexec::fake_kube {
namespace {

using json = nlohmann::json;

std::string ItemKey(const json& item) {
  return absl::StrCat(MetadataString(item, "namespace"), "/",
                      MetadataString(item, "name"));
}

std::string EncodeContinue(int64_t resource_version, const std::string& key) {
  const json token = {{"v", "meta.k8s.io/v1"},
                      {"rv", resource_version},
                      {"start", key + std::string(1, '\0')}};
  return absl::WebSafeBase64Escape(token.dump());
}

// The key to resume after and the list's resourceVersion.
absl::Status DecodeContinue(const std::string& text, std::string* key,
                            int64_t* resource_version) {
  std::string decoded;
  json token;
  if (absl::WebSafeBase64Unescape(text, &decoded)) {
    token = json::parse(decoded, nullptr, /*allow_exceptions=*/false);
  }
  if (!token.is_object() || token.value("v", "") != "meta.k8s.io/v1" ||
      !token["rv"].is_number_integer() || !token["start"].is_string()) {
    return absl::FailedPreconditionError(
        "continue key is not valid: incorrect encoded start resourceVersion "
        "(version meta.k8s.io/v1)");
  }
  *key = token["start"].get<std::string>();
  if (!key->empty() && key->back() == '\0') key->pop_back();
  *resource_version = token["rv"].get<int64_t>();
  return absl::OkStatus();
}

}  // namespace

absl::Status ApiHandlers::ParseSelectors(const Call& call,
                                         LabelSelector* labels,
                                         FieldSelector* fields) const {
  absl::StatusOr<LabelSelector> label_selector =
      LabelSelector::Parse(call.request.Query("labelSelector"));
  if (!label_selector.ok()) {
    return absl::FailedPreconditionError(label_selector.status().message());
  }
  absl::StatusOr<FieldSelector> field_selector = FieldSelector::Parse(
      call.request.Query("fieldSelector"), *call.route.kind);
  if (!field_selector.ok()) return field_selector.status();
  *labels = *std::move(label_selector);
  *fields = *std::move(field_selector);
  return absl::OkStatus();
}

void ApiHandlers::List(Call& call) {
  LabelSelector labels;
  FieldSelector fields;
  if (absl::Status parsed = ParseSelectors(call, &labels, &fields);
      !parsed.ok()) {
    return ReplyError(call, parsed);
  }
  int64_t limit = 0;
  if (const std::string text = call.request.Query("limit");
      !text.empty() && (!absl::SimpleAtoi(text, &limit) || limit < 0)) {
    return ReplyError(call, absl::FailedPreconditionError(absl::StrCat(
                                "limit: Invalid value: \"", text,
                                "\": must be a non-negative integer")));
  }
  std::string start_after;
  int64_t token_rv = 0;
  if (const std::string token = call.request.Query("continue");
      !token.empty()) {
    if (absl::Status decoded = DecodeContinue(token, &start_after, &token_rv);
        !decoded.ok()) {
      return ReplyError(call, decoded);
    }
  }
  ObjectStore::ListResult listed =
      store_.List(*call.route.kind, call.route.ns, labels, fields);
  const int64_t resource_version =
      token_rv > 0 ? token_rv : listed.resource_version;
  std::vector<json> items;
  for (json& item : listed.items) {
    if (start_after.empty() || ItemKey(item) > start_after) {
      items.push_back(std::move(item));
    }
  }
  std::string next;
  int64_t remaining = 0;
  if (limit > 0 && items.size() > static_cast<size_t>(limit)) {
    remaining = static_cast<int64_t>(items.size()) - limit;
    items.resize(limit);
    next = EncodeContinue(resource_version, ItemKey(items.back()));
  }
  json body = ListBody(*call.route.kind, std::move(items), resource_version);
  if (!next.empty()) {
    body["metadata"]["continue"] = next;
    // Like the apiserver: only counted for lists without selectors.
    if (labels.empty() && fields.empty()) {
      body["metadata"]["remainingItemCount"] = remaining;
    }
  }
  Reply(call, 200, body);
}

}  // namespace codeexec::fake_kube
