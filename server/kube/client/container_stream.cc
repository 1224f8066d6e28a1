#include "server/kube/client/container_stream.h"

#include <cpprest/containerstream.h>
#include <cpprest/ws_client.h>

#include <algorithm>
#include <exception>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "nlohmann/json.hpp"
#include "server/kube/client/rest_client_transport.h"

namespace codeexec::kube {
namespace {

namespace ws = web::websockets::client;

// Larger sends are split: the API server and kubelet relay messages whole.
constexpr size_t kMaxMessageBytes = size_t{1} << 20;

}  // namespace

absl::StatusOr<ContainerExit> ParseContainerExit(
    absl::string_view status_json) {
  nlohmann::json status = nlohmann::json::parse(status_json, nullptr, false);
  if (status.is_discarded() || !status.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the container's status is not JSON: ", status_json.substr(0, 200)));
  }
  ContainerExit exit;
  if (status.value("status", "") == "Success") {
    exit.exit_code = 0;
    return exit;
  }
  exit.message = status.value("message", "");
  if (status.value("reason", "") == "NonZeroExitCode" &&
      status.contains("details") && status["details"].is_object()) {
    for (const nlohmann::json& cause :
         status["details"].value("causes", nlohmann::json::array())) {
      int code = 0;
      if (cause.is_object() && cause.value("reason", "") == "ExitCode" &&
          absl::SimpleAtoi(cause.value("message", ""), &code)) {
        exit.exit_code = code;
      }
    }
  }
  return exit;
}

absl::StatusOr<std::string> WebSocketUrl(absl::string_view server,
                                         absl::string_view path) {
  if (absl::StartsWith(server, "https://")) {
    return absl::StrCat("wss://", server.substr(8), path);
  }
  if (absl::StartsWith(server, "http://")) {
    return absl::StrCat("ws://", server.substr(7), path);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("server \"", server, "\" is not an http(s) URL"));
}

// What cpprestsdk's handlers share with the stream: they may run (briefly)
// after the stream is gone, so they hold this, never the client.
struct StreamHandlers {
  // Delivers on_closed once; nothing is delivered after it.
  void Closed(absl::Status status) {
    {
      absl::MutexLock lock(&mu);
      if (closed) return;
      closed = true;
      if (handlers.on_closed) handlers.on_closed(std::move(status));
    }
    closed_notification.Notify();
  }
  void Deliver(int channel, std::string data) {
    absl::MutexLock lock(&mu);
    if (!closed && handlers.on_data) {
      handlers.on_data(channel, std::move(data));
    }
  }
  // After it returns no handler runs any more.
  void Silence() {
    absl::MutexLock lock(&mu);
    closed = true;
  }

