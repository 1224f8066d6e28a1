#include "tests/fake_kube/websocket.h"

#include <openssl/sha.h>
#include <sys/socket.h>

#include <cerrno>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace codeexec::fake_kube {
namespace {

constexpr char kHandshakeGuid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
// Larger client messages are refused (the connection is dropped).
constexpr uint64_t kMaxMessageBytes = uint64_t{64} << 20;

enum Opcode : uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xA,
};

}  // namespace

std::string WebSocketAccept(absl::string_view key) {
  const std::string input = absl::StrCat(key, kHandshakeGuid);
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(),
       digest);
  return absl::Base64Escape(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

bool WebSocketConnection::ReadExactly(size_t size, std::string* out) {
  out->resize(size);
  size_t done = 0;
  while (done < size) {
    ssize_t got = recv(fd_, out->data() + done, size - done, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    done += static_cast<size_t>(got);
  }
  return true;
}

std::optional<std::string> WebSocketConnection::ReadMessage() {
  std::string message;
  bool in_message = false;
  while (true) {
    std::string head;
    if (!ReadExactly(2, &head)) return std::nullopt;
    const bool fin = (head[0] & 0x80) != 0;
    const uint8_t opcode = head[0] & 0x0F;
    const bool masked = (head[1] & 0x80) != 0;
    uint64_t length = head[1] & 0x7F;
    std::string extended;
    if (length == 126 || length == 127) {
      const size_t bytes = length == 126 ? 2 : 8;
      if (!ReadExactly(bytes, &extended)) return std::nullopt;
      length = 0;
      for (char byte : extended) {
        length = (length << 8) | static_cast<unsigned char>(byte);
      }
    }
    std::string mask;
    if (!masked || length > kMaxMessageBytes || !ReadExactly(4, &mask)) {
      Shutdown();  // RFC 6455 5.1: an unmasked client frame is fatal
      return std::nullopt;
    }
    std::string payload;
    if (!ReadExactly(length, &payload)) return std::nullopt;
    for (size_t i = 0; i < payload.size(); ++i) payload[i] ^= mask[i % 4];
    switch (opcode) {
      case kPing:
        WriteFrame(kPong, payload);
        continue;
      case kPong:
        continue;
      case kClose:
        WriteClose(1000);
        return std::nullopt;
      case kText:
      case kBinary:
        if (in_message) return std::nullopt;  // a new message mid-message
        message = std::move(payload);
        break;
      case kContinuation:
        if (!in_message) return std::nullopt;
        message += payload;
        break;
      default:
        return std::nullopt;
    }
    if (message.size() > kMaxMessageBytes) return std::nullopt;
    if (fin) return message;
    in_message = true;
  }
}

bool WebSocketConnection::WriteFrame(uint8_t opcode,
                                     absl::string_view payload) {
  std::string frame(1, static_cast<char>(0x80 | opcode));
  const uint64_t length = payload.size();
  if (length < 126) {
    frame += static_cast<char>(length);
  } else if (length <= 0xFFFF) {
    frame += static_cast<char>(126);
    frame += static_cast<char>(length >> 8);
    frame += static_cast<char>(length & 0xFF);
  } else {
    frame += static_cast<char>(127);
    for (int shift = 56; shift >= 0; shift -= 8) {
      frame += static_cast<char>((length >> shift) & 0xFF);
    }
  }
  frame.append(payload.data(), payload.size());
  absl::MutexLock lock(&write_mu_);
  if (write_failed_ || close_sent_) return false;
  if (opcode == kClose) close_sent_ = true;
  absl::string_view rest = frame;
  while (!rest.empty()) {
    ssize_t sent = send(fd_, rest.data(), rest.size(), MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR) continue;
    if (sent <= 0) {
      write_failed_ = true;
      return false;
    }
    rest.remove_prefix(static_cast<size_t>(sent));
  }
  return true;
}

bool WebSocketConnection::WriteBinary(absl::string_view data) {
  return WriteFrame(kBinary, data);
}

void WebSocketConnection::WriteClose(uint16_t code) {
  const char payload[2] = {static_cast<char>(code >> 8),
                           static_cast<char>(code & 0xFF)};
  WriteFrame(kClose, absl::string_view(payload, sizeof(payload)));
}

void WebSocketConnection::Shutdown() {
  {
    absl::MutexLock lock(&write_mu_);
    write_failed_ = true;
  }
  shutdown(fd_, SHUT_RDWR);
}

}  // namespace codeexec::fake_kube
