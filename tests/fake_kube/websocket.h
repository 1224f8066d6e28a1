// The server side of a WebSocket (RFC 6455) on a connection the HTTP server
// has switched to it: the handshake's accept key, and messages read and
// written on the socket. Client frames must be masked (as RFC 6455 says);
// pings are answered, fragmented messages joined. Writes are serialised, so
// one thread may read while others write.
#ifndef CODEEXEC_TESTS_FAKE_KUBE_WEBSOCKET_H_
#define CODEEXEC_TESTS_FAKE_KUBE_WEBSOCKET_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace codeexec::fake_kube {

// Sec-WebSocket-Accept for a client's Sec-WebSocket-Key.
std::string WebSocketAccept(absl::string_view key);

class WebSocketConnection {
 public:
  // `fd` stays owned by the HTTP server.
  explicit WebSocketConnection(int fd) : fd_(fd) {}

  // The next data message (text or binary); nullopt once the client sent a
  // close frame (answered), the connection broke or Shutdown() was called.
  std::optional<std::string> ReadMessage();
  // One binary message; false if the connection is gone.
  bool WriteBinary(absl::string_view data);
  // A close frame with `code` (1000: normal closure).
  void WriteClose(uint16_t code);
  // Breaks the connection without a close frame (a dropped stream); a
  // blocked ReadMessage returns.
  void Shutdown();

 private:
  bool ReadExactly(size_t size, std::string* out);
  bool WriteFrame(uint8_t opcode, absl::string_view payload);

  const int fd_;
  absl::Mutex write_mu_;
  bool write_failed_ ABSL_GUARDED_BY(write_mu_) = false;
  bool close_sent_ ABSL_GUARDED_BY(write_mu_) = false;
};

}  // namespace codeexec::fake_kube

#endif  // CODEEXEC_TESTS_FAKE_KUBE_WEBSOCKET_H_
