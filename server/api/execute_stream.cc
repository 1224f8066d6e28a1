#include "server/api/execute_stream.h"

#include <grpcpp/impl/codegen/proto_utils.h>

#include <cstdio>
#include <utility>

#include "absl/time/clock.h"
#include "nlohmann/json.hpp"
#include "server/exec/json_log.h"
#include "server/exec/utf8.h"

namespace codeexec {
namespace {

using ::codeexecutor::v1::ExecuteResponse;
using ::codeexecutor::v1::Finished;
using ::codeexecutor::v1::Output;

// Output queued behind a slow client is merged into messages up to this size.
constexpr size_t kMaxCoalescedOutput = 64 * 1024;

void SetDuration(absl::Duration d, google::protobuf::Duration* out) {
  const int64_t nanos = absl::ToInt64Nanoseconds(d);
  out->set_seconds(nanos / 1000000000);
  out->set_nanos(static_cast<int32_t>(nanos % 1000000000));
}

Finished::Outcome ToProto(Outcome outcome) {
  switch (outcome) {
    case Outcome::kOk:
      return Finished::OK;
    case Outcome::kNonzeroExit:
      return Finished::NONZERO_EXIT;
    case Outcome::kTimeout:
      return Finished::TIMEOUT;
    case Outcome::kOomKilled:
      return Finished::OOM_KILLED;
    case Outcome::kOutputLimit:
      return Finished::OUTPUT_LIMIT;
    case Outcome::kCancelled:
      return Finished::CANCELLED;
    case Outcome::kSandboxError:
      return Finished::SANDBOX_ERROR;
  }
  return Finished::OUTCOME_UNSPECIFIED;
}

// One JSON line per finished execution on stderr. Never the code itself.
void LogFinished(const ExecutionIdentity& id, const ExecutionResult& result) {
  const PhaseTimings& t = result.timings;
  auto ms = [](absl::Duration d) { return absl::ToDoubleMilliseconds(d); };
  nlohmann::json fields = {
      {"execution_id", id.execution_id},
      {"client_request_id", id.client_request_id},
      {"backend", id.backend},
      {"language", id.language},
      {"code_sha256", id.code_sha256},
      {"code_bytes", id.code_bytes},
      {"outcome", std::string(OutcomeName(result.outcome))},
      {"exit_code", result.exit_code},
      {"truncated", result.truncated},
      {"output_files", result.output_files.size()},
      {"message", result.message},
      {"duration_ms",
       {{"queue", ms(t.queue)},
        {"create", ms(t.create)},
        {"schedule", ms(t.schedule)},
        {"start", ms(t.start)},
        {"run", ms(t.run)},
        {"cleanup", ms(t.cleanup)}}}};
  if (!id.session_id.empty()) {
    fields["session_id"] = id.session_id;
    fields["session_ended"] = result.session_ended;
  }
  if (!id.caller.empty()) fields["caller"] = id.caller;
  LogEvent(LogLevel::kInfo, "execution_finished", std::move(fields));
}

}  // namespace

class ExecuteStream::StreamReactor final : public Reactor {
 public:
  explicit StreamReactor(std::shared_ptr<ExecuteStream> stream)
      : stream_(std::move(stream)) {}
  void OnWriteDone(bool ok) override { stream_->HandleWriteDone(ok); }
  void OnCancel() override {
    stream_->cancel_->Cancel("the client cancelled the call");
  }
  void OnDone() override {
    stream_->HandleDone();
    delete this;
  }

