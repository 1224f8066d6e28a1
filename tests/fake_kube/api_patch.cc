// The PATCH half of ApiHandlers: json-patch, merge-patch and
// strategic-merge-patch of one object (merge_patch.h), with the
// apiserver's checks: server-set metadata and status stay, name and
// namespace cannot change, a stale resourceVersion is a Conflict, Job pod
// templates and selectors are immutable, the result is validated.
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/fake_kube/api_handlers.h"
#include "tests/fake_kube/api_validation.h"
#include "tests/fake_kube/merge_patch.h"

namespace codeexec::fake_kube {
namespace {

using json = nlohmann::json;

// Checks `patched` against `current` and restores what a PATCH of the main
// resource cannot change.
absl::Status Reconcile(const ResourceKind& kind, const json& current,
                       json& patched) {
  const std::string name = MetadataString(current, "name");
  if (!patched.is_object() || !patched["metadata"].is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(kind.QualifiedKind(), " \"", name,
                     "\" is invalid: metadata: Required value"));
  }
  json& metadata = patched["metadata"];
  if (MetadataString(patched, "name") != name) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the name of the object (", MetadataString(patched, "name"),
        ") does not match the name on the URL (", name, ")"));
  }
  if (MetadataString(patched, "namespace") !=
      MetadataString(current, "namespace")) {
    return absl::FailedPreconditionError(
        "the namespace of the provided object does not match the namespace "
        "sent on the request");
  }
  const std::string uid = MetadataString(current, "uid");
  if (MetadataString(patched, "uid") != uid) {
    return absl::AbortedError(absl::StrCat(
        "Precondition failed: UID in precondition: ",
        MetadataString(patched, "uid"), ", UID in object meta: ", uid));
  }
  if (MetadataString(patched, "resourceVersion") !=
      MetadataString(current, "resourceVersion")) {
    return absl::AbortedError(absl::StrCat(
        "Operation cannot be fulfilled on ", kind.QualifiedPlural(), " \"",
        name,
        "\": the object has been modified; please apply your changes to the "
        "latest version and try again"));
  }
  if (&kind == &kJobs) {
    for (const char* field : {"template", "selector"}) {
      if (JsonAt(patched, {"spec", field}) !=
          JsonAt(current, {"spec", field})) {
        return InvalidError(kJobs, name,
                            absl::StrCat("spec.", field,
                                         ": Invalid value: ...: field is "
                                         "immutable"));
      }
    }
  }
  if (&kind == &kPods &&
      JsonAt(patched, {"spec"}) != JsonAt(current, {"spec"})) {
    return InvalidError(kPods, name,
                        "spec: Forbidden: pod updates may not change fields "
                        "other than `spec.containers[*].image`, "
                        "`spec.initContainers[*].image`, "
                        "`spec.activeDeadlineSeconds`, "
                        "`spec.tolerations` (only additions to existing "
                        "tolerations), `spec.terminationGracePeriodSeconds`");
  }
  // Set by the server only; status is its own subresource.
  for (const char* field : {"creationTimestamp", "deletionTimestamp",
                            "deletionGracePeriodSeconds", "generation"}) {
    const json& value = JsonAt(current, {"metadata", field});
    if (value.is_null()) {
      metadata.erase(field);
    } else {
      metadata[field] = value;
    }
  }
  patched["kind"] = kind.kind;
  patched["apiVersion"] = kind.api_version;
  if (current.contains("status")) {
    patched["status"] = current["status"];
  } else {
    patched.erase("status");
  }
  return ValidateNewObject(kind, patched);
}

}  // namespace

void ApiHandlers::Patch(Call& call) {
  const Route& route = call.route;
  if (route.name.empty() || route.resource == "pods/log") {
    return Reply(call, 405,
                 StatusBody(405, "MethodNotAllowed",
                            "the server does not allow this method on the "
                            "requested resource",
                            json::object()));
  }
  const std::string content_type = call.request.Header("content-type");
  stats_.SetContentType(call.record, content_type);
  absl::Status failure;
  const ObjectRef ref = {route.kind, route.ns, route.name, ""};
  absl::StatusOr<json> updated = store_.Update(ref, [&](json& object) {
    absl::StatusOr<json> patched =
        ApplyPatch(object, content_type, call.request.body);
    if (!patched.ok()) {
      failure = patched.status();
      return false;
    }
    if (absl::Status valid = Reconcile(*route.kind, object, *patched);
        !valid.ok()) {
      failure = valid;
      return false;
    }
    if (*patched == object) return false;  // no change, no new version
    object = *std::move(patched);
    return true;
  });
  if (!updated.ok()) return ReplyError(call, updated.status());
  if (absl::IsUnimplemented(failure)) {
    return Reply(call, 415,
                 StatusBody(415, "UnsupportedMediaType", failure.message()));
  }
  if (!failure.ok()) return ReplyError(call, failure);
  Reply(call, 200, *updated);
}

}  // namespace codeexec::fake_kube
