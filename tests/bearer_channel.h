// A client of the real gRPC API that sends a bearer token on every call
// (metadata "authorization: Bearer <token>"), as an agent with a projected
// ServiceAccount token does: a client interceptor, so every helper that
// takes a stub (Execute, CreateSession, RunCell, ...) works unchanged.
#ifndef CODEEXEC_TESTS_BEARER_CHANNEL_H_
#define CODEEXEC_TESTS_BEARER_CHANNEL_H_

#include <memory>
#include <string>

#include "codeexecutor/v1/code_executor.grpc.pb.h"

namespace codeexec::testing {

// A plaintext channel to `target` whose calls carry `token` ("" = none).
std::unique_ptr<codeexecutor::v1::CodeExecutor::Stub> BearerStub(
    const std::string& target, const std::string& token);

}  // namespace codeexec::testing

#endif  // CODEEXEC_TESTS_BEARER_CHANNEL_H_