 private:
  const std::shared_ptr<ExecuteStream> stream_;
};

std::shared_ptr<ExecuteStream> ExecuteStream::Create(
    ExecutionIdentity identity, int64_t max_unsent_output_bytes) {
  std::shared_ptr<ExecuteStream> stream(
      new ExecuteStream(std::move(identity), max_unsent_output_bytes));
  absl::MutexLock lock(&stream->mu_);
  stream->reactor_ = new StreamReactor(stream);
  return stream;
}

ExecuteStream::ExecuteStream(ExecutionIdentity identity,
                             int64_t max_unsent_output_bytes)
    : identity_(std::move(identity)),
      max_unsent_output_bytes_(max_unsent_output_bytes) {}

ExecuteStream::Reactor* ExecuteStream::reactor() const {
  absl::MutexLock lock(&mu_);
  return reactor_;
}

bool ExecuteStream::HasRoomLocked() const {
  return reactor_ == nullptr || finish_called_ ||
         unsent_bytes_ < max_unsent_output_bytes_;
}

bool ExecuteStream::WaitForRoom(absl::Time deadline) {
  {
    absl::MutexLock lock(&mu_);
    if (HasRoomLocked() || cancelled_ || deadline <= absl::Now()) {
      return HasRoomLocked();
    }
  }
  // Wake on the run's cancellation too (client cancel, shutdown). The
  // callback is removed before returning, so `this` outlives it.
  const Cancellation::CallbackId id = cancel_->AddCallback([this] {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
  });
  bool room;
  {
    absl::MutexLock lock(&mu_);
    auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return cancelled_ || HasRoomLocked();
    };
    mu_.AwaitWithDeadline(absl::Condition(&ready), deadline);
    room = HasRoomLocked();
  }
  cancel_->RemoveCallback(id);
  return room;
}

void ExecuteStream::HoldUntilFinished(
    std::unique_ptr<CallerQuotas::Lease> lease) {
  absl::MutexLock lock(&mu_);
  quota_lease_ = std::move(lease);
}

void ExecuteStream::ReleaseQuota() {
  std::unique_ptr<CallerQuotas::Lease> lease;
  absl::MutexLock lock(&mu_);
  lease.swap(quota_lease_);
}

void ExecuteStream::FinishWithError(const grpc::Status& status) {
  ReleaseQuota();
  absl::MutexLock lock(&mu_);
  if (reactor_ == nullptr || finish_called_) return;
  finish_called_ = true;
  reactor_->Finish(status);
}

void ExecuteStream::OnStarted(absl::Duration queue_wait) {
  ExecuteResponse response;
  auto* started = response.mutable_started();
  started->set_execution_id(identity_.execution_id);
  started->set_backend(identity_.backend);
  started->set_sandbox_name(identity_.sandbox_name.empty()
                                ? identity_.execution_id
                                : identity_.sandbox_name);
  started->set_client_request_id(identity_.client_request_id);
  SetDuration(queue_wait, started->mutable_queue_wait());
  Enqueue(std::move(response), /*last=*/false);
}

void ExecuteStream::OnOutput(OutputStream stream, std::string_view data) {
  const Output::Stream proto_stream =
      stream == OutputStream::kStdout ? Output::STDOUT : Output::STDERR;
  {
    // A slow client: append to the newest queued chunk of the same stream
    // instead of queueing many small messages. Order is preserved.
    absl::MutexLock lock(&mu_);
    if (reactor_ == nullptr || finish_called_) return;  // client is gone
    if (!pending_.empty() && pending_.back().has_output() &&
        pending_.back().output().stream() == proto_stream &&
        pending_.back().output().data().size() + data.size() <=
            kMaxCoalescedOutput) {
      pending_.back().mutable_output()->mutable_data()->append(data);
      unsent_bytes_ += static_cast<int64_t>(data.size());
      return;
    }
  }
  ExecuteResponse response;
  response.mutable_output()->set_stream(proto_stream);
  response.mutable_output()->set_data(std::string(data));
  Enqueue(std::move(response), /*last=*/false);
}

