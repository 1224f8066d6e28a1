// Strict UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above
// U+10FFFF) — what protobuf requires of `string` fields and JSON of strings.
#ifndef CODEEXEC_SERVER_EXEC_UTF8_H_
#define CODEEXEC_SERVER_EXEC_UTF8_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace codeexec {

// Offset of the first byte that does not begin a well-formed UTF-8 sequence,
// or nullopt when all of `text` is valid UTF-8.
std::optional<size_t> FirstInvalidUtf8Byte(std::string_view text);

inline bool IsValidUtf8(std::string_view text) {
  return !FirstInvalidUtf8Byte(text).has_value();
}

// `text` with each maximal ill-formed subsequence replaced by U+FFFD (the
// Unicode-recommended practice, as Python's errors="replace" and browsers
// decode); valid text comes back unchanged.
std::string ToValidUtf8(std::string_view text);

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_EXEC_UTF8_H_
