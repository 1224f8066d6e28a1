// Kubernetes resource quantities ("500m", "0.5", "256Mi", "1G", "1e3"):
// a non-negative decimal number with an optional binary suffix (Ki Mi Gi Ti
// Pi Ei), decimal suffix (n u m k M G T P E) or exponent (e3, E-2), evaluated
// exactly (no floating point). Errors are InvalidArgument
// `invalid quantity "<text>": <reason>`.
#ifndef CODEEXEC_SERVER_EXEC_QUANTITY_H_
#define CODEEXEC_SERVER_EXEC_QUANTITY_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace codeexec {

// CPU quantity -> millicores, rounded up ("0.1" -> 100, "1" -> 1000,
// "250m" -> 250). Negative, malformed or overflowing -> InvalidArgument.
absl::StatusOr<int64_t> ParseCpuMillis(std::string_view quantity);

// Memory/storage quantity -> bytes ("256Mi", "1G", "1.5Gi", "100", "1e6").
// Fractions of a byte round up. Negative, malformed, overflowing ->
// InvalidArgument.
absl::StatusOr<int64_t> ParseBytes(std::string_view quantity);

// Canonical forms for Kubernetes objects and messages: "500m", "2";
// "256Mi", "1Gi", or plain bytes when not a whole binary unit.
std::string FormatCpuMillis(int64_t millis);
std::string FormatBytes(int64_t bytes);

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_EXEC_QUANTITY_H_
