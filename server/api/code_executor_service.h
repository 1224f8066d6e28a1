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
#include "server/api/request_validator.h"
#include "server/exec/dispatcher.h"
#include "server/metrics/service_metrics.h"

namespace codeexec {

class CodeExecutorService final
    : public codeexecutor::v1::CodeExecutor::WithRawCallbackMethod_Execute<
          codeexecutor::v1::CodeExecutor::Service> {
 public:
  // `backend` (asked to Validate each request and named in Accepted: the
  // one `dispatcher` runs on), `dispatcher` and `metrics` (may be null) must
  // outlive the service. `max_unsent_output_bytes` bounds each call's output
  // not yet sent to its client (server.maxUnsentOutputBytes); above it the
  // run's output is paused (ExecuteStream::WaitForRoom).
  CodeExecutorService(ValidatorOptions options, int64_t max_unsent_output_bytes,
                      const Backend& backend, Dispatcher& dispatcher,
                      ServiceMetrics* metrics);

  // `wire` is a serialized ExecuteRequest; the stream carries serialized
  // ExecuteResponses.
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Execute(
      grpc::CallbackServerContext* context,
      const grpc::ByteBuffer* wire) override;

 private:
  const ValidatorOptions options_;
  const int64_t max_unsent_output_bytes_;
  const Backend& backend_;
  Dispatcher& dispatcher_;
  ServiceMetrics* const metrics_;
};

// gRPC status for an internal absl::Status (same code, same message made
// valid UTF-8).
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_API_CODE_EXECUTOR_SERVICE_H_
