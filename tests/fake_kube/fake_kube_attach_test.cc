// pods/attach of the fake apiserver, driven by the backend's own WebSocket
// client (ContainerStream): the channel protocol, stdin/stdinOnce, the
// instant kubelet's waiting launcher, refusals and the injected mid-stream
// drop. The runsc kubelet's attach is in fake_kube_runsc_test.cc.
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/launcher/request_format.h"
#include "tests/fake_kube/fake_kube_apiserver.h"
#include "tests/fake_kube/fake_kube_attach_client.h"
#include "tests/fake_kube/fake_kube_test_client.h"

namespace codeexec::fake_kube {
namespace {

using json = nlohmann::json;
using ::codeexec::fake_kube::testing::AttachSession;
using ::codeexec::fake_kube::testing::JobBody;
using ::codeexec::fake_kube::testing::JobSpec;
using ::codeexec::fake_kube::testing::kJobs;
using ::codeexec::fake_kube::testing::TestClient;
using ::codeexec::fake_kube::testing::WaitUntil;
using ::testing::HasSubstr;

// A launcher request's bytes: the header with `body`'s length, then `body`.
std::string LauncherRequest(const std::string& body) {
  std::string request = CE_REQ_MAGIC;
  for (uint32_t value : {CE_REQ_VERSION, static_cast<uint32_t>(body.size())}) {
    for (int shift = 0; shift < 32; shift += 8) {
      request += static_cast<char>((value >> shift) & 0xFF);
    }
  }
  return request + body;
}

class FakeKubeAttachTest : public ::testing::Test {
 protected:
  void StartServer(KubeletOptions kubelet) {
    FakeKubeOptions options;
    options.kubelet = std::move(kubelet);
    auto server = FakeKubeApiServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    client_ = std::make_unique<TestClient>(server_->url());
  }
  void SetUp() override {
    KubeletOptions kubelet;
    kubelet.instant_log = "@ce1 o 6\nhello\n";
    kubelet.instant_final_log = "@ce1 x 0\n";
    StartServer(kubelet);
  }

  // Creates a Job whose container waits on stdin (as a warm Job's does) and
  // returns its pod's name once it runs.
  std::string StartWaitingPod(const std::string& job) {
    json body = JobBody(JobSpec{.name = job, .command = {"launcher"}});
    json& container = body["spec"]["template"]["spec"]["containers"][0];
    container["stdin"] = true;
    container["stdinOnce"] = true;
    EXPECT_EQ(client_->Post(kJobs, body).code, 201);
    std::string pod;
    EXPECT_TRUE(WaitUntil([&] {
      auto names = server_->ObjectNames("pods", "ns1", "job-name=" + job);
      if (names.empty()) return false;
      pod = names[0];
      auto object = server_->GetObject("pods", "ns1", pod);
      return object.has_value() &&
             object->at("status").value("phase", "") == "Running";
    }));
    return pod;
  }
  std::string PodPhase(const std::string& pod) {
    auto object = server_->GetObject("pods", "ns1", pod);
    return object.has_value() ? object->at("status").value("phase", "") : "";
  }
  json TerminatedState(const std::string& pod) {
    auto object = server_->GetObject("pods", "ns1", pod);
    if (!object.has_value()) return nullptr;
    return object->at("status")["containerStatuses"][0]["state"].value(
        "terminated", json());
  }

