// One Execute call in flight: the bridge between the worker thread that runs
// the program (ExecutionObserver side) and gRPC's reactor (write side).
// Events are queued under a mutex with one write in flight; reactions never
// block. The reactor is deleted in OnDone; the stream state lives on (shared)
// until the worker is done with it too. The reactor writes raw ByteBuffers
// (Execute is a raw method); a response is serialized as its write starts.
//
// Backpressure: output bytes not yet written to the client (queued + the
// message in flight) are counted; at or above `max_unsent_output_bytes`
// WaitForRoom blocks the worker (never a reaction) until writes complete, the
// call ends, or the run is cancelled. Finished is queued without waiting, so
// a run whose client never reads it does not hold a worker.
#ifndef CODEEXEC_SERVER_API_EXECUTE_STREAM_H_
#define CODEEXEC_SERVER_API_EXECUTE_STREAM_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "codeexecutor/v1/code_executor.pb.h"
#include "server/api/caller_quotas.h"
#include "server/exec/cancellation.h"
#include "server/exec/dispatcher.h"

namespace codeexec {

// What the stream reports about its execution (Started, the log line).
struct ExecutionIdentity {
  std::string execution_id;
  std::string client_request_id;
  // Who called (CallerAuth), "" when server.auth.mode is none.
  std::string caller;
  std::string backend;
  std::string language;
  std::string code_sha256;
  size_t code_bytes = 0;
  // A session's cell: the session and its sandbox (else the sandbox is
  // named by the execution id).
  std::string session_id;
  std::string sandbox_name;
};

class ExecuteStream : public ExecutionObserver,
                      public std::enable_shared_from_this<ExecuteStream> {
 public:
  using Reactor = grpc::ServerWriteReactor<grpc::ByteBuffer>;

  // Creates the stream and its reactor; hand the reactor to gRPC.
  // `max_unsent_output_bytes` (> 0) is the backpressure bound.
  static std::shared_ptr<ExecuteStream> Create(ExecutionIdentity identity,
                                               int64_t max_unsent_output_bytes);
  Reactor* reactor() const;
  const std::shared_ptr<Cancellation>& cancellation() const { return cancel_; }

  const std::string& execution_id() const { return identity_.execution_id; }
  // Who called (CallerAuth) and the language resolved from the request, for
  // Started and the log. Only before the stream is submitted.
  void SetCaller(std::string caller) { identity_.caller = std::move(caller); }
  void SetLanguage(std::string language) {
    identity_.language = std::move(language);
  }
  // Keeps the caller's quota slot until the execution has finished (or the
  // call ended without running).
  void HoldUntilFinished(std::unique_ptr<CallerQuotas::Lease> lease);

  // A session's cell: names the session and its sandbox in Started and the
  // log. Only before the stream is submitted.
  void SetSession(std::string session_id, std::string sandbox_name,
                  std::string language) {
    identity_.session_id = std::move(session_id);
    identity_.sandbox_name = std::move(sandbox_name);
    identity_.language = std::move(language);
  }

  // Ends the call with `status` before anything was written (the execution
  // was never queued).
  void FinishWithError(const grpc::Status& status);

  // ExecutionObserver (worker thread).
  void OnStarted(absl::Duration queue_wait) override;
  void OnOutput(OutputStream stream, std::string_view data) override;
  void OnFinished(const absl::StatusOr<ExecutionResult>& result) override;
  // OutputSink (worker thread): blocks while the unsent output is at or
  // above the bound.
  bool WaitForRoom(absl::Time deadline) override;

 private:
  class StreamReactor;
  ExecuteStream(ExecutionIdentity identity, int64_t max_unsent_output_bytes);

  void Enqueue(codeexecutor::v1::ExecuteResponse response, bool last);
  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Gives the caller's quota slot back (once; the lease is destroyed after
  // the lock is released).
  void ReleaseQuota();
  // Room for more output: under the bound, or nobody left to write to.
  bool HasRoomLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops what is queued (the client is gone).
  void DropPendingLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Reactions, forwarded by StreamReactor.
  void HandleWriteDone(bool ok);
  void HandleDone();

  ExecutionIdentity identity_;  // fixed once submitted
  const int64_t max_unsent_output_bytes_;
  const std::shared_ptr<Cancellation> cancel_ =
      std::make_shared<Cancellation>();
  mutable absl::Mutex mu_;
  StreamReactor* reactor_ ABSL_GUARDED_BY(mu_);
  std::deque<codeexecutor::v1::ExecuteResponse> pending_ ABSL_GUARDED_BY(mu_);
  grpc::ByteBuffer in_flight_ ABSL_GUARDED_BY(mu_);
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  // Output bytes in pending_ + in_flight_, and those of in_flight_ alone.
  int64_t unsent_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t in_flight_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  // Set (for good) by the run's cancellation while WaitForRoom waits.
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool last_queued_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_called_ ABSL_GUARDED_BY(mu_) = false;
  // OK, or the service error that ends the call instead of Finished.
  grpc::Status final_status_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<CallerQuotas::Lease> quota_lease_ ABSL_GUARDED_BY(mu_);
};

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_API_EXECUTE_STREAM_H_
