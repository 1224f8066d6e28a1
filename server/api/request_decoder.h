// Decodes an Execute request from its wire bytes. The generated parser
// rejects a `string` field holding invalid UTF-8 before any handler runs
// (gRPC then answers a generic error and libprotobuf logs a line); this one
// parses into a server-only twin with `bytes` fields (execute_request_wire
// .proto), checks each string field and names the one at fault.
#ifndef CODEEXEC_SERVER_API_REQUEST_DECODER_H_
#define CODEEXEC_SERVER_API_REQUEST_DECODER_H_

#include <string_view>

#include "absl/status/statusor.h"
#include "codeexecutor/v1/code_executor.pb.h"

namespace codeexec {

// The ExecuteRequest serialized in `wire`. Errors are INVALID_ARGUMENT:
// "request: ..." for bytes that are not a protobuf message, else naming the
// field, e.g. `files[2].path: not valid UTF-8 (byte 3: 0xff)`. Logs nothing.
absl::StatusOr<codeexecutor::v1::ExecuteRequest> DecodeExecuteRequest(
    std::string_view wire);

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_API_REQUEST_DECODER_H_
