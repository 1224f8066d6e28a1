#include "server/api/code_executor_service.h"

#include <openssl/sha.h>

#include <chrono>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"
#include "server/api/execute_stream.h"
#include "server/api/request_decoder.h"
#include "server/exec/quota_status.h"
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
    SessionRegistry* sessions, const AuthOptions& auth,
    TokenAuthenticator* tokens, QuotaOptions quotas)
    : options_(std::move(options)),
      max_unsent_output_bytes_(max_unsent_output_bytes),
      backend_(backend),
      dispatcher_(dispatcher),
      metrics_(metrics),
      sessions_(sessions),
      auth_(auth, tokens),
      quotas_(CallerQuotas::Create(quotas)),
      max_open_sessions_per_caller_(quotas.open_sessions) {}

void CodeExecutorService::RecordRejected(const absl::Status& status) {
  if (metrics_ == nullptr) return;
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
      metrics_->RecordRejected("invalid_argument");
      return;
    case absl::StatusCode::kUnauthenticated:
      metrics_->RecordRejected("unauthenticated");
      return;
    case absl::StatusCode::kPermissionDenied:
      metrics_->RecordRejected("permission_denied");
      return;
    case absl::StatusCode::kUnavailable:  // a token could not be checked
      metrics_->RecordRejected("auth_unavailable");
      return;
    case absl::StatusCode::kResourceExhausted:  // the replica's are counted
      if (IsQuotaExceeded(status)) metrics_->RecordRejected("quota");
      return;
    case absl::StatusCode::kDeadlineExceeded:  // too short for the run
      metrics_->RecordRejected("deadline");
      return;
    case absl::StatusCode::kUnimplemented:  // a call this server lacks
      return;
    default:  // what the backend cannot run
      metrics_->RecordRejected("invalid_argument");
  }
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* CodeExecutorService::Execute(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* wire) {
  auto decoded =
      std::make_shared<absl::StatusOr<codeexecutor::v1::ExecuteRequest>>(
          Decode(*wire));
  const codeexecutor::v1::ExecuteRequest& request =
      decoded->ok() ? **decoded
                    : codeexecutor::v1::ExecuteRequest::default_instance();
  ExecutionIdentity identity;
  identity.execution_id = NewExecutionId();
  identity.client_request_id = request.client_request_id();
  identity.backend = std::string(backend_.Name());
  identity.language = request.language();
  identity.code_sha256 = Sha256Hex(request.code());
  identity.code_bytes = request.code().size();
  std::shared_ptr<ExecuteStream> stream =
      ExecuteStream::Create(identity, max_unsent_output_bytes_);
  auto* reactor = stream->reactor();
  // Who calls comes first: a refused caller queues nothing.
  auth_.Authenticate(*context, [this, context, decoded,
                                stream](absl::StatusOr<std::string> caller) {
    AdmitExecute(context, *decoded, caller, stream);
  });
  return reactor;
}

void CodeExecutorService::AdmitExecute(
    grpc::CallbackServerContext* context,
    const absl::StatusOr<codeexecutor::v1::ExecuteRequest>& decoded,
    const absl::StatusOr<std::string>& caller,
    std::shared_ptr<ExecuteStream> stream) {
  const bool cell = decoded.ok() && !decoded->session_id().empty();
  absl::StatusOr<ExecutionSpec> spec =
      !caller.ok()    ? absl::StatusOr<ExecutionSpec>(caller.status())
      : !decoded.ok() ? absl::StatusOr<ExecutionSpec>(decoded.status())
      : cell          ? ExecutionSpec()  // checked against its session's shape
             : BuildExecutionSpec(*decoded, options_, TimeToDeadline(*context));
  if (spec.ok() && !cell) {
    stream->SetLanguage(spec->language_name);
    if (absl::Status valid = backend_.Validate(*spec); !valid.ok()) {
      spec = valid;
    }
  }
  if (caller.ok()) stream->SetCaller(*caller);
  if (spec.ok()) {
    absl::StatusOr<std::unique_ptr<CallerQuotas::Lease>> lease =
        quotas_->Admit(*caller);
    if (lease.ok()) {
      stream->HoldUntilFinished(*std::move(lease));
    } else {
      spec = lease.status();
    }
  }
  if (!spec.ok()) {
    RecordRejected(spec.status());
    stream->FinishWithError(ToGrpcStatus(spec.status()));
    return;
  }
  const std::string execution_id = stream->execution_id();
  if (cell) {
    SubmitCell(context, *decoded, execution_id, *caller, std::move(stream));
    return;
  }
  spec->execution_id = execution_id;
  absl::Status submitted =
      dispatcher_.Submit(*std::move(spec), stream, stream->cancellation());
  if (!submitted.ok()) stream->FinishWithError(ToGrpcStatus(submitted));
}

}  // namespace codeexec
