// The gRPC CodeExecutor service (callback API): validates a request, queues
// it on the Dispatcher and streams the execution's events back through one
// ServerWriteReactor per call.
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
    : public codeexecutor::v1::CodeExecutor::CallbackService {
 public:
  // `dispatcher` and `metrics` (may be null) must outlive the service.
  // `max_unsent_output_bytes` bounds each call's output not yet sent to its
  // client (server.maxUnsentOutputBytes); above it the run's output is
  // paused (ExecuteStream::WaitForRoom).
  CodeExecutorService(ValidatorOptions options, int64_t max_unsent_output_bytes,
                      Dispatcher& dispatcher, ServiceMetrics* metrics);

  grpc::ServerWriteReactor<codeexecutor::v1::ExecuteResponse>* Execute(
      grpc::CallbackServerContext* context,
      const codeexecutor::v1::ExecuteRequest* request) override;

 private:
  const ValidatorOptions options_;
  const int64_t max_unsent_output_bytes_;
  Dispatcher& dispatcher_;
  ServiceMetrics* const metrics_;
};

// gRPC status for an internal absl::Status (same code, same message).
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_API_CODE_EXECUTOR_SERVICE_H_
