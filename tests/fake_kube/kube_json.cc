#include "tests/fake_kube/kube_json.h"

#include <cstdint>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"

namespace codeexec::fake_kube {
namespace {

uint64_t RandomBits() {
  static absl::Mutex mu(absl::kConstInit);
  static std::mt19937_64* engine = nullptr;
  absl::MutexLock lock(&mu);
  if (engine == nullptr) engine = new std::mt19937_64(std::random_device{}());
  return (*engine)();
}

}  // namespace

// List items carry no kind/apiVersion, as in kube-apiserver's lists.
nlohmann::json ListBody(const ResourceKind& kind,
                        std::vector<nlohmann::json> items,
                        int64_t resource_version) {
  nlohmann::json list = nlohmann::json::array();
  for (nlohmann::json& item : items) {
    item.erase("kind");
    item.erase("apiVersion");
    list.push_back(std::move(item));
  }
  return {{"kind", kind.list_kind},
          {"apiVersion", kind.api_version},
          {"metadata", {{"resourceVersion", absl::StrCat(resource_version)}}},
          {"items", std::move(list)}};
}

std::string ResourceKind::QualifiedPlural() const {
  return *group == '\0' ? std::string(plural)
                        : absl::StrCat(plural, ".", group);
}

std::string ResourceKind::QualifiedKind() const {
  return *group == '\0' ? std::string(kind) : absl::StrCat(kind, ".", group);
}

bool QueryBool(absl::string_view value) {
  return value == "1" || value == "t" || value == "T" || value == "TRUE" ||
         value == "true" || value == "True";
}

const ResourceKind* FindResource(absl::string_view plural) {
  for (const ResourceKind* kind : {&kConfigMaps, &kJobs, &kPods}) {
    if (plural == kind->plural) return kind;
  }
  return nullptr;
}

nlohmann::json StatusBody(int code, absl::string_view reason,
                          absl::string_view message, nlohmann::json details) {
  nlohmann::json body = {{"kind", "Status"},
                         {"apiVersion", "v1"},
                         {"metadata", nlohmann::json::object()},
                         {"status", code < 400 ? "Success" : "Failure"},
                         {"message", std::string(message)},
                         {"reason", std::string(reason)}};
  if (!details.is_null()) body["details"] = std::move(details);
  body["code"] = code;
  return body;
}

KubeError ErrorFromStatus(const absl::Status& status, const ResourceKind* kind,
                          absl::string_view name) {
  int code = 500;
  const char* reason = "InternalError";
  bool use_kind_name = false;
  switch (status.code()) {
    case absl::StatusCode::kNotFound:
      code = 404;
      reason = "NotFound";
      break;
    case absl::StatusCode::kAlreadyExists:
      code = 409;
      reason = "AlreadyExists";
      break;
    case absl::StatusCode::kAborted:
      code = 409;
      reason = "Conflict";
      break;
    case absl::StatusCode::kInvalidArgument:
      code = 422;
      reason = "Invalid";
      use_kind_name = true;
      break;
    case absl::StatusCode::kFailedPrecondition:
      code = 400;
      reason = "BadRequest";
      break;
    case absl::StatusCode::kOutOfRange:
      code = 410;
      reason = "Expired";
      break;
    case absl::StatusCode::kPermissionDenied:
      code = 403;
      reason = "Forbidden";
      break;
    case absl::StatusCode::kUnauthenticated:
      code = 401;
      reason = "Unauthorized";
      break;
    default:
      break;
  }
  nlohmann::json details = nullptr;
  if (kind != nullptr && code != 400 && code != 401 && code != 410) {
    details = nlohmann::json::object();
    if (!name.empty()) details["name"] = std::string(name);
    if (*kind->group != '\0') details["group"] = kind->group;
    details["kind"] = use_kind_name ? kind->kind : kind->plural;
  }
  return {code, StatusBody(code, reason, status.message(), std::move(details))};
}

absl::Status NotFoundError(const ResourceKind& kind, absl::string_view name) {
  return absl::NotFoundError(
      absl::StrCat(kind.QualifiedPlural(), " \"", name, "\" not found"));
}

absl::Status AlreadyExistsError(const ResourceKind& kind,
                                absl::string_view name) {
  return absl::AlreadyExistsError(
      absl::StrCat(kind.QualifiedPlural(), " \"", name, "\" already exists"));
}

absl::Status InvalidError(const ResourceKind& kind, absl::string_view name,
                          absl::string_view field_and_what) {
  return absl::InvalidArgumentError(absl::StrCat(
      kind.QualifiedKind(), " \"", name, "\" is invalid: ", field_and_what));
}

std::string FormatKubeTime(absl::Time time) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", time, absl::UTCTimeZone());
}

std::string NewUid() {
  const uint64_t high = (RandomBits() & ~uint64_t{0xF000}) | 0x4000;
  const uint64_t low =
      (RandomBits() & ~(uint64_t{0xC} << 60)) | (uint64_t{0x8} << 60);
  return absl::StrFormat("%08x-%04x-%04x-%04x-%012x", high >> 32,
                         (high >> 16) & 0xFFFF, high & 0xFFFF, low >> 48,
                         low & 0xFFFFFFFFFFFF);
}

std::string RandomNameSuffix(int length) {
  static constexpr char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  std::string suffix;
  for (int i = 0; i < length; ++i) {
    suffix.push_back(kAlphabet[RandomBits() % (sizeof(kAlphabet) - 1)]);
  }
  return suffix;
}

std::string RandomHex(int length) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (int i = 0; i < length; ++i) hex.push_back(kDigits[RandomBits() % 16]);
  return hex;
}

const nlohmann::json& JsonAt(const nlohmann::json& object,
                             std::initializer_list<const char*> path) {
  static const nlohmann::json* const kNull = new nlohmann::json(nullptr);
  const nlohmann::json* current = &object;
  for (const char* key : path) {
    if (!current->is_object() || !current->contains(key)) return *kNull;
    current = &(*current)[key];
  }
  return *current;
}

std::string QuantityText(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number()) return value.dump();
  return "";
}

std::string MetadataString(const nlohmann::json& object, const char* key) {
  if (!object.is_object() || !object.contains("metadata")) return "";
  const nlohmann::json& metadata = object["metadata"];
  if (!metadata.is_object() || !metadata.contains(key) ||
      !metadata[key].is_string()) {
    return "";
  }
  return metadata[key].get<std::string>();
}

}  // namespace codeexec::fake_kube
