// The Kubernetes REST client: JSON requests and line streams (watch, log
// follow) over cpprestsdk's http_client, with TLS from a ClusterConnection,
// bearer tokens, client-side rate limiting, retries and metrics. Nothing
// outside server/kube/ speaks HTTP to the API server.
#ifndef CODEEXEC_SERVER_KUBE_CLIENT_REST_CLIENT_H_
#define CODEEXEC_SERVER_KUBE_CLIENT_REST_CLIENT_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "prometheus/registry.h"
#include "server/exec/cancellation.h"
#include "server/kube/client/cluster_connection.h"
#include "server/kube/client/container_stream.h"
#include "server/kube/kube_options.h"

namespace codeexec::kube {

struct RestClientOptions {
  // Client-side token bucket shared by every request (also each retry);
  // the backend passes kubernetes.qps / kubernetes.burst.
  double qps = KubernetesOptions().qps;
  int burst = KubernetesOptions().burst;
  // Unary calls: from sending to the whole response body. Streams: until the
  // response headers only (kubernetes.requestTimeout).
  absl::Duration request_timeout = KubernetesOptions().request_timeout;
  // Attempts per call, the first included (a 401 adds one more, see Call).
  int max_attempts = 5;
  // Jittered exponential backoff between attempts: the n-th retry waits a
  // uniform random time in [d/2, d], d = min(max_backoff,
  // initial_backoff * 2^(n-1)); a Retry-After header (seconds, capped at 60)
  // raises the wait to at least its value.
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(5);
};

struct KubeRequest {
  // "GET", "POST" or "DELETE" (bodies are sent as application/json).
  std::string verb;
  // "/api/v1/namespaces/ns/configmaps/x", percent-encoded, with the query
  // string if any.
  std::string path;
  std::optional<nlohmann::json> body;
  // Metrics label and error text: "configmaps", "jobs", "pods", "pods/log".
  std::string resource;
  // Metrics label and error text, Kubernetes verbs (not HTTP): "create",
  // "get", "list", "delete", "watch", "log".
  std::string kube_verb;
};

class RestClient {
 public:
  // Fails when the connection's server URL or TLS material (CA, client
  // certificate/key) is unusable. `registry` may be null (no metrics);
  // otherwise codeexec_kube_requests_total{verb,resource,code} (code = HTTP
  // status, or "error" when no response arrived) and
  // codeexec_kube_request_duration_seconds{verb,resource} (per attempt; for
  // streams, the time to the response headers) are registered on it.
  static absl::StatusOr<std::unique_ptr<RestClient>> Create(
      ClusterConnection connection, RestClientOptions options,
      std::shared_ptr<prometheus::Registry> registry);
  ~RestClient();

  // Unary request; returns the JSON response body (null for an empty body).
  //
  // Retries (up to max_attempts, with backoff) on 429, 5xx and connection
  // errors (including timeouts) — for every verb except POST. A POST (a
  // create) is retried only when a repeat cannot do harm or the server
  // asked for it: on 429, on 500/502/503/504, and on connection errors that
  // happened before the request was sent (resolve/connect/TLS handshake
  // failures such as connection refused); never after a connection reset or
  // a timeout once the request was written.
  //
  // CONTRACT FOR CREATES: since a 5xx does not prove that the object was not
  // stored, a retried POST may answer 409 AlreadyExists for an object that
  // the FIRST attempt created. A caller that gets AlreadyExists from a
  // create must GET the object and treat it as its own when it carries its
  // execution-id label (names are random, so a foreign object of that name
  // is practically impossible) — and as a real conflict otherwise.
  //
  // A 401 invalidates the token source and retries once with a fresh token
  // (not counted in max_attempts). Errors are mapped by StatusFromResponse
  // (kube_status.h): 403 PermissionDenied naming verb, resource and
  // namespace; 404 NotFound; 409 AlreadyExists/Aborted; 410
  // FailedPrecondition ("Gone ... expired"); 422 InvalidArgument; 429 after
  // retries ResourceExhausted; 5xx after retries Unavailable. No response
  // (connection failure, timeout) → Unavailable naming the server. When
  // `cancel` fires the call returns Cancelled promptly (an in-flight request
  // is aborted by closing its connection).
  absl::StatusOr<nlohmann::json> Call(const KubeRequest& request,
                                      const Cancellation* cancel = nullptr);

  // Streaming GET (watch, log?follow=true). Opens the request with the same
  // retry rules until a 2xx arrives (request_timeout applies to getting the
  // headers only), then calls `on_line` for every complete line of the body
  // as it arrives, without the '\n' (a "\r\n" ending loses its '\r' too; a
  // lone '\r' inside a line is kept); a final unterminated line is delivered
  // at EOF. Lines longer than 16 MiB end the stream with ResourceExhausted.
  // Returns OK when the server ends the body or `on_line` returns false
  // (the connection is then closed); Cancelled when `cancel` fires, also
  // while blocked waiting for data; Unavailable when the connection breaks
  // mid-body; an error status as for Call when no 2xx arrived. Nothing
  // bounds how long the body may stay idle: watches should ask the server
  // to end them (timeoutSeconds).
  absl::Status Stream(
      const KubeRequest& request,
      const std::function<bool(absl::string_view line)>& on_line,
      const Cancellation* cancel = nullptr);

  // Opens a ContainerStream (attach, exec) at request.path on this client's
  // connection, after a rate-limit token; counted in the metrics like a
  // request (code "101" when the upgrade succeeded, else "error"). Never
  // retried: the caller decides what a refused stream means.
  absl::StatusOr<std::unique_ptr<ContainerStream>> OpenStream(
      const KubeRequest& request, ContainerStream::Handlers handlers,
      const Cancellation* cancel = nullptr);

  const ClusterConnection& connection() const { return connection_; }

 private:
  struct Impl;
  RestClient(ClusterConnection connection, std::unique_ptr<Impl> impl);

  const ClusterConnection connection_;
  const std::unique_ptr<Impl> impl_;
};

}  // namespace codeexec::kube

#endif  // CODEEXEC_SERVER_KUBE_CLIENT_REST_CLIENT_H_
