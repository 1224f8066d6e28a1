// RestClient unary calls against a real HTTP server on loopback: JSON,
// tokens, retries, error mapping, rate limiting, timeouts, cancellation and
// metrics. Streams: rest_client_stream_test.cc; TLS: rest_client_tls_test.cc.
#include "server/kube/client/rest_client.h"

#include <atomic>
#include <thread>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/kube/client/kube_status.h"
#include "server/kube/client/rest_client_test_server.h"
#include "server/kube/client/rest_client_test_util.h"

namespace codeexec::kube {
namespace {

using testing::FastOptions;
using ::testing::HasSubstr;
using testing::MakeClient;
using testing::TestConnection;
using testing::TestHttpServer;
using testing::TestRequest;

KubeRequest CreateJob() {
  return {"POST", "/apis/batch/v1/namespaces/ns1/jobs",
          nlohmann::json{{"a", 1}}, "jobs", "create"};
}
KubeRequest GetPod() {
  return {"GET", "/api/v1/namespaces/ns1/pods/p?x=1", std::nullopt, "pods",
          "get"};
}

std::string KubeStatus(int code, const std::string& reason,
                       const std::string& message) {
  return nlohmann::json{{"kind", "Status"},    {"apiVersion", "v1"},
                        {"status", "Failure"}, {"message", message},
                        {"reason", reason},    {"code", code}}
      .dump();
}

TEST(RestClientTest, JsonRoundTripWithBearerToken) {
  TestRequest seen;
  TestHttpServer server([&](const TestRequest& request, TestConnection& c) {
    seen = request;
    c.Respond(201, R"({"metadata":{"name":"ce-1","uid":"u1"}})");
  });
  auto client = MakeClient(server.url(), FastOptions(),
                           std::make_shared<StaticTokenSource>("secret"));
  absl::StatusOr<nlohmann::json> reply = client->Call(CreateJob());
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ((*reply)["metadata"]["uid"], "u1");
  EXPECT_EQ(seen.method, "POST");
  EXPECT_EQ(seen.target, "/apis/batch/v1/namespaces/ns1/jobs");
  EXPECT_EQ(seen.headers["authorization"], "Bearer secret");
  EXPECT_THAT(seen.headers["content-type"], HasSubstr("application/json"));
  EXPECT_EQ(nlohmann::json::parse(seen.body), (nlohmann::json{{"a", 1}}));

  ASSERT_TRUE(client->Call(GetPod()).ok());
  EXPECT_EQ(seen.target, "/api/v1/namespaces/ns1/pods/p?x=1");
  EXPECT_EQ(seen.body, "");
}

TEST(RestClientTest, CreateRetriedOn500ThenSucceeds) {
  std::atomic<int> calls = 0;
  TestHttpServer server([&](const TestRequest&, TestConnection& c) {
    if (++calls <= 2) {
      c.Respond(500, KubeStatus(500, "InternalError", "etcd hiccup"));
    } else {
      c.Respond(201, R"({"kind":"Job"})");
    }
  });
  absl::StatusOr<nlohmann::json> reply =
      MakeClient(server.url())->Call(CreateJob());
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(calls, 3);
}

TEST(RestClientTest, CreateRetriedOn503) {
  std::atomic<int> calls = 0;
  TestHttpServer server([&](const TestRequest&, TestConnection& c) {
    c.Respond(++calls == 1 ? 503 : 201, "{}");
  });
  EXPECT_TRUE(MakeClient(server.url())->Call(CreateJob()).ok());
  EXPECT_EQ(calls, 2);
}

TEST(RestClientTest, HonoursRetryAfterOn429) {
  std::atomic<int> calls = 0;
  TestHttpServer server([&](const TestRequest&, TestConnection& c) {
    if (++calls == 1) {
      c.Respond(429, KubeStatus(429, "TooManyRequests", "slow down"),
                "Retry-After: 1\r\n");
    } else {
      c.Respond(200, "{}");
    }
  });
  const absl::Time start = absl::Now();
  EXPECT_TRUE(MakeClient(server.url())->Call(CreateJob()).ok());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(950));
  EXPECT_EQ(calls, 2);
}

TEST(RestClientTest, ExhaustedRetriesMapTo429And5xxCodes) {
  TestHttpServer throttled([](const TestRequest&, TestConnection& c) {
    c.Respond(429, KubeStatus(429, "TooManyRequests", "busy"));
  });
  RestClientOptions options = FastOptions();
  options.max_attempts = 3;
  absl::Status status =
      MakeClient(throttled.url(), options)->Call(GetPod()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
  EXPECT_EQ(throttled.requests(), 3);

  TestHttpServer failing([](const TestRequest&, TestConnection& c) {
    c.Respond(502, "<html>bad gateway</html>");
  });
  status = MakeClient(failing.url(), options)->Call(GetPod()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("bad gateway"));
  EXPECT_EQ(failing.requests(), 3);
}

TEST(RestClientTest, ForbiddenNamesVerbResourceAndNamespace) {
  TestHttpServer server([](const TestRequest&, TestConnection& c) {
    c.Respond(403, KubeStatus(403, "Forbidden",
                              "jobs.batch is forbidden: User \"x\" cannot "
                              "create resource \"jobs\""));
  });
  const absl::Status status =
      MakeClient(server.url())->Call(CreateJob()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(status.message(),
            "kubernetes denied \"create\" on \"jobs\" in namespace \"ns1\": "
            "jobs.batch is forbidden: User \"x\" cannot create resource "
            "\"jobs\"");
  EXPECT_EQ(server.requests(), 1);
}

TEST(RestClientTest, MapsClientErrorsWithoutRetrying) {
  struct Case {
    int http_code;
    std::string reason;
    absl::StatusCode expected;
    std::string message_part;
  };
  const Case cases[] = {
      {404, "NotFound", absl::StatusCode::kNotFound, "pods \"p\" not found"},
      {409, "AlreadyExists", absl::StatusCode::kAlreadyExists,
       "already exists"},
      {409, "Conflict", absl::StatusCode::kAborted, "modified"},
      {410, "Expired", absl::StatusCode::kFailedPrecondition, "Gone"},
      {422, "Invalid", absl::StatusCode::kInvalidArgument, "spec.x: Invalid"},
      {400, "BadRequest", absl::StatusCode::kInvalidArgument, "bad"},
  };
  for (const Case& c : cases) {
    const std::string message = c.message_part + " (server text)";
    TestHttpServer server([&](const TestRequest&, TestConnection& conn) {
      conn.Respond(c.http_code, KubeStatus(c.http_code, c.reason, message));
    });
    const absl::Status status =
        MakeClient(server.url())->Call(GetPod()).status();
    EXPECT_EQ(status.code(), c.expected) << status;
    EXPECT_THAT(std::string(status.message()), HasSubstr(message));
    EXPECT_EQ(HttpCodeOf(status), c.http_code);
    EXPECT_EQ(KubeReasonOf(status), c.reason);
    if (c.http_code == 410) {
      EXPECT_THAT(std::string(status.message()), HasSubstr("expired"));
    }
    EXPECT_EQ(server.requests(), 1) << c.http_code;
  }
}

TEST(RestClientTest, CreateNotRetriedAfterResetOnceSentButGetIs) {
  TestHttpServer server(
      [](const TestRequest&, TestConnection& c) { c.Reset(); });
  const absl::Status post =
      MakeClient(server.url())->Call(CreateJob()).status();
  EXPECT_EQ(post.code(), absl::StatusCode::kUnavailable) << post;
  EXPECT_THAT(std::string(post.message()), HasSubstr(server.url()));
  EXPECT_THAT(std::string(post.message()), HasSubstr("may or may not"));
  EXPECT_EQ(server.requests(), 1);

  const absl::Status get = MakeClient(server.url())->Call(GetPod()).status();
  EXPECT_EQ(get.code(), absl::StatusCode::kUnavailable) << get;
  EXPECT_EQ(server.requests(), 1 + 5);
}

TEST(RestClientTest, ConnectionRefusedIsRetriedEvenForCreate) {
  std::string url;
  {
    url = TestHttpServer([](const TestRequest&, TestConnection&) {}).url();
  }
  auto registry = std::make_shared<prometheus::Registry>();
  const absl::Status status = MakeClient(url, FastOptions(), nullptr, registry)
                                  ->Call(CreateJob())
                                  .status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr(url));
  EXPECT_THAT(std::string(status.message()), HasSubstr("after 5 attempts"));
  double errors = 0;
  for (const auto& family : registry->Collect()) {
    if (family.name != "codeexec_kube_requests_total") continue;
    for (const auto& metric : family.metric) errors += metric.counter.value;
  }
  EXPECT_EQ(errors, 5);
}

// Hands out "old" until invalidated, then "new".
class RotatingTokens : public TokenSource {
 public:
  absl::StatusOr<std::string> Token() override {
    return invalidations_ > 0 ? "new" : "old";
  }
  void Invalidate() override { ++invalidations_; }
  std::atomic<int> invalidations_ = 0;
};

TEST(RestClientTest, UnauthorizedInvalidatesTokenAndRetriesOnce) {
  TestHttpServer server([](const TestRequest& request, TestConnection& c) {
    if (request.headers.at("authorization") == "Bearer new") {
      c.Respond(200, R"({"ok":true})");
    } else {
      c.Respond(401, KubeStatus(401, "Unauthorized", "Unauthorized"));
    }
  });
  auto tokens = std::make_shared<RotatingTokens>();
  EXPECT_TRUE(
      MakeClient(server.url(), FastOptions(), tokens)->Call(CreateJob()).ok());
  EXPECT_EQ(tokens->invalidations_, 1);
  EXPECT_EQ(server.requests(), 2);

  TestHttpServer always_401([](const TestRequest&, TestConnection& c) {
    c.Respond(401, KubeStatus(401, "Unauthorized", "Unauthorized"));
  });
  const absl::Status status =
      MakeClient(always_401.url(), FastOptions(), tokens)
          ->Call(GetPod())
          .status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated) << status;
  EXPECT_EQ(always_401.requests(), 2);
}

TEST(RestClientTest, RateLimiterPacesRequests) {
  TestHttpServer server(
      [](const TestRequest&, TestConnection& c) { c.Respond(200, "{}"); });
  RestClientOptions options = FastOptions();
  options.qps = 10;
  options.burst = 1;
  auto client = MakeClient(server.url(), options);
  const absl::Time start = absl::Now();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(client->Call(GetPod()).ok());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(350));
}

