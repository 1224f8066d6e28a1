// Many executions at once against the fake (instant kubelet): everything is
// answered correctly, nothing is left, and the fake's own cost is printed.
#include <atomic>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/fake_kube/fake_kube_apiserver.h"
#include "tests/fake_kube/fake_kube_test_client.h"

namespace codeexec::fake_kube {
namespace {

using json = nlohmann::json;
using ::codeexec::fake_kube::testing::ConfigMapBody;
using ::codeexec::fake_kube::testing::JobBody;
using ::codeexec::fake_kube::testing::kConfigMaps;
using ::codeexec::fake_kube::testing::kJobs;
using ::codeexec::fake_kube::testing::kPods;
using ::codeexec::fake_kube::testing::TestClient;
using ::codeexec::fake_kube::testing::WaitUntil;

TEST(FakeKubeLoadTest, SixtyFourConcurrentExecutions) {
  FakeKubeOptions options;
  options.kubelet.instant_log = "@ce1 o aGk=\n@ce1 x 0\n";
  auto server = FakeKubeApiServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  FakeKubeApiServer& fake = **server;
  // One watch for all executions, as the backend keeps.
  TestClient watcher(fake.url());
  auto watch = watcher.Stream(
      absl::StrCat(kPods, "?watch=1&labelSelector=app%3Dload&resourceVersion=",
                   fake.resource_version()));
  ASSERT_TRUE(WaitUntil([&] { return fake.OpenWatches() == 1; }));

  constexpr int kWorkers = 64;
  constexpr int kPerWorker = 8;
  std::atomic<int> failures{0};
  const absl::Time start = absl::Now();
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      TestClient client(fake.url());
      for (int i = 0; i < kPerWorker; ++i) {
        const std::string name = absl::StrCat("ce-", w, "-", i);
        bool ok = client.Post(kConfigMaps,
                              ConfigMapBody(name, {{"app", "load"}},
                                            {{"main.py", "print('hi')"}}))
                          .code == 201 &&
                  client.Post(kJobs, JobBody({.name = name,
                                              .labels = {{"app", "load"}},
                                              .command = {"python3"},
                                              .config_map = name}))
                          .code == 201;
        std::string pod;
        ok = ok && WaitUntil([&] {
               auto pods = fake.ObjectNames("pods", "ns1", "job-name=" + name);
               if (pods.empty()) return false;
               pod = pods[0];
               auto object = fake.GetObject("pods", "ns1", pod);
               return object.has_value() &&
                      (*object)["status"].value("phase", "") == "Succeeded";
             });
        ok = ok &&
             client.Get(absl::StrCat(kPods, "/", pod, "/log?container=main"))
                     .text == "@ce1 o aGk=\n@ce1 x 0\n";
        ok = ok && client.Delete(absl::StrCat(kJobs, "/", name),
                                 {{"propagationPolicy", "Background"}})
                           .code == 200;
        ok = ok &&
             client.Delete(absl::StrCat(kConfigMaps, "/", name)).code == 200;
        if (!ok) ++failures;
      }
    });
  }
  for (std::thread& worker : workers) worker.join();
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(failures, 0);
  EXPECT_TRUE(WaitUntil([&] { return fake.HoldsNoObjects("ns1"); }));
  const int executions = kWorkers * kPerWorker;
  std::cout << "[ measure ] " << executions << " executions, " << kWorkers
            << " in flight: " << absl::FormatDuration(took) << " ("
            << executions / absl::ToDoubleSeconds(took)
            << " executions/s through the fake, instant kubelet)\n";
  EXPECT_EQ(fake.RequestCount("create", "jobs"), executions);
  EXPECT_EQ(fake.RequestCount("get", "pods/log"), executions);
  EXPECT_EQ(fake.WatchConnectionsOpened(), 1);
  // Every pod's ADDED ... DELETED reached the one watch.
  ASSERT_TRUE(WaitUntil([&] {
    int deleted = 0;
    for (const json& event : watch->JsonLines()) {
      deleted += event["type"] == "DELETED";
    }
    return deleted == executions;
  }));
}

}  // namespace
}  // namespace codeexec::fake_kube
