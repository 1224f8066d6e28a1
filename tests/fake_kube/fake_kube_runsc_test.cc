// The runsc kubelet: pods' containers really run under gVisor. Skipped
// unless root with runsc installed.
#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/local/fs_util.h"
#include "tests/fake_kube/fake_kube_apiserver.h"
#include "tests/fake_kube/fake_kube_attach_client.h"
#include "tests/fake_kube/fake_kube_test_client.h"

namespace codeexec::fake_kube {
namespace {

using json = nlohmann::json;
using ::codeexec::fake_kube::testing::ConfigMapBody;
using ::codeexec::fake_kube::testing::JobBody;
using ::codeexec::fake_kube::testing::JobSpec;
using ::codeexec::fake_kube::testing::kConfigMaps;
using ::codeexec::fake_kube::testing::kJobs;
using ::codeexec::fake_kube::testing::kPods;
using ::codeexec::fake_kube::testing::TestClient;
using ::codeexec::fake_kube::testing::WaitUntil;
using ::testing::HasSubstr;

// Processes whose command line mentions `text`.
int ProcessesMentioning(const std::string& text) {
  int count = 0;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return -1;
  while (dirent* entry = readdir(proc)) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
    std::ifstream in(absl::StrCat("/proc/", entry->d_name, "/cmdline"));
    std::stringstream cmdline;
    cmdline << in.rdbuf();
    if (absl::StrContains(cmdline.str(), text)) ++count;
  }
  closedir(proc);
  return count;
}

class FakeKubeRunscTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0 || access(kDefaultRunscPath, X_OK) != 0) {
      GTEST_SKIP() << "needs root and runsc";
    }
    char pattern[] = "/tmp/fake-kubelet-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    state_dir_ = pattern;
    FakeKubeOptions options;
    options.kubelet.mode = KubeletMode::kRunsc;
    options.kubelet.state_dir = state_dir_;
    auto server = FakeKubeApiServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    client_ = std::make_unique<TestClient>(server_->url());
  }
  void TearDown() override {
    if (server_ == nullptr) return;
    client_->Send("DELETE",
                  absl::StrCat(kJobs, "?propagationPolicy=Background"), "");
    client_->Send("DELETE", kConfigMaps, "");
    EXPECT_TRUE(WaitUntil([&] { return server_->HoldsNoObjects("ns1"); }));
    EXPECT_EQ(server_->RunningContainers(), 0);
    server_->Stop();
    EXPECT_EQ(ProcessesMentioning(state_dir_), 0);
    (void)RemoveTree(state_dir_);
  }

  // Waits for the Job's pod to reach `phase`; returns the pod.
  json WaitForPodPhase(const std::string& job, const std::string& phase,
                       absl::Duration timeout = absl::Seconds(30)) {
    json pod;
    EXPECT_TRUE(WaitUntil(
        [&] {
          auto names = server_->ObjectNames("pods", "ns1", "job-name=" + job);
          if (names.empty()) return false;
          pod = server_->GetObject("pods", "ns1", names[0]).value_or(json());
          return pod["status"].value("phase", "") == phase;
        },
        timeout))
        << pod.dump(2);
    return pod;
  }

  std::string state_dir_;
  std::unique_ptr<FakeKubeApiServer> server_;
  std::unique_ptr<TestClient> client_;
};