TEST(RestClientTest, TimeoutAndCancelEndBlockedCallsPromptly) {
  absl::Notification release;
  TestHttpServer server([&](const TestRequest&, TestConnection& c) {
    release.WaitForNotificationWithTimeout(absl::Seconds(10));
    c.Close();
  });
  RestClientOptions options = FastOptions();
  options.request_timeout = absl::Milliseconds(300);
  options.max_attempts = 1;
  absl::Time start = absl::Now();
  absl::Status status =
      MakeClient(server.url(), options)->Call(GetPod()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("timed out"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));

  Cancellation cancel;
  std::thread canceller([&] {
    absl::SleepFor(absl::Milliseconds(200));
    cancel.Cancel("client went away");
  });
  start = absl::Now();
  status = MakeClient(server.url())->Call(GetPod(), &cancel).status();
  canceller.join();
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("client went away"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  release.Notify();
}

TEST(RestClientTest, CountsRequestsByVerbResourceAndCode) {
  TestHttpServer server([](const TestRequest& request, TestConnection& c) {
    c.Respond(request.method == "GET" ? 404 : 201, "{}");
  });
  auto registry = std::make_shared<prometheus::Registry>();
  auto client = MakeClient(server.url(), FastOptions(), nullptr, registry);
  ASSERT_TRUE(client->Call(CreateJob()).ok());
  ASSERT_FALSE(client->Call(GetPod()).ok());
  ASSERT_FALSE(client->Call(GetPod()).ok());
  std::map<std::string, double> counts;
  uint64_t observations = 0;
  for (const auto& family : registry->Collect()) {
    for (const auto& metric : family.metric) {
      std::string key = family.name;
      for (const auto& label : metric.label) {
        absl::StrAppend(&key, ",", label.name, "=", label.value);
      }
      if (family.name == "codeexec_kube_requests_total") {
        counts[key] = metric.counter.value;
      } else if (family.name == "codeexec_kube_request_duration_seconds") {
        observations += metric.histogram.sample_count;
      }
    }
  }
  EXPECT_EQ(
      counts["codeexec_kube_requests_total,code=201,resource=jobs,verb=create"],
      1);
  EXPECT_EQ(
      counts["codeexec_kube_requests_total,code=404,resource=pods,verb=get"],
      2);
  EXPECT_EQ(observations, 3u);
}

TEST(RestClientTest, RejectsBadRequestsWithoutSending) {
  TestHttpServer server(
      [](const TestRequest&, TestConnection& c) { c.Respond(200, "{}"); });
  auto client = MakeClient(server.url());
  KubeRequest bad_path = GetPod();
  bad_path.path = "/api/v1/pods?labelSelector=a b";
  EXPECT_EQ(client->Call(bad_path).status().code(),
            absl::StatusCode::kInvalidArgument);
  KubeRequest bad_verb = GetPod();
  bad_verb.verb = "GET /x HTTP/1.1\r\n";
  EXPECT_EQ(client->Call(bad_verb).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(server.requests(), 0);
}

TEST(RestClientTest, RejectsUnusableConnections) {
  ClusterConnection connection;
  connection.server = "ftp://x";
  EXPECT_EQ(RestClient::Create(connection, {}, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  connection.server = "https://127.0.0.1:1";
  connection.ca_pem = "not a pem";
  const absl::Status status =
      RestClient::Create(connection, {}, nullptr).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("CA certificate"));
}

}  // namespace
}  // namespace codeexec::kube
