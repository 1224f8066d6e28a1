#include "server/kube/client/rest_client.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <exception>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cpprest/http_client.h"
#include "prometheus/counter.h"
#include "prometheus/histogram.h"
#include "server/kube/client/kube_status.h"
#include "server/kube/client/rate_limiter.h"
#include "server/kube/client/rest_client_transport.h"

namespace codeexec::kube {
namespace {

using web::http::http_response;

constexpr size_t kMaxLineBytes = size_t{16} << 20;
constexpr absl::Duration kMaxRetryAfter = absl::Seconds(60);
// Stream bodies may idle for long (log follow of a quiet program): the
// cpprestsdk inactivity timer of the streaming client is effectively off.
constexpr std::chrono::hours kStreamInactivityTimeout(24 * 365);

const prometheus::Histogram::BucketBoundaries& DurationBuckets() {
  static const auto* buckets = new prometheus::Histogram::BucketBoundaries{
      0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
  return *buckets;
}

// One HTTP exchange.
struct Attempt {
  std::optional<http_response> response;  // set when headers arrived
  std::string body;                       // read unless a 2xx stream
  std::string error;                      // no (complete) response: why
  bool timed_out = false;
  // No response: whether the request may have reached the server.
  bool maybe_sent = true;
};

// An opened 2xx response; `cts` aborts it, `link` ties it to the caller's
// Cancellation.
struct Opened {
  http_response response;
  std::string body;
  std::shared_ptr<pplx::cancellation_token_source> cts;
  std::unique_ptr<rest_internal::CancelLink> link;
};

}  // namespace

struct RestClient::Impl {
  ClusterConnection connection;
  RestClientOptions options;
  RateLimiter rate_limiter{options.qps, options.burst};
  std::unique_ptr<web::http::client::http_client> unary_client;
  std::unique_ptr<web::http::client::http_client> stream_client;
  prometheus::Family<prometheus::Counter>* requests_total = nullptr;
  prometheus::Family<prometheus::Histogram>* request_duration = nullptr;
  absl::Mutex random_mu;
  absl::BitGen random ABSL_GUARDED_BY(random_mu);

  Impl(ClusterConnection connection_in, RestClientOptions options_in)
      : connection(std::move(connection_in)), options(options_in) {}

  absl::Status Cancelled(const KubeRequest& request,
                         const Cancellation& cancel) const {
    return absl::CancelledError(absl::StrCat("kubernetes ", request.kube_verb,
                                             " ", request.resource,
                                             " cancelled: ", cancel.Reason()));
  }

  static absl::Status Validate(const KubeRequest& request) {
    if (request.verb != "GET" && request.verb != "POST" &&
        request.verb != "DELETE") {
      return absl::InvalidArgumentError(
          absl::StrCat("unsupported HTTP verb \"", request.verb, "\""));
    }
    try {
      web::uri parsed(request.path);
      if (!absl::StartsWith(request.path, "/")) {
        return absl::InvalidArgumentError(absl::StrCat(
            "request path \"", request.path, "\" does not start with '/'"));
      }
    } catch (const std::exception& e) {
      return absl::InvalidArgumentError(
          absl::StrCat("request path \"", request.path,
                       "\" is not a valid URI: ", e.what()));
    }
    return absl::OkStatus();
  }

  void Record(const KubeRequest& request, const std::string& code,
              absl::Duration duration) {
    if (requests_total == nullptr) return;
    const std::string verb = request.kube_verb.empty()
                                 ? absl::AsciiStrToLower(request.verb)
                                 : request.kube_verb;
    requests_total
        ->Add({{"verb", verb}, {"resource", request.resource}, {"code", code}})
        .Increment();
    request_duration
        ->Add({{"verb", verb}, {"resource", request.resource}},
              DurationBuckets())
        .Observe(absl::ToDoubleSeconds(duration));
  }

  absl::Duration Backoff(int retry) {
    absl::Duration ceiling = options.initial_backoff;
    for (int i = 1; i < retry && ceiling < options.max_backoff; ++i) {
      ceiling *= 2;
    }
    ceiling = std::min(ceiling, options.max_backoff);
    absl::MutexLock lock(&random_mu);
    return ceiling * absl::Uniform(random, 0.5, 1.0);
  }

  Attempt Send(const KubeRequest& request, const std::string& token,
               bool stream, pplx::cancellation_token_source& cts,
               absl::Time deadline) {
    Attempt attempt;
    try {
      web::http::http_request message(request.verb);
      message.set_request_uri(web::uri(request.path));
      message.headers().add("Accept", "application/json");
      message.headers().add("User-Agent", "code-executor");
      if (!token.empty()) {
        message.headers().add("Authorization", "Bearer " + token);
      }
      if (request.body.has_value()) {
        message.set_body(request.body->dump(), "application/json");
      }
      auto& client = stream ? *stream_client : *unary_client;
      attempt.response =
          rest_internal::AwaitTask(client.request(message, cts.get_token()),
                                   cts, deadline, &attempt.timed_out);
      const int code = attempt.response->status_code();
      if (!stream || code < 200 || code > 299) {
        attempt.body =
            rest_internal::AwaitTask(attempt.response->extract_utf8string(true),
                                     cts, deadline, &attempt.timed_out);
      }
    } catch (const std::exception& e) {
      // http_exception, task_canceled, boost/json errors.
      attempt.error =
          attempt.timed_out
              ? absl::StrCat("timed out after ",
                             absl::FormatDuration(options.request_timeout))
              : rest_internal::TransportErrorText(e);
      attempt.maybe_sent = attempt.response.has_value() || attempt.timed_out ||
                           !rest_internal::IsTransportErrorBeforeSend(e.what());
      attempt.response.reset();
    }
    return attempt;
  }

