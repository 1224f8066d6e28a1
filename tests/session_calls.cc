#include "tests/session_calls.h"

#include <chrono>
#include <utility>

namespace codeexec::testing {

using ::codeexecutor::v1::CloseSessionRequest;
using ::codeexecutor::v1::CloseSessionResponse;
using ::codeexecutor::v1::CreateSessionRequest;
using ::codeexecutor::v1::ExecuteRequest;
using ::codeexecutor::v1::Session;

absl::StatusOr<Session> CreateSession(
    codeexecutor::v1::CodeExecutor::Stub& stub,
    const CreateSessionRequest& request, int timeout_seconds) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(timeout_seconds));
  Session session;
  grpc::Status status = stub.CreateSession(&context, request, &session);
  if (!status.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                        status.error_message());
  }
  return session;
}

ExecuteOutcome RunCell(codeexecutor::v1::CodeExecutor::Stub& stub,
                       const std::string& session_id, std::string code,
                       uint32_t timeout_seconds) {
  ExecuteRequest request = MakeRequest(std::move(code));
  request.set_session_id(session_id);
  if (timeout_seconds > 0) {
    request.mutable_limits()->set_timeout_seconds(timeout_seconds);
  }
  return Execute(stub, request);
}

grpc::Status CloseSession(codeexecutor::v1::CodeExecutor::Stub& stub,
                          const std::string& session_id, uint32_t* cells) {
  grpc::ClientContext context;
  CloseSessionRequest request;
  request.set_session_id(session_id);
  CloseSessionResponse response;
  grpc::Status status = stub.CloseSession(&context, request, &response);
  if (cells != nullptr) *cells = response.cells();
  return status;
}

}  // namespace codeexec::testing