  std::unique_ptr<FakeKubeApiServer> server_;
  std::unique_ptr<TestClient> client_;
};

TEST_F(FakeKubeAttachTest, ARequestOnStdinRunsTheWaitingContainer) {
  const std::string pod = StartWaitingPod("warm1");
  auto session = AttachSession::Open(server_->url(), "ns1", pod);
  ASSERT_TRUE(session.ok()) << session.status();
  // Primers first, then the request in two writes: nothing runs before the
  // request is whole.
  ASSERT_TRUE((*session)->Send(std::string(2, CE_REQ_PRIMER)).ok());
  const std::string request = LauncherRequest(std::string(5000, 'r'));
  ASSERT_TRUE((*session)->Send(request.substr(0, 100)).ok());
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_EQ(PodPhase(pod), "Running");
  EXPECT_EQ((*session)->Channel(1), "");
  ASSERT_TRUE((*session)->Send(request.substr(100)).ok());

  ASSERT_TRUE((*session)->WaitClosed(absl::Seconds(10)));
  EXPECT_TRUE((*session)->closed_status().ok()) << (*session)->closed_status();
  EXPECT_EQ((*session)->Channel(1), "@ce1 o 6\nhello\n@ce1 x 0\n");
  EXPECT_EQ((*session)->Channel(2), "");
  EXPECT_EQ(json::parse((*session)->Channel(3)),
            json({{"metadata", json::object()}, {"status", "Success"}}));
  EXPECT_TRUE(WaitUntil([&] { return PodPhase(pod) == "Succeeded"; }));
  EXPECT_EQ(server_->RequestCount("get", "pods/attach"), 1);
  const auto log = server_->RequestLog();
  ASSERT_FALSE(log.empty());
  EXPECT_EQ(log.back().resource, "pods/attach");
  EXPECT_EQ(log.back().code, 101);
}

TEST_F(FakeKubeAttachTest, APrestartIsNotTheRequestToRun) {
  const std::string pod = StartWaitingPod("prestarted");
  auto session = AttachSession::Open(server_->url(), "ns1", pod);
  ASSERT_TRUE(session.ok()) << session.status();
  // A PRESTART record (tag 12) in a request of its own: the launcher only
  // starts an interpreter for it.
  std::string record;
  for (uint32_t value : {uint32_t{CE_TAG_PRESTART}, uint32_t{7}, uint32_t{1}}) {
    for (int shift = 0; shift < 32; shift += 8) {
      record += static_cast<char>((value >> shift) & 0xFF);
    }
  }
  record += "p3\0";  // u32 k = 1 above, then the starter's argv
  ASSERT_TRUE((*session)->Send("\n" + LauncherRequest(record)).ok());
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_EQ(PodPhase(pod), "Running");
  EXPECT_EQ((*session)->Channel(1), "");
  ASSERT_TRUE((*session)->Send(LauncherRequest("run")).ok());
  ASSERT_TRUE((*session)->WaitClosed(absl::Seconds(10)));
  EXPECT_EQ((*session)->Channel(1), "@ce1 o 6\nhello\n@ce1 x 0\n");
}

TEST_F(FakeKubeAttachTest, TheRunTimeCountsFromTheRequest) {
  KubeletOptions kubelet;
  kubelet.instant_log = "@ce1 o YQo=\n";
  kubelet.instant_final_log = "@ce1 x 0\n";
  kubelet.instant_run_time = absl::Milliseconds(500);
  StartServer(kubelet);
  const std::string pod = StartWaitingPod("slow");
  absl::SleepFor(absl::Milliseconds(600));  // idle longer than the run time
  auto session = AttachSession::Open(server_->url(), "ns1", pod);
  ASSERT_TRUE(session.ok()) << session.status();
  const absl::Time sent = absl::Now();
  ASSERT_TRUE((*session)->Send(LauncherRequest("x")).ok());
  ASSERT_TRUE((*session)->WaitForBytes(1, 12, absl::Seconds(10)));
  EXPECT_EQ(PodPhase(pod), "Running");  // the first part, not the end
  ASSERT_TRUE((*session)->WaitClosed(absl::Seconds(10)));
  EXPECT_GE(absl::Now() - sent, absl::Milliseconds(500));
  EXPECT_EQ((*session)->Channel(1), "@ce1 o YQo=\n@ce1 x 0\n");
}

TEST_F(FakeKubeAttachTest, StdinEndingBeforeAWholeRequestIsABadRequest) {
  const std::string pod = StartWaitingPod("warm2");
  {
    auto session = AttachSession::Open(server_->url(), "ns1", pod);
    ASSERT_TRUE(session.ok()) << session.status();
    ASSERT_TRUE((*session)->Send(LauncherRequest("abc").substr(0, 13)).ok());
    // The client goes: with stdinOnce, the container's stdin ends.
  }
  EXPECT_TRUE(WaitUntil([&] { return PodPhase(pod) == "Failed"; }));
  const json terminated = TerminatedState(pod);
  EXPECT_EQ(terminated.value("exitCode", -1), CE_EXIT_BAD_REQUEST)
      << terminated.dump();
  EXPECT_THAT(server_->PodLogContents("ns1", pod),
              HasSubstr("truncated header"));
  // A second session finds the container gone.
  auto again = AttachSession::Open(server_->url(), "ns1", pod);
  EXPECT_FALSE(again.ok());
}

TEST_F(FakeKubeAttachTest, AnInjectedDropCutsTheStreamMidRun) {
  const std::string pod = StartWaitingPod("warm3");
  server_->faults().DropNextAttachStreams(1, /*after_output_bytes=*/7);
  auto session = AttachSession::Open(server_->url(), "ns1", pod);
  ASSERT_TRUE(session.ok()) << session.status();
  ASSERT_TRUE((*session)->Send(LauncherRequest("x")).ok());
  ASSERT_TRUE((*session)->WaitClosed(absl::Seconds(10)));
  EXPECT_FALSE((*session)->closed_status().ok());
  EXPECT_EQ((*session)->Channel(1), "@ce1 o ");  // exactly 7 bytes
  EXPECT_EQ((*session)->Channel(3), "");         // no status
  // Only the next session was dropped.
  const std::string other = StartWaitingPod("warm4");
  auto next = AttachSession::Open(server_->url(), "ns1", other);
  ASSERT_TRUE(next.ok()) << next.status();
  ASSERT_TRUE((*next)->Send(LauncherRequest("x")).ok());
  ASSERT_TRUE((*next)->WaitClosed(absl::Seconds(10)));
  EXPECT_TRUE((*next)->closed_status().ok()) << (*next)->closed_status();
  EXPECT_EQ((*next)->Channel(1), "@ce1 o 6\nhello\n@ce1 x 0\n");
}

TEST_F(FakeKubeAttachTest, RefusedUpgradesSayWhy) {
  const std::string pod = StartWaitingPod("warm5");
  server_->FailNext({.verb = "get", .resource = "pods/attach"}, 1, 500,
                    "attach refused on purpose");
  auto refused = AttachSession::Open(server_->url(), "ns1", pod);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(absl::IsUnavailable(refused.status())) << refused.status();

  server_->Forbid("create", "pods/attach");  // the WebSocket GET needs both
  auto forbidden = AttachSession::Open(server_->url(), "ns1", pod);
  ASSERT_FALSE(forbidden.ok());
  // (cpprestsdk does not say which status refused a handshake.)
  EXPECT_TRUE(absl::IsUnavailable(forbidden.status())) << forbidden.status();
  EXPECT_EQ(server_->RequestLog().back().code, 403);
  server_->ClearFaults();

  // A plain GET is no attach.
  auto plain = client_->Get(
      absl::StrCat("/api/v1/namespaces/ns1/pods/", pod, "/attach"));
  EXPECT_EQ(plain.code, 400);
  EXPECT_THAT(plain.text, HasSubstr("Upgrade request required"));
  auto missing = AttachSession::Open(server_->url(), "ns1", "no-such-pod");
  EXPECT_FALSE(missing.ok());

  // Still attachable after all that.
  auto session = AttachSession::Open(server_->url(), "ns1", pod);
  ASSERT_TRUE(session.ok()) << session.status();
  ASSERT_TRUE((*session)->Send(LauncherRequest("")).ok());
  ASSERT_TRUE((*session)->WaitClosed(absl::Seconds(10)));
  EXPECT_EQ((*session)->Channel(1), "@ce1 o 6\nhello\n@ce1 x 0\n");
}

}  // namespace
}  // namespace codeexec::fake_kube
