#include "server/api/code_executor_service.h"

#include <openssl/sha.h>

#include <chrono>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"
#include "server/api/execute_stream.h"
#include "server/api/request_decoder.h"
#include "server/exec/utf8.h"

namespace codeexec {
std::string NewExecutionId() {
  static absl::Mutex mu(absl::kConstInit);
  static absl::BitGen* bitgen = new absl::BitGen();
  absl::MutexLock lock(&mu);
  const uint64_t bits = absl::Uniform<uint64_t>(*bitgen) & 0xffffffffffffULL;
  return absl::StrFormat("ce-%012x", bits);
}

namespace {

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(),
         digest);
  return absl::BytesToHexString(absl::string_view(
      reinterpret_cast<const char*>(digest), SHA256_DIGEST_LENGTH));
}

absl::StatusOr<codeexecutor::v1::ExecuteRequest> Decode(
    const grpc::ByteBuffer& wire) {
  if (wire.Length() == 0) return DecodeExecuteRequest("");  // all defaults
  grpc::Slice slice;
  if (!wire.DumpToSingleSlice(&slice).ok()) {
    return absl::InvalidArgumentError("request: cannot be read");
  }
  return DecodeExecuteRequest(std::string_view(
      reinterpret_cast<const char*>(slice.begin()), slice.size()));
}

}  // namespace

std::optional<absl::Duration> TimeToDeadline(
    const grpc::CallbackServerContext& context) {
  const auto deadline = context.deadline();
  // gRPC reports "no deadline" as a time point far in the future.
  const auto remaining = deadline - std::chrono::system_clock::now();
  if (remaining > std::chrono::hours(24 * 365)) return std::nullopt;
  return absl::FromChrono(remaining);
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      ToValidUtf8(std::string(status.message())));
}

CodeExecutorService::CodeExecutorService(
    ValidatorOptions options, int64_t max_unsent_output_bytes,
    const Backend& backend, Dispatcher& dispatcher, ServiceMetrics* metrics,
    SessionRegistry* sessions, const AuthOptions& auth)
    : options_(std::move(options)),
      max_unsent_output_bytes_(max_unsent_output_bytes),
      backend_(backend),
      dispatcher_(dispatcher),
      metrics_(metrics),
      sessions_(sessions),
      auth_(auth) {}

namespace {

// The codeexec_rejected_total reason of a call refused before it ran.
const char* RejectionReason(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
      return "invalid_argument";
    case absl::StatusCode::kUnauthenticated:
      return "unauthenticated";
    case absl::StatusCode::kPermissionDenied:
      return "permission_denied";
    default:
      return "deadline";
  }
}

}  // namespace

grpc::ServerWriteReactor<grpc::ByteBuffer>* CodeExecutorService::Execute(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* wire) {
  absl::StatusOr<codeexecutor::v1::ExecuteRequest> decoded = Decode(*wire);
  const codeexecutor::v1::ExecuteRequest* request =
      decoded.ok() ? &*decoded
                   : &codeexecutor::v1::ExecuteRequest::default_instance();
  const bool cell = decoded.ok() && !request->session_id().empty();
  // Who calls comes first: a refused caller queues nothing.
  const absl::StatusOr<std::string> caller =
      auth_.Authenticate(context->auth_context().get());
  absl::StatusOr<ExecutionSpec> spec =
      !caller.ok()    ? absl::StatusOr<ExecutionSpec>(caller.status())
      : !decoded.ok() ? absl::StatusOr<ExecutionSpec>(decoded.status())
      : cell          ? ExecutionSpec()  // checked against its session's shape
             : BuildExecutionSpec(*request, options_, TimeToDeadline(*context));
  if (spec.ok() && !cell) {
    if (absl::Status valid = backend_.Validate(*spec); !valid.ok()) {
      spec = valid;
    }
  }
  ExecutionIdentity identity;
  identity.execution_id = NewExecutionId();
  identity.client_request_id = request->client_request_id();
  identity.caller = caller.value_or("");
  identity.backend = std::string(backend_.Name());
  identity.language =
      spec.ok() && !cell ? spec->language_name : request->language();
  identity.code_sha256 = Sha256Hex(request->code());
  identity.code_bytes = request->code().size();
  std::shared_ptr<ExecuteStream> stream =
      ExecuteStream::Create(identity, max_unsent_output_bytes_);
  auto* reactor = stream->reactor();

  if (!spec.ok()) {
    if (metrics_ != nullptr) {
      metrics_->RecordRejected(RejectionReason(spec.status().code()));
    }
    stream->FinishWithError(ToGrpcStatus(spec.status()));
    return reactor;
  }
  if (cell) {
    SubmitCell(context, *request, identity.execution_id, identity.caller,
               std::move(stream));
    return reactor;
  }
  spec->execution_id = identity.execution_id;
  absl::Status submitted =
      dispatcher_.Submit(*std::move(spec), stream, stream->cancellation());
  if (!submitted.ok()) stream->FinishWithError(ToGrpcStatus(submitted));
  return reactor;
}

}  // namespace codeexec
