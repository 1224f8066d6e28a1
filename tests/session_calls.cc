#include "tests/session_calls.h"

#include <chrono>
#include <utility>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integrity_checks.h"

namespace codeexec::testing {

using ::codeexecutor::v1::CloseSessionRequest;
using ::codeexecutor::v1::CloseSessionResponse;
using ::codeexecutor::v1::CreateSessionRequest;
using ::codeexecutor::v1::ExecuteRequest;
using ::codeexecutor::v1::Finished;
using ::codeexecutor::v1::Session;
using ::testing::EndsWith;

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

void CheckCellsKeepGlobalsAndFiles(codeexecutor::v1::CodeExecutor::Stub& stub,
                                   const std::string& session_id) {
  ExecuteOutcome first =
      RunCell(stub, session_id,
              "x = 41\n"
              "unit = bytes(range(256)) + b'\\xff\\xfe\\xc3\\x28'\n"
              "open('data.bin', 'wb').write(unit * 4000)\n");
  ASSERT_TRUE(first.status.ok()) << first.status.error_message();
  EXPECT_EQ(first.finished.outcome(), Finished::OK) << first.finished.message();
  std::string unit;
  for (int i = 0; i < 256; ++i) unit.push_back(static_cast<char>(i));
  unit += "\xff\xfe\xc3\x28";
  std::string data;
  for (int i = 0; i < 4000; ++i) data += unit;
  ASSERT_EQ(first.finished.output_files_size(), 1);
  EXPECT_EQ(first.finished.output_files(0).path(), "data.bin");
  EXPECT_EQ(first.finished.output_files(0).content().size(), data.size());
  EXPECT_EQ(Digest(first.finished.output_files(0).content()), Digest(data));
  EXPECT_FALSE(first.finished.session_ended());

  ExecuteOutcome second =
      RunCell(stub, session_id,
              "import sys\nx += 1\n"
              "sys.stdout.buffer.write(open('data.bin', 'rb').read())\n"
              "sys.stdout.flush()\nprint(x, file=sys.stderr)\n");
  ASSERT_TRUE(second.status.ok()) << second.status.error_message();
  EXPECT_EQ(second.finished.outcome(), Finished::OK)
      << second.finished.message();
  EXPECT_EQ(second.stdout_text.size(), data.size());
  EXPECT_EQ(Digest(second.stdout_text), Digest(data));
  EXPECT_EQ(second.stderr_text, "42\n");
  EXPECT_EQ(second.finished.output_files_size(), 0);
}

void CheckAnExceptionEndsOnlyTheCell(codeexecutor::v1::CodeExecutor::Stub& stub,
                                     const std::string& session_id) {
  ExecuteOutcome failed = RunCell(stub, session_id, "y = 'kept'\n1 / 0\n");
  EXPECT_EQ(failed.finished.outcome(), Finished::NONZERO_EXIT);
  EXPECT_EQ(failed.finished.exit_code(), 1);
  EXPECT_THAT(failed.stderr_text,
              EndsWith("ZeroDivisionError: division by zero\n"));
  EXPECT_FALSE(failed.finished.session_ended());
  ExecuteOutcome after = RunCell(stub, session_id, "print(y)");
  EXPECT_EQ(after.stdout_text, "kept\n") << after.finished.message();
}

void CheckATimeoutInterruptsOnlyTheCell(
    codeexecutor::v1::CodeExecutor::Stub& stub, const std::string& session_id,
    uint32_t timeout_seconds) {
  ExecuteOutcome slow =
      RunCell(stub, session_id,
              "import time\nz = 7\nprint('started', flush=True)\n"
              "time.sleep(120)\n",
              timeout_seconds);
  EXPECT_EQ(slow.finished.outcome(), Finished::TIMEOUT)
      << slow.finished.message();
  EXPECT_EQ(slow.stdout_text, "started\n");
  EXPECT_THAT(slow.stderr_text, EndsWith("KeyboardInterrupt\n"));
  EXPECT_FALSE(slow.finished.session_ended());
  ExecuteOutcome after = RunCell(stub, session_id, "print(z)");
  EXPECT_EQ(after.stdout_text, "7\n") << after.finished.message();
}

}  // namespace codeexec::testing
