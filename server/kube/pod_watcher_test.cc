// PodWatcher against a raw HTTP server standing in for the API server: the
// first list, the watch that resumes from its resourceVersion, delivery to
// the subscribers of one execution, and the relist after a 410 ERROR event.
// cpprestsdk's U() macro (via rest_client_transport.h) breaks gtest templates.
#define _TURN_OFF_PLATFORM_STRING
#include "server/kube/pod_watcher.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/kube/client/rest_client_test_server.h"
#include "server/kube/client/rest_client_test_util.h"
#include "server/kube/objects/objects.h"

namespace codeexec::kube {
namespace {

using ::testing::HasSubstr;
using testing::TestConnection;
using testing::TestHttpServer;
using testing::TestRequest;

nlohmann::json Pod(const std::string& execution_id, const std::string& phase,
                   const std::string& resource_version) {
  return {{"metadata",
           {{"name", execution_id + "-pod"},
            {"resourceVersion", resource_version},
            {"labels", {{kExecutionIdLabel, execution_id}}}}},
          {"status", {{"phase", phase}}}};
}

std::string Event(const std::string& type, const nlohmann::json& object) {
  return nlohmann::json{{"type", type}, {"object", object}}.dump() + "\n";
}

// Answers lists with `list_pods` (resourceVersion "5", then "50" on a
// relist) and each watch with the next of `watch_bodies` (then an empty,
// long-held watch).
class FakePodApi {
 public:
  FakePodApi(std::vector<nlohmann::json> list_pods,
             std::vector<std::string> watch_bodies)
      : list_pods_(std::move(list_pods)),
        watch_bodies_(std::move(watch_bodies)),
        server_([this](const TestRequest& request, TestConnection& conn) {
          Handle(request, conn);
        }) {}

  std::unique_ptr<RestClient> Client() {
    return testing::MakeClient(server_.url());
  }

  std::vector<std::string> targets() {
    absl::MutexLock lock(&mu_);
    return targets_;
  }
  int lists() {
    absl::MutexLock lock(&mu_);
    return lists_;
  }

 private:
  void Handle(const TestRequest& request, TestConnection& conn) {
    std::string body;
    bool watch = absl::StrContains(request.target, "watch=1");
    {
      absl::MutexLock lock(&mu_);
      targets_.push_back(request.target);
      if (!watch) {
        ++lists_;
        nlohmann::json list = {
            {"metadata", {{"resourceVersion", lists_ == 1 ? "5" : "50"}}},
            {"items", list_pods_}};
        conn.Respond(200, list.dump());
        return;
      }
      if (next_watch_ < watch_bodies_.size()) {
        body = watch_bodies_[next_watch_++];
      }
    }
    conn.StartChunked();
    if (!body.empty()) {
      conn.WriteChunk(body);
      conn.EndChunked();
      return;
    }
    absl::SleepFor(absl::Milliseconds(300));  // an idle watch
    conn.EndChunked();
  }

  const std::vector<nlohmann::json> list_pods_;
  const std::vector<std::string> watch_bodies_;
  absl::Mutex mu_;
  std::vector<std::string> targets_;
  int lists_ = 0;
  size_t next_watch_ = 0;
  TestHttpServer server_;
};

// The phases seen by one subscriber.
struct Seen {
  absl::Mutex mu;
  std::vector<std::string> phases;
  PodWatcher::Callback Callback() {
    return [this](const PodState& state) {
      absl::MutexLock lock(&mu);
      phases.push_back(
          state.deleted
              ? "DELETED"
              : state.pod.value("/status/phase"_json_pointer, std::string()));
    };
  }
  bool WaitFor(size_t count) {
    absl::MutexLock lock(&mu);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      return phases.size() >= count;
    };
    return mu.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(10));
  }
  std::vector<std::string> Get() {
    absl::MutexLock lock(&mu);
    return phases;
  }
};