TEST_F(FakeKubeRunscTest, RunsThePodWithItsVolumesUserAndEnv) {
  const std::string program =
      "import os\n"
      "print('hi')\n"
      "print(open('/code/input.txt').read())\n"
      "print('uid', os.getuid(), os.getgid(), 'cwd', os.getcwd())\n"
      "open('/workspace/out.txt', 'w').write('x')\n"
      "try:\n"
      "    open('/code/new', 'w')\n"
      "except OSError as e:\n"
      "    print('code is read-only', e.errno)\n"
      "print('entries', sorted(os.listdir('/code')))\n"
      "print('host', os.environ['HOSTNAME'], os.environ['GREETING'])\n";
  ASSERT_EQ(client_
                ->Post(kConfigMaps,
                       ConfigMapBody("code1", {}, {{"main.py", program}},
                                     {{"input.txt",
                                       absl::Base64Escape("from-configmap")}}))
                .code,
            201);
  JobSpec spec{.name = "hello",
               .command = {"python3", "-u", "/code/main.py"},
               .config_map = "code1",
               .workspace = true,
               .working_dir = "/workspace"};
  json body = JobBody(spec);
  body["spec"]["template"]["spec"]["containers"][0]["env"] = {
      {{"name", "GREETING"}, {"value", "hello"}}};
  const absl::Time created = absl::Now();
  ASSERT_EQ(client_->Post(kJobs, body).code, 201);
  json pod = WaitForPodPhase("hello", "Succeeded");
  const absl::Duration create_to_succeeded = absl::Now() - created;
  std::cout << "[ measure ] runsc pod create -> Succeeded: "
            << absl::FormatDuration(create_to_succeeded) << "\n";
  const std::string name = pod["metadata"]["name"];
  auto log =
      client_->Get(absl::StrCat(kPods, "/", name, "/log?container=main"));
  EXPECT_EQ(log.code, 200);
  EXPECT_THAT(log.text, HasSubstr("hi\nfrom-configmap\n"));
  EXPECT_THAT(log.text, HasSubstr("uid 1001 1001 cwd /workspace"));
  // gVisor says EACCES where Linux says EROFS.
  EXPECT_THAT(log.text, ::testing::ContainsRegex("code is read-only (13|30)"));
  EXPECT_THAT(log.text, HasSubstr("'..data'"));  // the kubelet's layout
  EXPECT_THAT(log.text, HasSubstr("'input.txt', 'main.py'"));
  EXPECT_THAT(log.text, HasSubstr(absl::StrCat("host ", name, " hello")));
  const json& terminated =
      pod["status"]["containerStatuses"][0]["state"]["terminated"];
  EXPECT_EQ(terminated["exitCode"], 0);
  EXPECT_EQ(terminated["reason"], "Completed");
  EXPECT_TRUE(WaitUntil([&] {
    return server_->GetObject("jobs", "ns1", "hello")
        .value()["status"]
        .contains("completionTime");
  }));
}

TEST_F(FakeKubeRunscTest, FollowStreamsOutputWhileTheProgramRuns) {
  JobSpec spec{.name = "follow",
               .command = {"python3", "-u", "-c",
                           "import time\nprint('first')\ntime.sleep(1)\n"
                           "print('second')"}};
  ASSERT_EQ(client_->Post(kJobs, JobBody(spec)).code, 201);
  json pod = WaitForPodPhase("follow", "Running");
  auto log = client_->Stream(
      absl::StrCat(kPods, "/", pod["metadata"]["name"].get<std::string>(),
                   "/log?follow=true&container=main"));
  ASSERT_TRUE(log->WaitForEnd(absl::Seconds(30)));
  auto lines = log->lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].text, "first");
  EXPECT_EQ(lines[1].text, "second");
  EXPECT_GE(lines[1].arrived - lines[0].arrived, absl::Milliseconds(800));
  EXPECT_EQ(log->error(), "");
}

TEST_F(FakeKubeRunscTest, ConcurrentPodsKeepTheirOwnOutput) {
  constexpr int kPods = 4;
  const absl::Time start = absl::Now();
  for (int i = 0; i < kPods; ++i) {
    ASSERT_EQ(
        client_
            ->Post(kJobs, JobBody({.name = absl::StrCat("p", i),
                                   .command = {"sh", "-c", "echo $HOSTNAME"},
                                   .memory_limit = "128Mi"}))
            .code,
        201);
  }
  for (int i = 0; i < kPods; ++i) {
    json pod = WaitForPodPhase(absl::StrCat("p", i), "Succeeded");
    const std::string name = pod["metadata"]["name"];
    EXPECT_EQ(server_->PodLogContents("ns1", name), name + "\n");
  }
  std::cout << "[ measure ] " << kPods << " concurrent runsc pods: "
            << absl::FormatDuration(absl::Now() - start) << "\n";
}

