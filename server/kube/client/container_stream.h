// A WebSocket connection to a container's attach (or exec) subresource in
// Kubernetes' channel protocol: every binary message is one channel byte and
// then data. Channels: 0 stdin (ours), 1 stdout, 2 stderr, 3 the status
// (one metav1.Status JSON when the container's process ends), 4 resize; v5
// adds 255, a client's "close this channel". We offer v5.channel.k8s.io and
// v4.channel.k8s.io; both carry channels 0-3 the same, and nothing here
// needs 255, so either answer works. TLS, CA, client certificate and bearer
// token are those of the ClusterConnection, as for the REST client.
#ifndef CODEEXEC_SERVER_KUBE_CLIENT_CONTAINER_STREAM_H_
#define CODEEXEC_SERVER_KUBE_CLIENT_CONTAINER_STREAM_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/kube/client/cluster_connection.h"

namespace codeexec::kube {

inline constexpr int kStdinChannel = 0;
inline constexpr int kStdoutChannel = 1;
inline constexpr int kStderrChannel = 2;
inline constexpr int kStatusChannel = 3;

// The subprotocols we offer, most preferred first.
inline constexpr const char* kChannelProtocols[] = {"v5.channel.k8s.io",
                                                    "v4.channel.k8s.io"};

// What the status channel says at the end: Success (exit code 0), or
// Failure with reason NonZeroExitCode and the code in
// details.causes[reason=ExitCode].message; any other Failure is an error of
// the stream itself (message kept). Exec reports its process's exit code
// this way; attach only the end of the session (Success when the
// container's process ended, whatever its code).
struct ContainerExit {
  std::optional<int> exit_code;
  std::string message;  // a Failure's message, "" on Success
};
absl::StatusOr<ContainerExit> ParseContainerExit(absl::string_view status_json);

// "https://h:443" + "/api/..." -> "wss://h:443/api/..." (http -> ws).
absl::StatusOr<std::string> WebSocketUrl(absl::string_view server,
                                         absl::string_view path);

class ContainerStream {
 public:
  struct Handlers {
    // Each message's data by channel, in order, on a cpprestsdk thread
    // (must not block for long). Empty messages are not delivered.
    std::function<void(int channel, std::string data)> on_data;
    // Once, when the connection ends for any reason: OK after a clean close
    // by the server, else what broke it. Nothing is delivered after it.
    std::function<void(absl::Status ended)> on_closed;
  };

  // Connects to `path` (".../pods/<pod>/attach?container=...&stdin=true&
  // stdout=true&stderr=true", percent-encoded) on the connection's server
  // within `connect_timeout`. Errors: Unavailable when the server cannot be
  // reached or refuses the upgrade (the message says which), Unauthenticated
  // when there is no token to send.
  static absl::StatusOr<std::unique_ptr<ContainerStream>> Open(
      const ClusterConnection& connection, const std::string& path,
      Handlers handlers, absl::Duration connect_timeout);

  // Closes the connection (if open) and waits until no handler runs.
  ~ContainerStream();
  ContainerStream(const ContainerStream&) = delete;
  ContainerStream& operator=(const ContainerStream&) = delete;

  // Sends `data` on `channel` (normally stdin), in messages of at most
  // 1 MiB; returns once they were written to the connection.
  absl::Status Send(int channel, absl::string_view data);

  // Closes the connection from our side; on_closed follows. Idempotent.
  void Close();

 private:
  struct Impl;
  explicit ContainerStream(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace codeexec::kube

#endif  // CODEEXEC_SERVER_KUBE_CLIENT_CONTAINER_STREAM_H_
