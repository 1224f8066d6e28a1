#include "tests/fake_kube/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace codeexec::fake_kube {
namespace {

constexpr size_t kMaxHeadBytes = 1 << 20;
constexpr size_t kMaxBodyBytes = size_t{64} << 20;

const char* ReasonPhrase(int status) {
  switch (status) {
    case 101:
      return "Switching Protocols";
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 413:
      return "Request Entity Too Large";
    case 422:
      return "Unprocessable Entity";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Status";
  }
}

std::string PercentDecode(absl::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out.push_back(' ');
    } else if (text[i] == '%' && i + 2 < text.size() &&
               absl::ascii_isxdigit(text[i + 1]) &&
               absl::ascii_isxdigit(text[i + 2])) {
      int value = 0;
      (void)absl::SimpleHexAtoi(text.substr(i + 1, 2), &value);
      out.push_back(static_cast<char>(value));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

// Buffered reads from one connection.
class Reader {
 public:
  explicit Reader(int fd) : fd_(fd) {}

  // Reads until `buffer_` holds `needed` bytes; false on EOF or error.
  bool Fill(size_t needed) {
    while (buffer_.size() < needed) {
      char chunk[16384];
      ssize_t got = recv(fd_, chunk, sizeof(chunk), 0);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return false;
      buffer_.append(chunk, static_cast<size_t>(got));
    }
    return true;
  }
  // A line ending in CRLF (without it), searched from the buffer start.
  bool ReadUntil(absl::string_view delimiter, size_t limit, std::string* out) {
    size_t pos;
    while ((pos = absl::string_view(buffer_).find(delimiter)) ==
           absl::string_view::npos) {
      if (buffer_.size() > limit || !Fill(buffer_.size() + 1)) return false;
    }
    *out = buffer_.substr(0, pos);
    buffer_.erase(0, pos + delimiter.size());
    return true;
  }
  bool ReadExactly(size_t size, std::string* out) {
    if (!Fill(size)) return false;
    out->append(buffer_, 0, size);
    buffer_.erase(0, size);
    return true;
  }

 private:
  int fd_;
  std::string buffer_;
};

bool ParseHead(const std::string& head, HttpRequest* request) {
  std::vector<absl::string_view> lines = absl::StrSplit(head, "\r\n");
  std::vector<absl::string_view> first = absl::StrSplit(lines[0], ' ');
  if (first.size() != 3) return false;
  request->method = std::string(first[0]);
  absl::string_view target = first[1];
  const size_t question = target.find('?');
  request->path = PercentDecode(target.substr(0, question));
  if (question != absl::string_view::npos) {
    for (absl::string_view pair :
         absl::StrSplit(target.substr(question + 1), '&', absl::SkipEmpty())) {
      std::pair<absl::string_view, absl::string_view> kv =
          absl::StrSplit(pair, absl::MaxSplits('=', 1));
      request->query[PercentDecode(kv.first)] = PercentDecode(kv.second);
    }
  }
  for (size_t i = 1; i < lines.size(); ++i) {
    const size_t colon = lines[i].find(':');
    if (colon == absl::string_view::npos) continue;
    request->headers[absl::AsciiStrToLower(lines[i].substr(0, colon))] =
        std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
  }
  return true;
}

bool ReadBody(Reader& reader, HttpRequest* request) {
  if (absl::AsciiStrToLower(request->Header("transfer-encoding")) ==
      "chunked") {
    while (true) {
      std::string size_line;
      if (!reader.ReadUntil("\r\n", 1024, &size_line)) return false;
      size_t size = 0;
      if (!absl::SimpleHexAtoi(absl::StripAsciiWhitespace(
                                   size_line.substr(0, size_line.find(';'))),
                               &size) ||
          request->body.size() + size > kMaxBodyBytes) {
        return false;
      }
      std::string crlf;
      if (size == 0) return reader.ReadUntil("\r\n", kMaxHeadBytes, &crlf);
      if (!reader.ReadExactly(size, &request->body) ||
          !reader.ReadUntil("\r\n", 2, &crlf)) {
        return false;
      }
    }
  }
  const std::string length_text = request->Header("content-length");
  size_t length = 0;
  if (length_text.empty()) return true;
  if (!absl::SimpleAtoi(length_text, &length) || length > kMaxBodyBytes) {
    return false;
  }
  return reader.ReadExactly(length, &request->body);
}

}  // namespace

std::string HttpRequest::Header(const std::string& lower_case_name) const {
  auto it = headers.find(lower_case_name);
  return it == headers.end() ? "" : it->second;
}

std::string HttpRequest::Query(const std::string& name) const {
  auto it = query.find(name);
  return it == query.end() ? "" : it->second;
}

bool HttpResponder::WriteRaw(absl::string_view data) {
  if (discard_) return true;
  while (!data.empty() && !write_failed_) {
    ssize_t sent = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR) continue;
    if (sent <= 0) {
      write_failed_ = true;
      break;
    }
    data.remove_prefix(static_cast<size_t>(sent));
  }
  return !write_failed_;
}

std::string HttpResponder::StatusLine(int status,
                                      absl::string_view content_type,
                                      const HeaderList& extra_headers) const {
  std::string head =
      absl::StrFormat("HTTP/1.1 %d %s\r\nContent-Type: %s\r\n", status,
                      ReasonPhrase(status), content_type);
  absl::StrAppend(&head, "Cache-Control: no-cache, private\r\n");
  for (const auto& [name, value] : extra_headers) {
    absl::StrAppend(&head, name, ": ", value, "\r\n");
  }
  if (!keep_alive_) absl::StrAppend(&head, "Connection: close\r\n");
  return head;
}

