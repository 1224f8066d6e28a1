// Calls made with raw bytes instead of a generated stub: requests that a
// generated client would not encode (invalid UTF-8 in a `string` field), and
// services without a stub here (reflection).
#ifndef CODEEXEC_TESTS_RAW_CALL_H_
#define CODEEXEC_TESTS_RAW_CALL_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"

namespace codeexec::testing {

struct RawCallResult {
  grpc::Status status;
  std::vector<std::string> responses;  // serialized messages, in order
};

// Sends each of `requests` on one call of `method` (e.g.
// "/codeexecutor.v1.CodeExecutor/Execute"), closes the sending side and reads
// everything until the call ends. Works for any streaming shape.
RawCallResult RawCall(const std::string& target, const std::string& method,
                      const std::vector<std::string>& requests,
                      absl::Duration timeout = absl::Seconds(120));

// Hand-encoded protobuf fields.
std::string LengthDelimited(uint32_t number, std::string_view bytes);
std::string Varint(uint32_t number, uint64_t value);

}  // namespace codeexec::testing

#endif  // CODEEXEC_TESTS_RAW_CALL_H_
