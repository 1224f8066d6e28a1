// CodeExecutorService's session calls: CreateSession, CloseSession and an
// Execute with a session_id (a cell).
#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "server/api/code_executor_service.h"
#include "server/api/session_request.h"
#include "server/exec/quota_status.h"
#include "server/exec/session_registry.h"

namespace codeexec {
namespace {

using codeexecutor::v1::CloseSessionRequest;
using codeexecutor::v1::CloseSessionResponse;
using codeexecutor::v1::CreateSessionRequest;
using codeexecutor::v1::ExecuteRequest;

void SetDuration(absl::Duration value, google::protobuf::Duration* out) {
  const int64_t seconds = absl::IDivDuration(value, absl::Seconds(1), &value);
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(value)));
}

// The cell's events go to its stream; when it finishes, the session is
// released first (so the client, once it has Finished, may send the next
// cell at once).
class CellObserver : public ExecutionObserver {
 public:
  CellObserver(std::shared_ptr<ExecuteStream> stream, SessionRegistry& registry,
               std::shared_ptr<OpenSession> session,
               std::vector<WorkspaceFile> owed_files)
      : stream_(std::move(stream)),
        registry_(registry),
        session_(std::move(session)),
        owed_files_(std::move(owed_files)) {}

  void OnStarted(absl::Duration queue_wait) override {
    stream_->OnStarted(queue_wait);
  }
  void OnOutput(OutputStream stream, std::string_view data) override {
    stream_->OnOutput(stream, data);
  }
  bool WaitForRoom(absl::Time deadline) override {
    return stream_->WaitForRoom(deadline);
  }
  void OnFinished(const absl::StatusOr<ExecutionResult>& result) override {
    // A cell cancelled before it reached the sandbox did not take the
    // session's files: they are owed to the next one.
    const bool ran =
        result.ok() && (result->outcome != Outcome::kCancelled ||
                        result->timings.create > absl::ZeroDuration());
    registry_.Release(
        session_, result.ok() && result->session_ended, ran,
        ran ? std::vector<WorkspaceFile>() : std::move(owed_files_));
    stream_->OnFinished(result);
  }
  // The cell could not be queued: the session is free again, its files
  // still owed.
  void ReleaseUnrun() {
    registry_.Release(session_, false, false, std::move(owed_files_));
  }

 private:
  const std::shared_ptr<ExecuteStream> stream_;
  SessionRegistry& registry_;
  const std::shared_ptr<OpenSession> session_;
  std::vector<WorkspaceFile> owed_files_;
};

}  // namespace

void CodeExecutorService::SubmitCell(grpc::CallbackServerContext* context,
                                     const ExecuteRequest& request,
                                     std::string execution_id,
                                     const std::string& caller,
                                     std::shared_ptr<ExecuteStream> stream) {
  if (sessions_ == nullptr) {
    stream->FinishWithError(grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                                         "this server has no sessions"));
    return;
  }
  absl::StatusOr<SessionRegistry::Acquired> acquired =
      sessions_->Acquire(request.session_id(), stream->cancellation(), caller);
  if (!acquired.ok()) {
    stream->FinishWithError(ToGrpcStatus(acquired.status()));
    return;
  }
  const std::shared_ptr<OpenSession>& session = acquired->session;
  absl::StatusOr<ExecutionSpec> spec = BuildCellSpec(
      request, session->shape, options_, TimeToDeadline(*context));
  if (!spec.ok()) {
    sessions_->Release(session, false, false,
                       std::move(acquired->pending_files));
    if (metrics_ != nullptr) metrics_->RecordRejected("invalid_argument");
    stream->FinishWithError(ToGrpcStatus(spec.status()));
    return;
  }
  // The session's files go in with its first cell; the cell's own win.
  std::vector<WorkspaceFile> owed = acquired->pending_files;
  for (WorkspaceFile& file : acquired->pending_files) {
    const bool shadowed = std::any_of(
        spec->input_files.begin(), spec->input_files.end(),
        [&](const WorkspaceFile& own) { return own.path == file.path; });
    if (!shadowed) spec->input_files.push_back(std::move(file));
  }
  spec->execution_id = std::move(execution_id);
  stream->SetSession(session->id, std::string(session->sandbox->sandbox_name()),
                     session->shape.language_name);
  auto observer = std::make_shared<CellObserver>(stream, *sessions_, session,
                                                 std::move(owed));
  absl::Status submitted =
      dispatcher_.Submit(*std::move(spec), observer, stream->cancellation(),
                         session->sandbox.get());
  if (!submitted.ok()) {
    observer->ReleaseUnrun();
    stream->FinishWithError(ToGrpcStatus(submitted));
  }
}