void HttpResponder::Send(int status, absl::string_view content_type,
                         absl::string_view body,
                         const HeaderList& extra_headers) {
  if (state_ != State::kIdle) return;
  std::string message = StatusLine(status, content_type, extra_headers);
  absl::StrAppend(&message, "Content-Length: ", body.size(), "\r\n\r\n", body);
  WriteRaw(message);
  state_ = State::kDone;
}

bool HttpResponder::StartStream(int status, absl::string_view content_type,
                                const HeaderList& extra_headers) {
  if (state_ != State::kIdle) return false;
  state_ = State::kStreaming;
  return WriteRaw(absl::StrCat(StatusLine(status, content_type, extra_headers),
                               "Transfer-Encoding: chunked\r\n\r\n"));
}

bool HttpResponder::WriteChunk(absl::string_view data) {
  if (state_ != State::kStreaming) return false;
  if (data.empty()) return !write_failed_;
  return WriteRaw(absl::StrCat(absl::Hex(data.size()), "\r\n", data, "\r\n"));
}

void HttpResponder::EndStream() {
  if (state_ != State::kStreaming) return;
  WriteRaw("0\r\n\r\n");
  state_ = State::kDone;
}

int HttpResponder::SwitchProtocols(const HeaderList& extra_headers) {
  if (state_ != State::kIdle) return -1;
  state_ = State::kSwitched;
  std::string head = absl::StrFormat("HTTP/1.1 101 %s\r\n", ReasonPhrase(101));
  for (const auto& [name, value] : extra_headers) {
    absl::StrAppend(&head, name, ": ", value, "\r\n");
  }
  absl::StrAppend(&head, "\r\n");
  return WriteRaw(head) ? fd_ : -1;
}

void HttpResponder::Abort(bool reset) {
  if (state_ == State::kAborted) return;
  if (reset) {
    struct linger no_linger = {1, 0};
    setsockopt(fd_, SOL_SOCKET, SO_LINGER, &no_linger, sizeof(no_linger));
  }
  shutdown(fd_, SHUT_RDWR);
  state_ = State::kAborted;
}

bool HttpResponder::ClientGone() {
  if (write_failed_ || state_ == State::kAborted) return true;
  struct pollfd poll_fd = {fd_, POLLIN | POLLRDHUP, 0};
  if (poll(&poll_fd, 1, 0) <= 0) return false;
  if (poll_fd.revents & (POLLRDHUP | POLLHUP | POLLERR)) return true;
  char byte;
  return recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    const std::string& host, int port, Handler handler) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError("socket() failed");
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1) {
    close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat("listen address ", host, " is not an IPv4 address"));
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      listen(fd, 512) != 0) {
    const int error = errno;
    close(fd);
    return absl::UnavailableError(absl::StrCat("cannot listen on ", host, ":",
                                               port, ": ", strerror(error)));
  }
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  std::unique_ptr<HttpServer> server(
      new HttpServer(fd, ntohs(address.sin_port), std::move(handler)));
  server->accept_thread_ = std::thread([s = server.get()] { s->AcceptLoop(); });
  return server;
}

HttpServer::~HttpServer() {
  Stop();
  close(listen_fd_);
}

void HttpServer::AcceptLoop() {
  while (true) {
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;  // shut down by Stop()
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      close(fd);
      return;
    }
    // Join connections that have ended.
    for (auto it = connections_.begin(); it != connections_.end();) {
      if ((*it)->done.load()) {
        (*it)->thread.join();
        it = connections_.erase(it);
      } else {
        ++it;
      }
    }
    auto connection = std::make_unique<Connection>();
    connection->fd = fd;
    Connection* raw = connection.get();
    connections_.push_back(std::move(connection));
    raw->thread = std::thread([this, raw] { Serve(raw); });
  }
}

void HttpServer::CloseConnection(Connection* connection, bool reset) {
  absl::MutexLock lock(&mu_);
  if (reset) {
    struct linger no_linger = {1, 0};
    setsockopt(connection->fd, SOL_SOCKET, SO_LINGER, &no_linger,
               sizeof(no_linger));
  }
  close(connection->fd);
  connection->fd = -1;
}

void HttpServer::Serve(Connection* connection) {
  const int fd = connection->fd;
  Reader reader(fd);
  bool reset = false;
  while (true) {
    std::string head;
    if (!reader.ReadUntil("\r\n\r\n", kMaxHeadBytes, &head)) break;
    HttpRequest request;
    if (!ParseHead(head, &request)) break;
    if (absl::AsciiStrToLower(request.Header("expect")) == "100-continue") {
      const char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
      send(fd, kContinue, sizeof(kContinue) - 1, MSG_NOSIGNAL);
    }
    if (!ReadBody(reader, &request)) break;
    const bool keep_alive =
        absl::AsciiStrToLower(request.Header("connection")) != "close";
    HttpResponder responder(fd, keep_alive);
    handler_(request, responder);
    if (responder.discard_) {
      reset = true;
      break;
    }
    if (responder.state_ == HttpResponder::State::kIdle) {
      responder.Send(500, "text/plain", "no response\n");
    }
    if (responder.state_ != HttpResponder::State::kDone ||
        responder.write_failed_ || !keep_alive) {
      break;
    }
  }
  CloseConnection(connection, reset);
  connection->done.store(true);
}

void HttpServer::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
    shutdown(listen_fd_, SHUT_RDWR);
  }
  accept_thread_.join();
  std::list<std::unique_ptr<Connection>> connections;
  {
    absl::MutexLock lock(&mu_);
    for (auto& connection : connections_) {
      if (connection->fd >= 0) shutdown(connection->fd, SHUT_RDWR);
    }
    connections.swap(connections_);
  }
  for (auto& connection : connections) connection->thread.join();
}

}  // namespace codeexec::fake_kube