  // Sends with rate limiting, tokens and retries until a 2xx arrives.
  absl::StatusOr<Opened> Open(const KubeRequest& request, bool stream,
                              const Cancellation* cancel) {
    if (absl::Status valid = Validate(request); !valid.ok()) return valid;
    const bool is_post = request.verb == "POST";
    const RequestDescription description{request.kube_verb, request.resource,
                                         NamespaceFromPath(request.path)};
    bool token_refreshed = false;
    for (int attempt_number = 1;; ++attempt_number) {
      if (!rate_limiter.Acquire(cancel) ||
          (cancel != nullptr && cancel->IsCancelled())) {
        return Cancelled(request, *cancel);
      }
      std::string token;
      if (connection.token_source != nullptr) {
        absl::StatusOr<std::string> fetched = connection.token_source->Token();
        if (!fetched.ok()) {
          return absl::UnauthenticatedError(
              absl::StrCat("no bearer token for ", connection.description, ": ",
                           fetched.status().message()));
        }
        token = *std::move(fetched);
      }
      Opened opened;
      opened.cts = std::make_shared<pplx::cancellation_token_source>();
      opened.link =
          std::make_unique<rest_internal::CancelLink>(cancel, opened.cts);
      const absl::Time start = absl::Now();
      Attempt attempt = Send(request, token, stream, *opened.cts,
                             start + options.request_timeout);
      Record(request,
             attempt.response ? absl::StrCat(attempt.response->status_code())
                              : "error",
             absl::Now() - start);
      if (cancel != nullptr && cancel->IsCancelled()) {
        return Cancelled(request, *cancel);
      }
      absl::Status error;
      bool retryable;
      std::optional<absl::Duration> retry_after;
      if (!attempt.response.has_value()) {
        error = absl::UnavailableError(
            absl::StrCat("kubernetes API server ", connection.server, " (",
                         connection.description, "): ", request.verb, " ",
                         request.path, ": ", attempt.error,
                         is_post && attempt.maybe_sent
                             ? " (the create may or may not have been applied)"
                             : ""));
        retryable = !is_post || !attempt.maybe_sent;
      } else {
        const int code = attempt.response->status_code();
        if (code >= 200 && code <= 299) {
          opened.response = *std::move(attempt.response);
          opened.body = std::move(attempt.body);
          return opened;
        }
        if (code == 401 && !token_refreshed &&
            connection.token_source != nullptr) {
          connection.token_source->Invalidate();
          token_refreshed = true;
          --attempt_number;  // the retry with a fresh token is extra
          continue;
        }
        error = StatusFromResponse(code, attempt.body, description);
        retryable = code == 429 ||
                    (code >= 500 && (!is_post || code == 500 || code == 502 ||
                                     code == 503 || code == 504));
        std::string header;
        int seconds = 0;
        if (attempt.response->headers().match("Retry-After", header) &&
            absl::SimpleAtoi(header, &seconds) && seconds >= 0) {
          retry_after = std::min(absl::Seconds(seconds), kMaxRetryAfter);
        }
      }
      if (!retryable || attempt_number >= options.max_attempts) {
        if (attempt_number == 1) return error;
        return absl::Status(error.code(),
                            absl::StrCat(error.message(), " (after ",
                                         attempt_number, " attempts)"));
      }
      absl::Duration wait = Backoff(attempt_number);
      if (retry_after.has_value()) wait = std::max(wait, *retry_after);
      if (cancel != nullptr ? cancel->WaitFor(wait)
                            : (absl::SleepFor(wait), false)) {
        return Cancelled(request, *cancel);
      }
    }
  }
};

absl::StatusOr<std::unique_ptr<RestClient>> RestClient::Create(
    ClusterConnection connection, RestClientOptions options,
    std::shared_ptr<prometheus::Registry> registry) {
  const std::string what =
      absl::StrCat("Kubernetes connection ", connection.description);
  if (!absl::StartsWith(connection.server, "https://") &&
      !absl::StartsWith(connection.server, "http://")) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": server \"", connection.server, "\" is not an http(s) URL"));
  }
  if (connection.client_cert_pem.empty() != connection.client_key_pem.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": client certificate and key must come together"));
  }
  auto impl = std::make_unique<Impl>(connection, options);
  try {
    boost::asio::ssl::context probe(boost::asio::ssl::context::sslv23);
    if (std::string problem = rest_internal::ConfigureTls(connection, probe);
        !problem.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": ", problem));
    }
    web::http::client::http_client_config config;
    config.set_validate_certificates(!connection.insecure_skip_tls_verify);
    config.set_max_redirects(0);
    config.set_ssl_context_callback(
        [tls = connection](boost::asio::ssl::context& context) {
          rest_internal::ConfigureTls(tls, context);  // validated above
        });
    config.set_timeout(std::chrono::microseconds(
        absl::ToInt64Microseconds(options.request_timeout)));
    impl->unary_client = std::make_unique<web::http::client::http_client>(
        web::uri(connection.server), config);
    config.set_timeout(kStreamInactivityTimeout);
    impl->stream_client = std::make_unique<web::http::client::http_client>(
        web::uri(connection.server), config);
    if (registry != nullptr) {
      impl->requests_total = &prometheus::BuildCounter()
                                  .Name("codeexec_kube_requests_total")
                                  .Help(
                                      "Kubernetes API requests (each attempt) "
                                      "by verb, resource and HTTP code.")
                                  .Register(*registry);
      impl->request_duration =
          &prometheus::BuildHistogram()
               .Name("codeexec_kube_request_duration_seconds")
               .Help(
                   "Kubernetes API request latency per attempt (streams: "
                   "until the response headers).")
               .Register(*registry);
    }
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", e.what()));
  }
  return std::unique_ptr<RestClient>(
      new RestClient(std::move(connection), std::move(impl)));
}

