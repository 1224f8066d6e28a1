// The gRPC CodeExecutor service (callback API): validates a request, queues
// it on the Dispatcher and streams the execution's events back through one
// ServerWriteReactor per call. Execute is served raw (ByteBuffer in and out):
// the request is decoded here (request_decoder.h) so that invalid UTF-8 in a
// string field is INVALID_ARGUMENT naming it; clients see the normal proto.
#ifndef CODEEXEC_SERVER_API_CODE_EXECUTOR_SERVICE_H_
#define CODEEXEC_SERVER_API_CODE_EXECUTOR_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>

#include "codeexecutor/v1/code_executor.grpc.pb.h"
#include "server/api/caller_auth.h"
#include "server/api/caller_quotas.h"
#include "server/api/execute_stream.h"
#include "server/api/request_validator.h"
#include "server/exec/dispatcher.h"
#include "server/exec/session_registry.h"
#include "server/metrics/service_metrics.h"

namespace codeexec {

class CodeExecutorService final
    : public codeexecutor::v1::CodeExecutor::WithRawCallbackMethod_Execute<
          codeexecutor::v1::CodeExecutor::CallbackService> {
 public:
  // `backend` (asked to Validate each request and named in Accepted: the
  // one `dispatcher` runs on), `dispatcher`, `metrics` and `sessions` (both
  // may be null: no metrics, no sessions) must outlive the service.
  // `max_unsent_output_bytes` bounds each call's output not yet sent to its
  // client (server.maxUnsentOutputBytes); above it the run's output is
  // paused (ExecuteStream::WaitForRoom). `auth` decides who may call
  // (server.auth; CallerAuth, with `tokens` for mode token: it must outlive
  // the service), `quotas` how much each caller may run (server.quotas).
  CodeExecutorService(ValidatorOptions options, int64_t max_unsent_output_bytes,
                      const Backend& backend, Dispatcher& dispatcher,
                      ServiceMetrics* metrics,
                      SessionRegistry* sessions = nullptr,
                      const AuthOptions& auth = {},
                      TokenAuthenticator* tokens = nullptr,
                      QuotaOptions quotas = {});

  // `wire` is a serialized ExecuteRequest; the stream carries serialized
  // ExecuteResponses.
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Execute(
      grpc::CallbackServerContext* context,
      const grpc::ByteBuffer* wire) override;

  // session_calls.cc: the session's sandbox starts on a dispatcher worker;
  // the call answers when it is ready.
  grpc::ServerUnaryReactor* CreateSession(
      grpc::CallbackServerContext* context,
      const codeexecutor::v1::CreateSessionRequest* request,
      codeexecutor::v1::Session* response) override;
  grpc::ServerUnaryReactor* CloseSession(
      grpc::CallbackServerContext* context,
      const codeexecutor::v1::CloseSessionRequest* request,
      codeexecutor::v1::CloseSessionResponse* response) override;

 private:
  // An Execute whose caller is known (or refused): validated, admitted by
  // the caller's quotas and queued, or finished with the error.
  void AdmitExecute(
      grpc::CallbackServerContext* context,
      const absl::StatusOr<codeexecutor::v1::ExecuteRequest>& decoded,
      const absl::StatusOr<std::string>& caller,
      std::shared_ptr<ExecuteStream> stream);
  // Counts a call refused before it ran (codeexec_rejected_total).
  void RecordRejected(const absl::Status& status);
  // session_calls.cc: an Execute with a session_id, its stream created.
  // The caller of a session call (CallerAuth), or UNIMPLEMENTED without
  // sessions, to `done` (see CallerAuth::Authenticate for when).
  void SessionCaller(const grpc::CallbackServerContext& context,
                     CallerAuth::Done done) const;
  // CreateSession once its caller is known.
  void StartSession(grpc::CallbackServerContext* context,
                    grpc::ServerUnaryReactor* reactor,
                    const codeexecutor::v1::CreateSessionRequest& request,
                    std::string caller, codeexecutor::v1::Session* response);
  // `caller` must be the session's owner.
  void SubmitCell(grpc::CallbackServerContext* context,
                  const codeexecutor::v1::ExecuteRequest& request,
                  std::string execution_id, const std::string& caller,
                  std::shared_ptr<ExecuteStream> stream);

  const ValidatorOptions options_;
  const int64_t max_unsent_output_bytes_;
  const Backend& backend_;
  Dispatcher& dispatcher_;
  ServiceMetrics* const metrics_;
  SessionRegistry* const sessions_;
  const CallerAuth auth_;
  const std::shared_ptr<CallerQuotas> quotas_;
  const int max_open_sessions_per_caller_;
};

// "ce-" + 12 hex digits: a new execution's id.
std::string NewExecutionId();

// The deadline of `context`'s call as time left, if it has one.
std::optional<absl::Duration> TimeToDeadline(
    const grpc::CallbackServerContext& context);

// gRPC status for an internal absl::Status (same code, same message made
// valid UTF-8).
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_API_CODE_EXECUTOR_SERVICE_H_
