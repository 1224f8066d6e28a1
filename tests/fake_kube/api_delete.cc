// The DELETE half of ApiHandlers: one object or a collection, with the
// propagation policy from the query or a DeleteOptions body.
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/fake_kube/api_handlers.h"

namespace codeexec::fake_kube {

using json = nlohmann::json;

absl::StatusOr<std::string> ApiHandlers::Propagation(const Call& call) const {
  std::string policy = call.request.Query("propagationPolicy");
  std::string orphan = call.request.Query("orphanDependents");
  if (!call.request.body.empty()) {
    json options =
        json::parse(call.request.body, nullptr, /*allow_exceptions=*/false);
    if (!options.is_object()) {
      return absl::FailedPreconditionError("DeleteOptions body is not JSON");
    }
    if (options.contains("propagationPolicy") &&
        options["propagationPolicy"].is_string()) {
      policy = options["propagationPolicy"].get<std::string>();
    }
    if (options.contains("orphanDependents") &&
        options["orphanDependents"].is_boolean()) {
      orphan = options["orphanDependents"].get<bool>() ? "true" : "false";
    }
  }
  if (policy.empty() && !orphan.empty()) {
    policy = orphan == "true" ? "Orphan" : "Background";
  }
  if (!policy.empty() && policy != "Orphan" && policy != "Background" &&
      policy != "Foreground") {
    return absl::InvalidArgumentError(absl::StrCat(
        "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: "
        "Unsupported value: \"",
        policy,
        "\": supported values: \"Foreground\", \"Background\", "
        "\"Orphan\""));
  }
  return policy;
}

absl::StatusOr<json> ApiHandlers::DeleteObject(const ObjectRef& ref,
                                               const std::string& propagation) {
  if (ref.kind == &kJobs) return controller_.DeleteJob(ref, propagation);
  if (propagation == "Orphan") {
    absl::StatusOr<json> current = store_.Get(ref);
    if (!current.ok()) return current.status();
    gc_.OrphanDependents(ref.ns, MetadataString(*current, "uid"));
  }
  if (ref.kind == &kPods) return kubelet_.DeletePod(ref);
  absl::StatusOr<json> removed = store_.Remove(ref);
  if (!removed.ok()) return removed.status();
  return json{{"kind", "Status"},
              {"apiVersion", "v1"},
              {"metadata", json::object()},
              {"status", "Success"},
              {"details",
               {{"name", ref.name},
                {"kind", ref.kind->plural},
                {"uid", MetadataString(*removed, "uid")}}}};
}

void ApiHandlers::Delete(Call& call) {
  absl::StatusOr<std::string> propagation = Propagation(call);
  if (!propagation.ok()) return ReplyError(call, propagation.status());
  absl::StatusOr<json> result = DeleteObject(
      {call.route.kind, call.route.ns, call.route.name, ""}, *propagation);
  if (!result.ok()) return ReplyError(call, result.status());
  Reply(call, 200, *result);
}

void ApiHandlers::DeleteCollection(Call& call) {
  absl::StatusOr<std::string> propagation = Propagation(call);
  if (!propagation.ok()) return ReplyError(call, propagation.status());
  LabelSelector labels;
  FieldSelector fields;
  if (absl::Status parsed = ParseSelectors(call, &labels, &fields);
      !parsed.ok()) {
    return ReplyError(call, parsed);
  }
  ObjectStore::ListResult listed =
      store_.List(*call.route.kind, call.route.ns, labels, fields);
  std::vector<json> deleted;
  for (json& item : listed.items) {
    const ObjectRef ref = {call.route.kind, call.route.ns,
                           MetadataString(item, "name"),
                           MetadataString(item, "uid")};
    if (DeleteObject(ref, *propagation).ok())
      deleted.push_back(std::move(item));
  }
  Reply(call, 200,
        ListBody(*call.route.kind, std::move(deleted),
                 store_.resource_version()));
}

}  // namespace codeexec::fake_kube
