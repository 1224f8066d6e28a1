// The session calls of a real gRPC client, for the whole-binary tests of
// both backends (tests/session_server_test.cc, tests/kube_session_test.cc,
// tests/e2e/e2e_session_test.cc).
#ifndef CODEEXEC_TESTS_SESSION_CALLS_H_
#define CODEEXEC_TESTS_SESSION_CALLS_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "codeexecutor/v1/code_executor.grpc.pb.h"
#include "tests/server_process.h"

namespace codeexec::testing {

// CreateSession with a deadline of `timeout_seconds`; its status as an
// absl::Status.
absl::StatusOr<codeexecutor::v1::Session> CreateSession(
    codeexecutor::v1::CodeExecutor::Stub& stub,
    const codeexecutor::v1::CreateSessionRequest& request = {},
    int timeout_seconds = 60);

// Execute of `code` in the session (timeout 0: the session's).
ExecuteOutcome RunCell(codeexecutor::v1::CodeExecutor::Stub& stub,
                       const std::string& session_id, std::string code,
                       uint32_t timeout_seconds = 0);

// CloseSession; the cells it ran into *cells if given.
grpc::Status CloseSession(codeexecutor::v1::CodeExecutor::Stub& stub,
                          const std::string& session_id,
                          uint32_t* cells = nullptr);

// What every backend's sessions keep, checked cell by cell (gtest
// expectations) in the Python session `session_id`; each leaves the
// session open.
// Two cells: the first sets x = 41 and writes data.bin (every byte value
// and invalid UTF-8, 1 MB), which comes back as its one output file; the
// second sends data.bin to stdout and x + 1 to stderr. Bytes exact.
void CheckCellsKeepGlobalsAndFiles(codeexecutor::v1::CodeExecutor::Stub& stub,
                                   const std::string& session_id);
// A cell raising: NONZERO_EXIT with the traceback, the session lives.
void CheckAnExceptionEndsOnlyTheCell(codeexecutor::v1::CodeExecutor::Stub& stub,
                                     const std::string& session_id);
// A cell past its timeout that set z = 7: TIMEOUT, its output up to the
// interrupt, KeyboardInterrupt on stderr; the next cell sees z.
void CheckATimeoutInterruptsOnlyTheCell(
    codeexecutor::v1::CodeExecutor::Stub& stub, const std::string& session_id,
    uint32_t timeout_seconds);

}  // namespace codeexec::testing

#endif  // CODEEXEC_TESTS_SESSION_CALLS_H_