TEST_F(FakeKubeRunscTest, MemoryLimitOomKills) {
  JobSpec spec{.name = "oom",
               .command = {"python3", "-c",
                           "b = bytearray(1 << 30)\n"
                           "for i in range(0, len(b), 4096): b[i] = 1\n"},
               .memory_limit = "64Mi"};
  ASSERT_EQ(client_->Post(kJobs, JobBody(spec)).code, 201);
  json pod = WaitForPodPhase("oom", "Failed", absl::Seconds(60));
  const json& terminated =
      pod["status"]["containerStatuses"][0]["state"]["terminated"];
  EXPECT_EQ(terminated["reason"], "OOMKilled") << pod.dump(2);
  EXPECT_EQ(terminated["exitCode"], 137);
  EXPECT_TRUE(WaitUntil([&] {
    json job = server_->GetObject("jobs", "ns1", "oom").value();
    return job["status"].contains("conditions") &&
           job["status"]["conditions"].back()["reason"] ==
               "BackoffLimitExceeded";
  }));
}

TEST_F(FakeKubeRunscTest, ActiveDeadlineKillsThePod) {
  auto watch = client_->Stream(
      absl::StrCat(kPods, "?watch=1&labelSelector=job-name%3Dslow"));
  JobSpec spec{
      .name = "slow", .command = {"sleep", "60"}, .active_deadline_seconds = 2};
  ASSERT_EQ(client_->Post(kJobs, JobBody(spec)).code, 201);
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto events = watch->JsonLines();
        return !events.empty() && events.back()["type"] == "DELETED";
      },
      absl::Seconds(30)));
  bool saw_deadline = false;
  for (const json& event : watch->JsonLines()) {
    const json& status = event["object"]["status"];
    if (status.value("reason", "") == "DeadlineExceeded") {
      saw_deadline = true;
      EXPECT_EQ(status["phase"], "Failed");
      EXPECT_EQ(
          status["containerStatuses"][0]["state"]["terminated"]["exitCode"],
          137);
    }
  }
  EXPECT_TRUE(saw_deadline);
  json job = server_->GetObject("jobs", "ns1", "slow").value();
  EXPECT_EQ(job["status"]["conditions"].back()["reason"], "DeadlineExceeded");
  EXPECT_EQ(server_->RunningContainers(), 0);
  EXPECT_EQ(ProcessesMentioning(state_dir_), 0);
}

TEST_F(FakeKubeRunscTest, BackgroundDeleteRemovesPodAndSandbox) {
  JobSpec spec{.name = "victim", .command = {"sleep", "60"}};
  ASSERT_EQ(client_->Post(kJobs, JobBody(spec)).code, 201);
  json pod = WaitForPodPhase("victim", "Running");
  ASSERT_TRUE(WaitUntil([&] { return ProcessesMentioning(state_dir_) > 0; }));
  const std::string cgroup =
      absl::StrCat("/sys/fs/cgroup/memory/code-executor-fake-kubelet/",
                   pod["metadata"]["uid"].get<std::string>());
  struct stat info;
  EXPECT_EQ(stat(cgroup.c_str(), &info), 0);
  const absl::Time start = absl::Now();
  ASSERT_EQ(client_
                ->Delete(absl::StrCat(kJobs, "/victim"),
                         {{"propagationPolicy", "Background"}})
                .code,
            200);
  EXPECT_TRUE(WaitUntil([&] { return server_->HoldsNoObjects("ns1"); }));
  std::cout << "[ measure ] running pod delete -> gone: "
            << absl::FormatDuration(absl::Now() - start) << "\n";
  EXPECT_EQ(server_->RunningContainers(), 0);
  EXPECT_EQ(ProcessesMentioning(state_dir_), 0);
  EXPECT_NE(stat(cgroup.c_str(), &info), 0);
}

