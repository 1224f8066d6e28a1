// RestClient::Stream against a raw HTTP server on loopback: incremental
// delivery, line splitting, early stop, cancellation while blocked, broken
// connections and errors before the body.
// cpprestsdk's U() macro (via rest_client_transport.h) breaks gtest templates.
#define _TURN_OFF_PLATFORM_STRING
#include <atomic>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/kube/client/rest_client.h"
#include "server/kube/client/rest_client_test_server.h"
#include "server/kube/client/rest_client_test_util.h"
#include "server/kube/client/rest_client_transport.h"

namespace codeexec::kube {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::TestConnection;
using testing::TestHttpServer;
using testing::TestRequest;

std::unique_ptr<RestClient> MakeClient(const std::string& server) {
  RestClientOptions options = testing::FastOptions();
  options.request_timeout = absl::Seconds(5);
  return testing::MakeClient(server, options);
}

KubeRequest Watch() {
  return {"GET", "/api/v1/namespaces/ns/pods?watch=true", std::nullopt, "pods",
          "watch"};
}

// Collects lines with their arrival times.
struct Lines {
  absl::Mutex mu;
  std::vector<std::string> lines;
  std::vector<absl::Time> times;
  std::function<bool(absl::string_view)> Collector(int stop_after = -1) {
    return [this, stop_after](absl::string_view line) {
      absl::MutexLock lock(&mu);
      lines.emplace_back(line);
      times.push_back(absl::Now());
      return stop_after < 0 || static_cast<int>(lines.size()) < stop_after;
    };
  }
};

TEST(RestClientStreamTest, DeliversEachLineAsItArrives) {
  std::atomic<int64_t> second_line_sent_ns = 0;
  TestHttpServer server([&](const TestRequest& request, TestConnection& c) {
    EXPECT_EQ(request.target, "/api/v1/namespaces/ns/pods?watch=true");
    c.StartChunked();
    c.WriteChunk("{\"type\":\"ADDED\"}\n");
    absl::SleepFor(absl::Milliseconds(500));
    second_line_sent_ns = absl::ToUnixNanos(absl::Now());
    c.WriteChunk("{\"type\":\"MOD");  // a line split across chunks
    c.WriteChunk("IFIED\"}\r\n\nlast-unterminated");
    c.EndChunked();
  });
  Lines lines;
  ASSERT_TRUE(
      MakeClient(server.url())->Stream(Watch(), lines.Collector()).ok());
  EXPECT_THAT(lines.lines,
              ElementsAre("{\"type\":\"ADDED\"}", "{\"type\":\"MODIFIED\"}", "",
                          "last-unterminated"));
  EXPECT_LT(absl::ToUnixNanos(lines.times[0]), second_line_sent_ns.load());
}

TEST(RestClientStreamTest, ReadsContentLengthAndUntilCloseBodies) {
  TestHttpServer sized(
      [](const TestRequest&, TestConnection& c) { c.Respond(200, "a\nb\n"); });
  Lines sized_lines;
  ASSERT_TRUE(
      MakeClient(sized.url())->Stream(Watch(), sized_lines.Collector()).ok());
  EXPECT_THAT(sized_lines.lines, ElementsAre("a", "b"));

  TestHttpServer until_close([](const TestRequest&, TestConnection& c) {
    c.Write("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nx\ny");
    c.Close();
  });
  Lines close_lines;
  ASSERT_TRUE(MakeClient(until_close.url())
                  ->Stream(Watch(), close_lines.Collector())
                  .ok());
  EXPECT_THAT(close_lines.lines, ElementsAre("x", "y"));
}

TEST(RestClientStreamTest, StopsWhenCallbackReturnsFalse) {
  absl::Notification server_saw_close;
  TestHttpServer server([&](const TestRequest&, TestConnection& c) {
    c.StartChunked();
    for (int i = 0; i < 200; ++i) {
      if (!c.WriteChunk(absl::StrCat("line ", i, "\n"))) {
        server_saw_close.Notify();
        return c.Close();
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    c.EndChunked();
  });
  Lines lines;
  ASSERT_TRUE(
      MakeClient(server.url())->Stream(Watch(), lines.Collector(2)).ok());
  EXPECT_THAT(lines.lines, ElementsAre("line 0", "line 1"));
  EXPECT_TRUE(
      server_saw_close.WaitForNotificationWithTimeout(absl::Seconds(3)));
}

TEST(RestClientStreamTest, CancelInterruptsABlockedRead) {
  absl::Notification release;
  TestHttpServer server([&](const TestRequest&, TestConnection& c) {
    c.StartChunked();
    c.WriteChunk("first\n");
    release.WaitForNotificationWithTimeout(absl::Seconds(20));
    c.Close();
  });
  Cancellation cancel;
  absl::Time cancelled_at;
  std::thread canceller([&] {
    absl::SleepFor(absl::Milliseconds(300));
    cancelled_at = absl::Now();
    cancel.Cancel("shutting down");
  });
  Lines lines;
  const absl::Status status =
      MakeClient(server.url())->Stream(Watch(), lines.Collector(), &cancel);
  const absl::Time returned_at = absl::Now();
  canceller.join();
  release.Notify();
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("shutting down"));
  EXPECT_THAT(lines.lines, ElementsAre("first"));
  EXPECT_LT(returned_at - cancelled_at, absl::Milliseconds(300));
}

TEST(RestClientStreamTest, ConnectionLostMidBodyIsAnError) {
  for (const bool reset : {true, false}) {
    TestHttpServer server([&](const TestRequest&, TestConnection& c) {
      c.StartChunked();
      c.WriteChunk("one\n");
      absl::SleepFor(absl::Milliseconds(100));
      reset ? c.Reset() : c.Close();  // no terminating chunk either way
    });
    Lines lines;
    const absl::Status status =
        MakeClient(server.url())->Stream(Watch(), lines.Collector());
    EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
    EXPECT_THAT(std::string(status.message()), HasSubstr("broke"));
    EXPECT_THAT(lines.lines, ElementsAre("one"));
  }
}

TEST(RestClientStreamTest, ErrorsBeforeTheBodyAreMappedAndRetried) {
  std::atomic<int> calls = 0;
  TestHttpServer flaky([&](const TestRequest&, TestConnection& c) {
    if (++calls == 1) return c.Respond(503, "{}");
    c.StartChunked();
    c.WriteChunk("ok\n");
    c.EndChunked();
  });
  Lines lines;
  ASSERT_TRUE(MakeClient(flaky.url())->Stream(Watch(), lines.Collector()).ok());
  EXPECT_THAT(lines.lines, ElementsAre("ok"));
  EXPECT_EQ(calls, 2);

  TestHttpServer gone([](const TestRequest&, TestConnection& c) {
    c.Respond(410, R"json({"kind":"Status","reason":"Expired","code":410,)json"
                   R"json("message":"too old resource version: 1 (5)"})json");
  });
  const absl::Status status =
      MakeClient(gone.url())->Stream(Watch(), lines.Collector());
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("Gone"));
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("too old resource version"));
}

TEST(LineAssemblerTest, SplitsBoundsAndFinishes) {
  rest_internal::LineAssembler assembler(/*max_line_bytes=*/8);
  Lines lines;
  bool too_long = false;
  EXPECT_TRUE(assembler.Feed("ab", lines.Collector(), &too_long));
  EXPECT_TRUE(assembler.Feed("c\r\n\nd\re\nf", lines.Collector(), &too_long));
  assembler.Finish(lines.Collector());
  EXPECT_THAT(lines.lines, ElementsAre("abc", "", "d\re", "f"));
  EXPECT_FALSE(assembler.Feed("123456789", lines.Collector(), &too_long));
  EXPECT_TRUE(too_long);
}

}  // namespace
}  // namespace codeexec::kube
