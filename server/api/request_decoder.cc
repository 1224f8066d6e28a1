#include "server/api/request_decoder.h"

#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/api/execute_request_wire.pb.h"
#include "server/api/field_error.h"
#include "server/exec/utf8.h"

namespace codeexec {
namespace {

using ::codeexec::wire::ExecuteRequestWire;

// OK, or `<field>: <what> not valid UTF-8 (byte N: 0xNN)`.
absl::Status CheckUtf8(absl::string_view field, std::string_view text,
                       absl::string_view what = "") {
  std::optional<size_t> bad = FirstInvalidUtf8Byte(text);
  if (!bad.has_value()) return absl::OkStatus();
  return FieldError(
      field, absl::StrFormat("%snot valid UTF-8 (byte %d: 0x%02x)", what, *bad,
                             static_cast<unsigned char>(text[*bad])));
}

absl::Status CheckStrings(const ExecuteRequestWire& raw) {
  for (auto [field, text] :
       {std::pair{"code", &raw.code()}, {"language", &raw.language()}}) {
    if (auto s = CheckUtf8(field, *text); !s.ok()) return s;
  }
  for (const ExecuteRequestWire::EnvEntry& entry : raw.env()) {
    const std::string field =
        absl::StrCat("env[", QuoteForError(entry.key()), "]");
    if (auto s = CheckUtf8(field, entry.key(), "name is "); !s.ok()) return s;
    if (auto s = CheckUtf8(field, entry.value(), "value is "); !s.ok()) {
      return s;
    }
  }
  for (int i = 0; i < raw.files_size(); ++i) {
    const wire::File& file = raw.files(i);
    if (auto s = CheckUtf8(absl::StrCat("files[", i, "].path"), file.path());
        !s.ok()) {
      return s;
    }
    if (!file.raw_path().empty()) {
      return FieldError(absl::StrCat("files[", i, "].raw_path"),
                        "only output files carry it; name input files by "
                        "path (valid UTF-8)");
    }
  }
  const wire::Limits& limits = raw.limits();
  for (auto [field, text] :
       {std::pair{"limits.cpu_requested", &limits.cpu_requested()},
        {"limits.cpu_limit", &limits.cpu_limit()},
        {"limits.memory_requested", &limits.memory_requested()},
        {"limits.memory_limit", &limits.memory_limit()},
        {"client_request_id", &raw.client_request_id()},
        {"session_id", &raw.session_id()}}) {
    if (auto s = CheckUtf8(field, *text); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<codeexecutor::v1::ExecuteRequest> DecodeExecuteRequest(
    std::string_view wire) {
  ExecuteRequestWire raw;
  if (!raw.ParseFromArray(wire.data(), static_cast<int>(wire.size()))) {
    return absl::InvalidArgumentError(
        "request: not a valid ExecuteRequest (malformed protobuf)");
  }
  if (absl::Status s = CheckStrings(raw); !s.ok()) return s;
  // Re-encoded from the twin rather than parsed from `wire` again: a field
  // given twice keeps only its last (checked) value, so the strict parser
  // below never meets invalid UTF-8 and never logs.
  codeexecutor::v1::ExecuteRequest request;
  if (!request.ParseFromString(raw.SerializeAsString())) {
    return absl::InternalError(
        "the request decoder is out of step with ExecuteRequest");
  }
  return request;
}

}  // namespace codeexec