TEST_F(FakeKubeRunscTest, ExitCodeAndWaitingReasons) {
  ASSERT_EQ(
      client_
          ->Post(kJobs,
                 JobBody({.name = "exit3",
                          .command = {"sh", "-c", "echo err >&2; exit 3"}}))
          .code,
      201);
  json failed = WaitForPodPhase("exit3", "Failed");
  EXPECT_EQ(failed["status"]["containerStatuses"][0]["state"]["terminated"]
                  ["exitCode"],
            3);
  EXPECT_EQ(server_->PodLogContents("ns1", failed["metadata"]["name"]),
            "err\n");

  // A missing ConfigMap holds the pod in ContainerCreating until it exists.
  ASSERT_EQ(client_
                ->Post(kJobs, JobBody({.name = "later",
                                       .command = {"cat", "/code/f"},
                                       .config_map = "late"}))
                .code,
            201);
  json waiting = WaitForPodPhase("later", "Pending");
  ASSERT_TRUE(WaitUntil([&] {
    waiting =
        server_->GetObject("pods", "ns1", waiting["metadata"]["name"]).value();
    return waiting["status"]["containerStatuses"][0]["state"]["waiting"]
        .contains("message");
  }));
  EXPECT_THAT(
      waiting["status"]["containerStatuses"][0]["state"]["waiting"]["message"]
          .get<std::string>(),
      HasSubstr("configmap \"late\" not found"));
  ASSERT_EQ(
      client_->Post(kConfigMaps, ConfigMapBody("late", {}, {{"f", "ok"}})).code,
      201);
  json done = WaitForPodPhase("later", "Succeeded");
  EXPECT_EQ(server_->PodLogContents("ns1", done["metadata"]["name"]), "ok");

  // runAsNonRoot with uid 0 never starts.
  ASSERT_EQ(
      client_
          ->Post(
              kJobs,
              JobBody({.name = "root", .command = {"true"}, .run_as_user = 0}))
          .code,
      201);
  ASSERT_TRUE(WaitUntil([&] {
    auto names = server_->ObjectNames("pods", "ns1", "job-name=root");
    return !names.empty() &&
           server_->GetObject("pods", "ns1", names[0])
                   .value()["status"]
                   .dump()
                   .find("CreateContainerConfigError") != std::string::npos;
  }));
}

TEST_F(FakeKubeRunscTest, AttachCarriesStdinAndKeepsStdoutAndStderrApart) {
  // 3 MiB in: more than a pipe holds, so the kubelet must wait for the
  // container to read. Bytes that are not UTF-8 on purpose.
  std::string input;
  for (int i = 0; i < 3 << 20; ++i)
    input += static_cast<char>((i * 131) & 0xFF);
  json body =
      JobBody(JobSpec{.name = "attached",
                      .command = {"python3", "-c",
                                  "import hashlib, sys\n"
                                  "data = sys.stdin.buffer.read()\n"
                                  "sys.stderr.write('read %d\\n' % len(data))\n"
                                  "sys.stderr.flush()\n"
                                  "sys.stdout.buffer.write(data[::-1])\n"}});
  json& container = body["spec"]["template"]["spec"]["containers"][0];
  container["stdin"] = true;
  container["stdinOnce"] = true;
  ASSERT_EQ(client_->Post(kJobs, body).code, 201);
  const json pod = WaitForPodPhase("attached", "Running");
  const std::string name = pod["metadata"]["name"];
  auto session = testing::AttachSession::Open(server_->url(), "ns1", name);
  ASSERT_TRUE(session.ok()) << session.status();
  ASSERT_TRUE((*session)->Send(input).ok());
  // A second session sees what comes next; ending the first ends stdin
  // (stdinOnce): the program sees EOF.
  auto closer = testing::AttachSession::Open(server_->url(), "ns1", name);
  ASSERT_TRUE(closer.ok()) << closer.status();
  session->reset();
  ASSERT_TRUE((*closer)->WaitClosed(absl::Seconds(60)));
  EXPECT_TRUE((*closer)->closed_status().ok()) << (*closer)->closed_status();
  const std::string out = (*closer)->Channel(1);
  EXPECT_EQ(out.size(), input.size());
  EXPECT_TRUE(out == std::string(input.rbegin(), input.rend()));
  EXPECT_EQ((*closer)->Channel(2), absl::StrCat("read ", input.size(), "\n"));
  WaitForPodPhase("attached", "Succeeded");
}

}  // namespace
}  // namespace codeexec::fake_kube