void ExecuteStream::OnFinished(const absl::StatusOr<ExecutionResult>& ran) {
  ReleaseQuota();
  if (!ran.ok()) {
    // The service failed, not the program: logged as a sandbox error, and
    // the call ends with the status.
    ExecutionResult failed;
    failed.message = std::string(ran.status().message());
    LogFinished(identity_, failed);
    absl::MutexLock lock(&mu_);
    final_status_ =
        grpc::Status(static_cast<grpc::StatusCode>(ran.status().code()),
                     ToValidUtf8(std::string(ran.status().message())));
    last_queued_ = true;
    WriteNextLocked();
    return;
  }
  const ExecutionResult& result = *ran;
  LogFinished(identity_, result);
  ExecuteResponse response;
  Finished* finished = response.mutable_finished();
  finished->set_exit_code(result.exit_code);
  finished->set_outcome(ToProto(result.outcome));
  // Whatever the program wrote or named, Finished stays valid protobuf:
  // string fields hold valid UTF-8 (U+FFFD for each invalid sequence), and a
  // file name that was not valid UTF-8 also travels exactly in raw_path.
  finished->set_message(ToValidUtf8(result.message));
  finished->set_truncated(result.truncated);
  finished->set_output_files_truncated(result.output_files_truncated);
  finished->set_session_ended(result.session_ended);
  for (const WorkspaceFile& file : result.output_files) {
    auto* out = finished->add_output_files();
    if (IsValidUtf8(file.path)) {
      out->set_path(file.path);
    } else {
      out->set_path(ToValidUtf8(file.path));
      out->set_raw_path(file.path);
    }
    out->set_content(file.content);
  }
  const PhaseTimings& t = result.timings;
  auto* timings = finished->mutable_timings();
  SetDuration(t.queue, timings->mutable_queue());
  // A phase the backend does not have (zero) stays absent.
  const std::pair<absl::Duration, google::protobuf::Duration* (
                                      codeexecutor::v1::PhaseTimings::*)()>
      phases[] = {
          {t.create, &codeexecutor::v1::PhaseTimings::mutable_create},
          {t.schedule, &codeexecutor::v1::PhaseTimings::mutable_schedule},
          {t.start, &codeexecutor::v1::PhaseTimings::mutable_start},
          {t.run, &codeexecutor::v1::PhaseTimings::mutable_run},
          {t.cleanup, &codeexecutor::v1::PhaseTimings::mutable_cleanup}};
  for (const auto& [duration, field] : phases) {
    if (duration > absl::ZeroDuration()) {
      SetDuration(duration, (timings->*field)());
    }
  }
  SetDuration(t.queue + t.create + t.schedule + t.start + t.run + t.cleanup,
              timings->mutable_total());
  Enqueue(std::move(response), /*last=*/true);
}

void ExecuteStream::Enqueue(ExecuteResponse response, bool last) {
  absl::MutexLock lock(&mu_);
  if (reactor_ == nullptr || finish_called_) return;  // client is gone
  if (response.has_output()) {
    unsent_bytes_ += static_cast<int64_t>(response.output().data().size());
  }
  pending_.push_back(std::move(response));
  last_queued_ = last_queued_ || last;
  WriteNextLocked();
}

void ExecuteStream::WriteNextLocked() {
  if (write_in_flight_ || finish_called_ || reactor_ == nullptr) return;
  if (!pending_.empty()) {
    bool own_buffer = false;
    in_flight_.Clear();  // the previous write is done with it
    grpc::Status serialized =
        grpc::SerializationTraits<ExecuteResponse>::Serialize(
            pending_.front(), &in_flight_, &own_buffer);
    in_flight_bytes_ =
        pending_.front().has_output()
            ? static_cast<int64_t>(pending_.front().output().data().size())
            : 0;
    pending_.pop_front();
    if (!serialized.ok()) {
      in_flight_bytes_ = 0;  // nothing was written
      DropPendingLocked();
      finish_called_ = true;
      reactor_->Finish(serialized);
      return;
    }
    write_in_flight_ = true;
    reactor_->StartWrite(&in_flight_);
  } else if (last_queued_) {
    finish_called_ = true;
    reactor_->Finish(final_status_);
  }
}

void ExecuteStream::HandleWriteDone(bool ok) {
  {
    absl::MutexLock lock(&mu_);
    write_in_flight_ = false;
    unsent_bytes_ -= in_flight_bytes_;
    in_flight_bytes_ = 0;
    if (ok) {
      WriteNextLocked();
      return;
    }
    // The stream is broken (client gone): end the call, then stop the run.
    DropPendingLocked();
    if (!finish_called_ && reactor_ != nullptr) {
      finish_called_ = true;
      reactor_->Finish(
          grpc::Status(grpc::StatusCode::CANCELLED, "stream closed"));
    }
  }
  cancel_->Cancel("the client stream closed");
}

void ExecuteStream::HandleDone() {
  {
    absl::MutexLock lock(&mu_);
    reactor_ = nullptr;
    DropPendingLocked();
  }
  // If the call ended before the run did (cancel, deadline), stop the run.
  cancel_->Cancel("the call ended");
}

void ExecuteStream::DropPendingLocked() {
  pending_.clear();
  // A write still in flight is released by its OnWriteDone.
  unsent_bytes_ = in_flight_bytes_;
}

}  // namespace codeexec
