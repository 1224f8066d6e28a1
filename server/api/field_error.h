// INVALID_ARGUMENT errors that name the request field at fault.
#ifndef CODEEXEC_SERVER_API_FIELD_ERROR_H_
#define CODEEXEC_SERVER_API_FIELD_ERROR_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace codeexec {

// "<field>: <problem>" as INVALID_ARGUMENT.
inline absl::Status FieldError(absl::string_view field,
                               absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", problem));
}

// Client-supplied text quoted for an error message: C-escaped and cut after
// 64 bytes, so that a hostile value cannot bloat the status (trailers are
// small) or carry invalid UTF-8 into it.
inline std::string QuoteForError(absl::string_view text) {
  constexpr size_t kMaxQuoted = 64;
  if (text.size() <= kMaxQuoted) {
    return absl::StrCat("\"", absl::CHexEscape(text), "\"");
  }
  return absl::StrCat("\"", absl::CHexEscape(text.substr(0, kMaxQuoted)),
                      "\"... (", text.size(), " bytes)");
}

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_API_FIELD_ERROR_H_
