#include "tests/fake_kube/fake_kube_attach_client.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/kube/client/cluster_connection.h"
#include "server/kube/client/token_source.h"

namespace codeexec::fake_kube::testing {

absl::StatusOr<std::unique_ptr<AttachSession>> AttachSession::Open(
    const std::string& server_url, const std::string& ns,
    const std::string& pod) {
  std::unique_ptr<AttachSession> session(new AttachSession());
  kube::ClusterConnection connection;
  connection.server = server_url;
  connection.token_source =
      std::make_shared<kube::StaticTokenSource>("fake-token");
  connection.description = "the fake apiserver";
  kube::ContainerStream::Handlers handlers;
  AttachSession* raw = session.get();
  handlers.on_data = [raw](int channel, std::string data) {
    absl::MutexLock lock(&raw->mu_);
    raw->received_[channel] += data;
  };
  handlers.on_closed = [raw](absl::Status ended) {
    absl::MutexLock lock(&raw->mu_);
    raw->closed_ = std::move(ended);
  };
  absl::StatusOr<std::unique_ptr<kube::ContainerStream>> stream =
      kube::ContainerStream::Open(
          connection,
          absl::StrCat("/api/v1/namespaces/", ns, "/pods/", pod,
                       "/attach?stdin=true&stdout=true&stderr=true"),
          std::move(handlers), absl::Seconds(10));
  if (!stream.ok()) return stream.status();
  session->stream_ = *std::move(stream);
  return session;
}

absl::Status AttachSession::Send(const std::string& data) {
  return stream_->Send(kube::kStdinChannel, data);
}

bool AttachSession::WaitClosed(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto closed = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return closed_.has_value();
  };
  return mu_.AwaitWithTimeout(absl::Condition(&closed), timeout);
}

bool AttachSession::WaitForBytes(int channel, size_t bytes,
                                 absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto enough = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return received_[channel].size() >= bytes || closed_.has_value();
  };
  mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
  return received_[channel].size() >= bytes;
}

std::string AttachSession::Channel(int channel) {
  absl::MutexLock lock(&mu_);
  return received_[channel];
}

absl::Status AttachSession::closed_status() {
  absl::MutexLock lock(&mu_);
  return closed_.value_or(absl::UnknownError("still open"));
}

}  // namespace codeexec::fake_kube::testing
