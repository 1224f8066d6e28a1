// Internals of RestClient (rest_client.cc) that touch cpprestsdk, Boost.Asio
// and OpenSSL directly: TLS set-up, waiting on pplx tasks with a deadline,
// linking a Cancellation to a request, naming transport errors, and
// assembling body bytes into lines. Not for use outside rest_client*.
#ifndef CODEEXEC_SERVER_KUBE_CLIENT_REST_CLIENT_TRANSPORT_H_
#define CODEEXEC_SERVER_KUBE_CLIENT_REST_CLIENT_TRANSPORT_H_

#include <exception>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "cpprest/http_client.h"
#include "server/exec/cancellation.h"
#include "server/kube/client/cluster_connection.h"

namespace codeexec::kube::rest_internal {

// Applies the connection's CA (then the only trusted root), client
// certificate/key and TLS >= 1.2 to a fresh context; returns what is wrong,
// empty when fine.
std::string ConfigureTls(const ClusterConnection& connection,
                         boost::asio::ssl::context& context);

// Waits for `task` until `deadline`; past it, aborts the request through
// `cts` and reports *timed_out. Rethrows what the task throws.
template <typename T>
T AwaitTask(const pplx::task<T>& task, pplx::cancellation_token_source& cts,
            absl::Time deadline, bool* timed_out) {
  auto done = std::make_shared<absl::Notification>();
  task.then([done](const pplx::task<T>&) { done->Notify(); });
  if (!done->WaitForNotificationWithDeadline(deadline)) {
    *timed_out = true;
    cts.cancel();  // closes the connection: the task ends promptly
    done->WaitForNotification();
  }
  return task.get();
}

// Removes a Cancellation callback when destroyed.
class CancelLink {
 public:
  CancelLink(const Cancellation* cancel,
             std::shared_ptr<pplx::cancellation_token_source> cts)
      : cancel_(cancel) {
    if (cancel_ != nullptr) {
      id_ = cancel_->AddCallback([cts] { cts->cancel(); });
    }
  }
  ~CancelLink() {
    if (cancel_ != nullptr) cancel_->RemoveCallback(id_);
  }
  CancelLink(const CancelLink&) = delete;
  CancelLink& operator=(const CancelLink&) = delete;

 private:
  const Cancellation* cancel_;
  Cancellation::CallbackId id_ = 0;
};

// cpprestsdk's error text plus the system/OpenSSL error, with a hint for
// TLS handshake failures.
std::string TransportErrorText(const std::exception& e);

// Whether a transport error certainly happened before the request was
// written (resolve, connect, TLS handshake).
bool IsTransportErrorBeforeSend(absl::string_view what);

// Splits body bytes into lines ('\n'; a "\r\n" ending loses the '\r').
class LineAssembler {
 public:
  explicit LineAssembler(size_t max_line_bytes)
      : max_line_bytes_(max_line_bytes) {}
  // Calls on_line for each completed line. Returns false when on_line did or
  // a line grew past the limit (then *too_long is set).
  bool Feed(absl::string_view data,
            const std::function<bool(absl::string_view)>& on_line,
            bool* too_long);
  // Delivers an unterminated last line, if any.
  void Finish(const std::function<bool(absl::string_view)>& on_line);

 private:
  const size_t max_line_bytes_;
  std::string line_;
};

}  // namespace codeexec::kube::rest_internal

#endif  // CODEEXEC_SERVER_KUBE_CLIENT_REST_CLIENT_TRANSPORT_H_
