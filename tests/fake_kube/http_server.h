// A small HTTP/1.1 server for the fake apiserver: one thread per connection,
// keep-alive, Content-Length and chunked request bodies, and responses that
// are either complete (Content-Length) or streamed as chunks (watch, log
// follow). It also does what a test needs to misbehave on purpose: cut a
// stream without its final chunk, or reset the connection instead of
// answering.
#ifndef CODEEXEC_TESTS_FAKE_KUBE_HTTP_SERVER_H_
#define CODEEXEC_TESTS_FAKE_KUBE_HTTP_SERVER_H_

#include <atomic>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace codeexec::fake_kube {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method;
  std::string path;                            // without the query
  std::map<std::string, std::string> query;    // percent-decoded
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;

  // "" when absent.
  std::string Header(const std::string& lower_case_name) const;
  std::string Query(const std::string& name) const;
  bool HasQuery(const std::string& name) const { return query.contains(name); }
};

// Answers one request on its connection; used only by the connection's
// thread.
class HttpResponder {
 public:
  // A complete response with Content-Length.
  void Send(int status, absl::string_view content_type, absl::string_view body,
            const HeaderList& extra_headers = {});
  // Starts a chunked response; false if the client is gone.
  bool StartStream(int status, absl::string_view content_type,
                   const HeaderList& extra_headers = {});
  // One chunk; false if the client is gone.
  bool WriteChunk(absl::string_view data);
  // The final (empty) chunk: a clean end of the stream.
  void EndStream();
  // Closes the connection now, without a response or without the rest of a
  // stream. `reset` sends a TCP RST instead of a FIN.
  void Abort(bool reset);
  // Whether the client has closed its side (checked without blocking).
  bool ClientGone();
  // Answers 101 Switching Protocols (with `extra_headers`, e.g. Upgrade
  // and Sec-WebSocket-Accept) and hands the socket to the handler for the
  // rest of its call; the connection is closed when the handler returns.
  // -1 if a response was already started or the client is gone. (Clients
  // wait for the 101 before they speak the new protocol, so no bytes of it
  // are buffered here.)
  int SwitchProtocols(const HeaderList& extra_headers);
  // From now on nothing is written; when the handler returns the connection
  // is reset (the request was handled, the client never sees the answer).
  void DiscardResponse() { discard_ = true; }

 private:
  friend class HttpServer;
  enum class State { kIdle, kStreaming, kDone, kAborted, kSwitched };
  HttpResponder(int fd, bool keep_alive) : fd_(fd), keep_alive_(keep_alive) {}
  bool WriteRaw(absl::string_view data);
  std::string StatusLine(int status, absl::string_view content_type,
                         const HeaderList& extra_headers) const;

  int fd_;
  bool keep_alive_;
  bool discard_ = false;
  bool write_failed_ = false;
  State state_ = State::kIdle;
};

class HttpServer {
 public:
  using Handler = std::function<void(const HttpRequest&, HttpResponder&)>;

  // Listens on host:port (0 picks a free port) and serves until Stop().
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      const std::string& host, int port, Handler handler);
  ~HttpServer();

  int port() const { return port_; }
  // Stops accepting, shuts every connection down and joins the threads.
  // Handlers blocked on something other than their socket must be woken by
  // the caller first.
  void Stop();

 private:
  struct Connection {
    std::thread thread;
    int fd = -1;  // guarded by HttpServer::mu_; -1 once closed
    std::atomic<bool> done{false};
  };

  HttpServer(int listen_fd, int port, Handler handler)
      : listen_fd_(listen_fd), port_(port), handler_(std::move(handler)) {}
  void AcceptLoop();
  void Serve(Connection* connection);
  void CloseConnection(Connection* connection, bool reset);

  const int listen_fd_;
  const int port_;
  const Handler handler_;
  std::thread accept_thread_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::list<std::unique_ptr<Connection>> connections_ ABSL_GUARDED_BY(mu_);
};

}  // namespace codeexec::fake_kube

#endif  // CODEEXEC_TESTS_FAKE_KUBE_HTTP_SERVER_H_