RestClient::RestClient(ClusterConnection connection, std::unique_ptr<Impl> impl)
    : connection_(std::move(connection)), impl_(std::move(impl)) {}

RestClient::~RestClient() = default;

absl::StatusOr<nlohmann::json> RestClient::Call(const KubeRequest& request,
                                                const Cancellation* cancel) {
  absl::StatusOr<Opened> opened =
      impl_->Open(request, /*stream=*/false, cancel);
  if (!opened.ok()) return opened.status();
  if (absl::StripAsciiWhitespace(opened->body).empty()) return nlohmann::json();
  nlohmann::json parsed = nlohmann::json::parse(opened->body, nullptr,
                                                /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return absl::InternalError(
        absl::StrCat("kubernetes ", request.kube_verb, " ", request.resource,
                     ": response is not JSON: ", opened->body.substr(0, 200)));
  }
  return parsed;
}

absl::Status RestClient::Stream(
    const KubeRequest& request,
    const std::function<bool(absl::string_view line)>& on_line,
    const Cancellation* cancel) {
  absl::StatusOr<Opened> opened = impl_->Open(request, /*stream=*/true, cancel);
  if (!opened.ok()) return opened.status();
  const auto broken = [&](absl::string_view why) {
    if (cancel != nullptr && cancel->IsCancelled()) {
      return impl_->Cancelled(request, *cancel);
    }
    return absl::UnavailableError(
        absl::StrCat("kubernetes ", request.kube_verb, " ", request.resource,
                     " stream from ", connection_.server, " broke: ", why));
  };
  rest_internal::LineAssembler lines(kMaxLineBytes);
  try {
    auto buffer = opened->response.body().streambuf();
    char chunk[16384];
    while (true) {
      const size_t available = buffer.in_avail();
      size_t received;
      if (available == 0) {
        // Blocks until data, the end of the body, or an abort (cancel).
        const auto next = buffer.bumpc().get();
        if (next == decltype(buffer)::traits::eof()) break;
        chunk[0] = static_cast<char>(next);
        received = 1;
      } else {
        received = buffer
                       .getn(reinterpret_cast<uint8_t*>(chunk),
                             std::min(available, sizeof(chunk)))
                       .get();
        if (received == 0) break;
      }
      bool too_long = false;
      if (!lines.Feed(absl::string_view(chunk, received), on_line, &too_long)) {
        opened->cts->cancel();  // closes the connection: ends the stream
        if (!too_long) return absl::OkStatus();
        return absl::ResourceExhaustedError(absl::StrCat(
            "kubernetes ", request.kube_verb, " ", request.resource,
            ": a line exceeds ", kMaxLineBytes, " bytes"));
      }
    }
    // The end of the body: a clean end, or an abort/connection failure.
    opened->response.content_ready().get();
  } catch (const std::exception& e) {
    return broken(rest_internal::TransportErrorText(e));
  }
  if (cancel != nullptr && cancel->IsCancelled()) {
    return impl_->Cancelled(request, *cancel);
  }
  lines.Finish(on_line);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ContainerStream>> RestClient::OpenStream(
    const KubeRequest& request, ContainerStream::Handlers handlers,
    const Cancellation* cancel) {
  if (!impl_->rate_limiter.Acquire(cancel) ||
      (cancel != nullptr && cancel->IsCancelled())) {
    return impl_->Cancelled(request, *cancel);
  }
  const absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<ContainerStream>> stream =
      ContainerStream::Open(connection_, request.path, std::move(handlers),
                            impl_->options.request_timeout);
  impl_->Record(request, stream.ok() ? "101" : "error", absl::Now() - start);
  return stream;
}

}  // namespace codeexec::kube