PodWatcherOptions Options() {
  return {.namespace_name = "ns",
          .label_selector = "code-executor.dev/replica=r1",
          .watch_timeout = absl::Seconds(7),
          .initial_backoff = absl::Milliseconds(10),
          .max_backoff = absl::Milliseconds(50)};
}

TEST(PodWatcherTest, ASubscriberGetsTheListedStateAtOnce) {
  FakePodApi api({Pod("ce-1", "Pending", "4")}, {});
  std::unique_ptr<RestClient> client = api.Client();
  PodWatcher watcher(*client, Options(), nullptr);
  ASSERT_TRUE(watcher.Start().ok());
  Seen seen;
  const int subscription = watcher.Subscribe("ce-1", seen.Callback());
  EXPECT_THAT(seen.Get(), ::testing::ElementsAre("Pending"));
  watcher.Unsubscribe(subscription);
  EXPECT_EQ(api.targets().front(),
            "/api/v1/namespaces/ns/pods?labelSelector=code-executor.dev%2F"
            "replica%3Dr1");
}

TEST(PodWatcherTest, WatchEventsReachOnlyTheirExecutionsSubscribers) {
  FakePodApi api(
      {}, {Event("ADDED", Pod("ce-2", "Pending", "6")) +
           Event("MODIFIED", Pod("ce-1", "Running", "7")) +
           Event("BOOKMARK", {{"metadata", {{"resourceVersion", "8"}}}}) +
           Event("DELETED", Pod("ce-1", "Running", "9"))});
  std::unique_ptr<RestClient> client = api.Client();
  PodWatcher watcher(*client, Options(), nullptr);
  Seen seen;
  const int subscription = watcher.Subscribe("ce-1", seen.Callback());
  ASSERT_TRUE(watcher.Start().ok());
  ASSERT_TRUE(seen.WaitFor(2));
  EXPECT_THAT(seen.Get(), ::testing::ElementsAre("Running", "DELETED"));
  watcher.Unsubscribe(subscription);
  for (int i = 0; i < 100 && api.targets().size() < 3; ++i) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  watcher.Stop();
  // The first watch resumes from the list's resourceVersion; the next one
  // from the last event's (the bookmark's version was overtaken).
  const std::vector<std::string> targets = api.targets();
  ASSERT_GE(targets.size(), 3u);
  EXPECT_THAT(targets[1], HasSubstr("watch=1&allowWatchBookmarks=true"));
  EXPECT_THAT(targets[1], HasSubstr("&resourceVersion=5&timeoutSeconds=7"));
  EXPECT_THAT(targets[2], HasSubstr("&resourceVersion=9&"));
}

TEST(PodWatcherTest, AnExpiredResourceVersionRelists) {
  FakePodApi api({Pod("ce-1", "Running", "4")},
                 {Event("ERROR", {{"kind", "Status"}, {"code", 410}})});
  std::unique_ptr<RestClient> client = api.Client();
  PodWatcher watcher(*client, Options(), nullptr);
  ASSERT_TRUE(watcher.Start().ok());
  for (int i = 0; i < 100 && api.targets().size() < 4; ++i) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  watcher.Stop();
  EXPECT_EQ(api.lists(), 2);
  const std::vector<std::string> targets = api.targets();
  ASSERT_GE(targets.size(), 4u);
  EXPECT_THAT(targets[3], HasSubstr("&resourceVersion=50&"));
}

TEST(PodWatcherTest, AnUnsubscribedCallbackIsNotCalledAgain) {
  FakePodApi api({Pod("ce-1", "Pending", "4")},
                 {Event("MODIFIED", Pod("ce-1", "Running", "6"))});
  std::unique_ptr<RestClient> client = api.Client();
  PodWatcher watcher(*client, Options(), nullptr);
  Seen seen;
  watcher.Unsubscribe(watcher.Subscribe("ce-1", seen.Callback()));
  ASSERT_TRUE(watcher.Start().ok());
  absl::SleepFor(absl::Milliseconds(200));
  watcher.Stop();
  EXPECT_TRUE(seen.Get().empty());
}

}  // namespace
}  // namespace codeexec::kube
