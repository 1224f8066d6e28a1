// Test-only: a raw-socket HTTP/1.1 server on 127.0.0.1 for the RestClient
// tests. Each connection runs on its own thread and may carry several
// requests (keep-alive); the handler writes the response bytes itself, so a
// test controls chunking, delays and connection resets exactly.
#ifndef CODEEXEC_SERVER_KUBE_CLIENT_REST_CLIENT_TEST_SERVER_H_
#define CODEEXEC_SERVER_KUBE_CLIENT_REST_CLIENT_TEST_SERVER_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace codeexec::kube::testing {

struct TestRequest {
  std::string method;
  std::string target;                          // path + query
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

class TestConnection {
 public:
  explicit TestConnection(int fd) : fd_(fd) {}
  bool Write(const std::string& bytes) {
    size_t written = 0;
    while (written < bytes.size()) {
      const ssize_t n = send(fd_, bytes.data() + written,
                             bytes.size() - written, MSG_NOSIGNAL);
      if (n <= 0) return false;
      written += n;
    }
    return true;
  }
  // A complete response with Content-Length.
  void Respond(int code, const std::string& body,
               const std::string& extra_headers = "") {
    Write(absl::StrCat("HTTP/1.1 ", code,
                       " X\r\nContent-Type: application/json"
                       "\r\nContent-Length: ",
                       body.size(), "\r\n", extra_headers, "\r\n", body));
  }
  void StartChunked(int code = 200) {
    Write(absl::StrCat("HTTP/1.1 ", code,
                       " OK\r\nContent-Type: application/json\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n"));
  }
  bool WriteChunk(const std::string& data) {
    std::string size;
    absl::StrAppend(&size, absl::Hex(data.size()));
    return Write(absl::StrCat(size, "\r\n", data, "\r\n"));
  }
  void EndChunked() { Write("0\r\n\r\n"); }
  // Closes with RST instead of FIN.
  void Reset() {
    linger option{1, 0};
    setsockopt(fd_, SOL_SOCKET, SO_LINGER, &option, sizeof(option));
    shutdown(fd_, SHUT_RDWR);
    closed_ = true;
  }
  void Close() {
    shutdown(fd_, SHUT_RDWR);
    closed_ = true;
  }
  bool closed() const { return closed_; }

 private:
  int fd_;
  bool closed_ = false;
};

class TestHttpServer {
 public:
  using Handler = std::function<void(const TestRequest&, TestConnection&)>;

  explicit TestHttpServer(Handler handler) : handler_(std::move(handler)) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&address),
             sizeof(address)) != 0 ||
        listen(listen_fd_, 64) != 0) {
      std::abort();
    }
    socklen_t length = sizeof(address);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }

  ~TestHttpServer() {
    stopping_ = true;
    shutdown(listen_fd_, SHUT_RDWR);
    close(listen_fd_);
    acceptor_.join();
    std::vector<std::thread> threads;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (int fd : connection_fds_) shutdown(fd, SHUT_RDWR);
      threads.swap(threads_);
    }
    for (std::thread& thread : threads) thread.join();
    for (int fd : connection_fds_) close(fd);
  }

  int port() const { return port_; }
  std::string url() const { return absl::StrCat("http://127.0.0.1:", port_); }
  int requests() const { return requests_; }
  int connections() const { return connections_; }

 private:
  void AcceptLoop() {
    while (!stopping_) {
      const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (stopping_) return;
        continue;
      }
      ++connections_;
      std::lock_guard<std::mutex> lock(mu_);
      connection_fds_.push_back(fd);
      threads_.emplace_back([this, fd] { Serve(fd); });
    }
  }

  void Serve(int fd) {
    std::string buffer;
    TestConnection connection(fd);
    while (!connection.closed()) {
      size_t header_end;
      while ((header_end = buffer.find("\r\n\r\n")) == std::string::npos) {
        if (!ReadMore(fd, buffer)) return;
      }
      TestRequest request;
      const std::vector<std::string> lines =
          absl::StrSplit(buffer.substr(0, header_end), "\r\n");
      const std::vector<std::string> request_line =
          absl::StrSplit(lines[0], ' ');
      request.method = request_line[0];
      request.target = request_line.size() > 1 ? request_line[1] : "";
      for (size_t i = 1; i < lines.size(); ++i) {
        const size_t colon = lines[i].find(':');
        if (colon == std::string::npos) continue;
        request.headers[absl::AsciiStrToLower(lines[i].substr(0, colon))] =
            std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
      }
      buffer.erase(0, header_end + 4);
      size_t length = 0;
      if (auto it = request.headers.find("content-length");
          it != request.headers.end()) {
        (void)absl::SimpleAtoi(it->second, &length);
      }
      while (buffer.size() < length) {
        if (!ReadMore(fd, buffer)) return;
      }
      request.body = buffer.substr(0, length);
      buffer.erase(0, length);
      ++requests_;
      handler_(request, connection);
    }
  }

  static bool ReadMore(int fd, std::string& buffer) {
    char chunk[4096];
    const ssize_t n = read(fd, chunk, sizeof(chunk));
    if (n <= 0) return false;
    buffer.append(chunk, n);
    return true;
  }

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> requests_{0};
  std::atomic<int> connections_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<int> connection_fds_;
  std::vector<std::thread> threads_;
};

}  // namespace codeexec::kube::testing

#endif  // CODEEXEC_SERVER_KUBE_CLIENT_REST_CLIENT_TEST_SERVER_H_