void CodeExecutorService::SessionCaller(
    const grpc::CallbackServerContext& context, CallerAuth::Done done) const {
  if (sessions_ == nullptr) {
    done(absl::UnimplementedError("this server has no sessions"));
    return;
  }
  auth_.Authenticate(context, std::move(done));
}

grpc::ServerUnaryReactor* CodeExecutorService::CreateSession(
    grpc::CallbackServerContext* context, const CreateSessionRequest* request,
    codeexecutor::v1::Session* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  SessionCaller(*context, [this, context, reactor, request,
                           response](absl::StatusOr<std::string> caller) {
    if (!caller.ok()) {
      RecordRejected(caller.status());
      reactor->Finish(ToGrpcStatus(caller.status()));
      return;
    }
    StartSession(context, reactor, *request, *std::move(caller), response);
  });
  return reactor;
}

void CodeExecutorService::StartSession(grpc::CallbackServerContext* context,
                                       grpc::ServerUnaryReactor* reactor,
                                       const CreateSessionRequest& request,
                                       std::string caller,
                                       codeexecutor::v1::Session* response) {
  absl::StatusOr<SessionShape> shape =
      BuildSessionShape(request, options_, sessions_->options());
  if (shape.ok()) {
    if (absl::Status valid = backend_.Validate(shape->shape); !valid.ok()) {
      shape = valid;
    }
  }
  absl::StatusOr<std::string> id =
      shape.ok() ? sessions_->Reserve(caller, max_open_sessions_per_caller_)
                 : shape.status();
  if (!id.ok()) {
    if (IsQuotaExceeded(id.status())) RecordRejected(id.status());
    reactor->Finish(ToGrpcStatus(id.status()));
    return;
  }
  auto job = [this, context, reactor, response, id = *id,
              owner = std::move(caller),
              shape = *std::move(shape)](const Cancellation& cancel) mutable {
    if (cancel.IsCancelled()) {
      sessions_->Unreserve(id);
      reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                   "server is shutting down"));
      return;
    }
    const ExecutionSpec applied = shape.shape;
    absl::StatusOr<std::shared_ptr<OpenSession>> session =
        sessions_->Start(id, std::move(shape.shape), std::move(shape.files),
                         shape.idle_timeout, shape.max_lifetime, owner);
    if (!session.ok()) {
      reactor->Finish(ToGrpcStatus(session.status()));
      return;
    }
    if (context->IsCancelled()) {  // nobody will know its id
      sessions_->Close(id, owner).IgnoreError();
      reactor->Finish(grpc::Status::CANCELLED);
      return;
    }
    response->set_session_id(id);
    response->set_language(applied.language_name);
    FillSessionLimits(applied, response->mutable_limits());
    SetDuration(shape.idle_timeout, response->mutable_idle_timeout());
    SetDuration(shape.max_lifetime, response->mutable_max_lifetime());
    response->set_backend(std::string(backend_.Name()));
    response->set_sandbox_name(
        std::string((*session)->sandbox->sandbox_name()));
    response->set_client_request_id(applied.client_request_id);
    reactor->Finish(grpc::Status::OK);
  };
  absl::Status queued =
      dispatcher_.SubmitJob(std::move(job), std::make_shared<Cancellation>());
  if (!queued.ok()) {
    sessions_->Unreserve(*id);
    reactor->Finish(ToGrpcStatus(queued));
  }
}

grpc::ServerUnaryReactor* CodeExecutorService::CloseSession(
    grpc::CallbackServerContext* context, const CloseSessionRequest* request,
    CloseSessionResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  SessionCaller(*context, [this, reactor, request,
                           response](absl::StatusOr<std::string> caller) {
    if (!caller.ok()) {
      RecordRejected(caller.status());
      reactor->Finish(ToGrpcStatus(caller.status()));
      return;
    }
    absl::StatusOr<int> cells =
        sessions_->Close(request->session_id(), *caller);
    if (cells.ok()) response->set_cells(static_cast<uint32_t>(*cells));
    reactor->Finish(cells.ok() ? grpc::Status::OK
                               : ToGrpcStatus(cells.status()));
  });
  return reactor;
}

}  // namespace codeexec