  ContainerStream::Handlers handlers;
  absl::Mutex mu;
  bool closed ABSL_GUARDED_BY(mu) = false;
  absl::Notification closed_notification;
};

struct ContainerStream::Impl {
  explicit Impl(ws::websocket_client_config config)
      : client(std::move(config)) {}
  ws::websocket_callback_client client;
  std::shared_ptr<StreamHandlers> shared = std::make_shared<StreamHandlers>();
};

absl::StatusOr<std::unique_ptr<ContainerStream>> ContainerStream::Open(
    const ClusterConnection& connection, const std::string& path,
    Handlers handlers, absl::Duration connect_timeout) {
  absl::StatusOr<std::string> url = WebSocketUrl(connection.server, path);
  if (!url.ok()) return url.status();
  ws::websocket_client_config config;
  config.set_validate_certificates(!connection.insecure_skip_tls_verify);
  config.set_ssl_context_callback(
      [tls = connection](boost::asio::ssl::context& context) {
        rest_internal::ConfigureTls(tls, context);  // RestClient checked it
      });
  for (const char* protocol : kChannelProtocols) {
    config.add_subprotocol(protocol);
  }
  if (connection.token_source != nullptr) {
    absl::StatusOr<std::string> token = connection.token_source->Token();
    if (!token.ok()) {
      return absl::UnauthenticatedError(
          absl::StrCat("no bearer token for the container stream: ",
                       token.status().message()));
    }
    config.headers().add("Authorization", "Bearer " + *token);
  }
  auto impl = std::make_unique<Impl>(std::move(config));
  impl->shared->handlers = std::move(handlers);
  impl->client.set_message_handler(
      [self = impl->shared](const ws::websocket_incoming_message& message) {
        if (message.message_type() !=
                ws::websocket_message_type::binary_message &&
            message.message_type() !=
                ws::websocket_message_type::text_message) {
          return;
        }
        concurrency::streams::container_buffer<std::vector<uint8_t>> buffer;
        try {
          message.body().read_to_end(buffer).get();
        } catch (const std::exception& e) {
          self->Closed(absl::UnavailableError(
              absl::StrCat("reading the container stream: ", e.what())));
          return;
        }
        const std::vector<uint8_t>& bytes = buffer.collection();
        std::string data(bytes.begin(), bytes.end());
        if (data.size() < 2) return;
        const int channel = static_cast<unsigned char>(data[0]);
        data.erase(0, 1);
        self->Deliver(channel, std::move(data));
      });
  impl->client.set_close_handler(
      [self = impl->shared](ws::websocket_close_status status,
                            const std::string& reason,
                            const std::error_code& error) {
        if (status == ws::websocket_close_status::normal ||
            status == ws::websocket_close_status::going_away) {
          self->Closed(absl::OkStatus());
          return;
        }
        self->Closed(absl::UnavailableError(absl::StrCat(
            "the container stream broke (close code ", static_cast<int>(status),
            reason.empty() ? "" : ": ", reason,
            error ? absl::StrCat(", ", error.message()) : "", ")")));
      });

  // The connect's outcome, shared with its continuation (which may run
  // after a timeout returned).
  struct Connecting {
    absl::Notification done;
    absl::Status status;
  };
  auto connecting = std::make_shared<Connecting>();
  try {
    impl->client.connect(web::uri(*url))
        .then([connecting](pplx::task<void> connected) {
          try {
            connected.get();
          } catch (const std::exception& e) {
            connecting->status = absl::UnavailableError(
                absl::StrCat("the API server refused or dropped the "
                             "container stream: ",
                             e.what()));
          }
          connecting->done.Notify();
        });
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot open the container stream: ", e.what()));
  }
  if (!connecting->done.WaitForNotificationWithTimeout(connect_timeout)) {
    impl->client.close().then([](pplx::task<void> closed) {
      try {
        closed.get();
      } catch (...) {
      }
    });
    return absl::UnavailableError(
        absl::StrCat("the container stream did not connect within ",
                     absl::FormatDuration(connect_timeout)));
  }
  if (!connecting->status.ok()) return connecting->status;
  return std::unique_ptr<ContainerStream>(new ContainerStream(std::move(impl)));
}

ContainerStream::ContainerStream(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}

ContainerStream::~ContainerStream() {
  Close();
  impl_->shared->closed_notification.WaitForNotificationWithTimeout(
      absl::Seconds(10));
  impl_->shared->Silence();
}

absl::Status ContainerStream::Send(int channel, absl::string_view data) {
  do {
    const size_t size = std::min(data.size(), kMaxMessageBytes);
    std::vector<uint8_t> payload;
    payload.reserve(size + 1);
    payload.push_back(static_cast<uint8_t>(channel));
    payload.insert(payload.end(), data.begin(), data.begin() + size);
    data.remove_prefix(size);
    const size_t length = payload.size();
    ws::websocket_outgoing_message message;
    message.set_binary_message(
        concurrency::streams::container_buffer<std::vector<uint8_t>>(
            std::move(payload))
            .create_istream(),
        length);
    try {
      impl_->client.send(message).get();
    } catch (const std::exception& e) {
      return absl::UnavailableError(
          absl::StrCat("writing to the container stream: ", e.what()));
    }
  } while (!data.empty());
  return absl::OkStatus();
}

void ContainerStream::Close() {
  try {
    impl_->client.close().get();
  } catch (const std::exception&) {
    // Already closed or broken: on_closed says how.
  }
}

}  // namespace codeexec::kube
