// ContainerStream against the real API server and kubelet (containerd and
// gVisor's shim): a warm sandbox Job (BuildWarmJob, launcher waiting on
// stdin) gets one request over pods/attach and streams the launcher's
// frames back byte for byte (the status channel only says the session
// ended); each attach verb the warm pool asks for is needed.
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/config/server_config.h"
#include "server/kube/client/cluster_connection.h"
#include "server/kube/client/container_stream.h"
#include "server/kube/objects/warm_objects.h"
#include "server/kube/permission_check.h"
#include "server/launcher/frame_parser.h"
#include "server/launcher/launcher_bundle.h"
#include "server/launcher/launcher_output.h"
#include "server/launcher/launcher_source.h"
#include "tests/e2e/cluster_access.h"
#include "tests/integrity_checks.h"

namespace codeexec::e2e {
namespace {

using kube::ContainerStream;

// Collects what arrives per channel, and the end.
class Received {
 public:
  ContainerStream::Handlers Handlers() {
    ContainerStream::Handlers handlers;
    handlers.on_data = [this](int channel, std::string data) {
      absl::MutexLock lock(&mu_);
      channels_[channel] += data;
    };
    handlers.on_closed = [this](absl::Status status) {
      {
        absl::MutexLock lock(&mu_);
        ended_ = status;
      }
      closed_.Notify();
    };
    return handlers;
  }
  bool WaitClosed() {
    return closed_.WaitForNotificationWithTimeout(absl::Seconds(120));
  }
  std::string Channel(int channel) {
    absl::MutexLock lock(&mu_);
    return channels_[channel];
  }
  absl::Status ended() {
    absl::MutexLock lock(&mu_);
    return ended_;
  }

 private:
  absl::Mutex mu_;
  std::map<int, std::string> channels_;
  absl::Status ended_ = absl::UnknownError("open");
  absl::Notification closed_;
};

class RecordingSink : public OutputSink {
 public:
  void OnOutput(OutputStream stream, std::string_view data) override {
    (stream == OutputStream::kStdout ? out : err).append(data);
  }
  std::string out, err;
};

class E2eContainerStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<Cluster> cluster = Cluster::FromEnvFile();
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::make_unique<Cluster>(*std::move(cluster));
    const ServerConfig defaults = DefaultServerConfig();
    options_ = defaults.kubernetes;
    options_.namespace_name = cluster_->ns();
    // A Job of its own per test (ctest runs each test in a process of its
    // own): the last test's pod may still be terminating.
    absl::BitGen random;
    shape_.execution_id = absl::StrFormat(
        "cw-%012x", absl::Uniform<uint64_t>(random) & 0xffffffffffffULL);
    shape_.language =
        defaults.validation.languages.at(defaults.validation.default_language);
    shape_.resources = defaults.validation.limits.default_resources;
    shape_.timeout = absl::Seconds(60);
    context_ = {&options_, "e2e-container-stream", std::nullopt,
                std::string(LauncherSource())};
  }
  void TearDown() override {
    if (cluster_ == nullptr) return;
    cluster_->Kubectl({"delete", "job,configmap", "-n", cluster_->ns(), "-l",
                       "code-executor.dev/replica=e2e-container-stream",
                       "--cascade=foreground", "--wait=true", "--timeout=60s"});
  }

  // Creates the launcher ConfigMap and one warm Job; returns its pod's
  // name once it runs.
  std::string StartWarmPod() {
    CommandResult applied = cluster_->Kubectl(
        {"apply", "-f", "-"},
        kube::BuildWarmLauncherConfigMap(context_).dump() +
            kube::BuildWarmJob(shape_, context_, absl::Minutes(5)).dump());
    EXPECT_EQ(applied.exit_code, 0) << applied.err;
    const std::string selector =
        absl::StrCat("code-executor.dev/execution-id=", shape_.execution_id);
    CommandResult ready = cluster_->Kubectl({"wait", "-n", cluster_->ns(),
                                             "--for=condition=Ready", "pod",
                                             "-l", selector, "--timeout=120s"});
    EXPECT_EQ(ready.exit_code, 0) << ready.err << ready.out;
    absl::StatusOr<nlohmann::json> pods =
        cluster_->GetJson({"pods", "-n", cluster_->ns(), "-l", selector});
    if (!pods.ok() || (*pods)["items"].empty()) return "";
    return (*pods)["items"][0]["metadata"]["name"];
  }

  std::string AttachPath(const std::string& pod) const {
    return absl::StrCat("/api/v1/namespaces/", cluster_->ns(), "/pods/", pod,
                        "/attach?container=sandbox&stdin=true&stdout=true"
                        "&stderr=true");
  }

  std::unique_ptr<Cluster> cluster_;
  kube::KubernetesOptions options_;
  ExecutionSpec shape_;
  kube::ObjectContext context_;
};

TEST_F(E2eContainerStreamTest, OneRequestOverAttachStreamsExactFrames) {
  const std::string pod = StartWarmPod();
  ASSERT_FALSE(pod.empty());
  absl::StatusOr<kube::ClusterConnection> connection =
      kube::LoadKubeconfig(cluster_->Var("E2E_ADMIN_KUBECONFIG"), "");
  ASSERT_TRUE(connection.ok()) << connection.status();

  Received received;
  absl::StatusOr<std::unique_ptr<ContainerStream>> stream =
      ContainerStream::Open(*connection, AttachPath(pod), received.Handlers(),
                            absl::Seconds(30));
  ASSERT_TRUE(stream.ok()) << stream.status();

  ExecutionSpec run = shape_;
  run.execution_id = "ce-e2e0stream01";
  run.code =
      "import sys\n"
      "unit = bytes(range(256)) + b'\\xff\\xfe\\xc3\\x28'\n"
      "sys.stdout.buffer.write(unit * 4000)\n"
      "sys.stderr.buffer.write(unit[::-1] * 300)\n"
      "sys.exit(3)\n";
  run.max_output_bytes = int64_t{4} << 20;
  absl::StatusOr<std::string> request = BuildRequest(run);
  ASSERT_TRUE(request.ok()) << request.status();
  ASSERT_TRUE((*stream)->Send(kube::kStdinChannel, *request).ok());
  ASSERT_TRUE(received.WaitClosed()) << "the stream never ended";
  EXPECT_TRUE(received.ended().ok()) << received.ended();

  FrameParser parser;
  RecordingSink sink;
  LauncherOutput output(run, sink);
  std::vector<LauncherEvent> events =
      parser.Feed(received.Channel(kube::kStdoutChannel));
  for (LauncherEvent& event : parser.Finish()) events.push_back(event);
  for (LauncherEvent& event : events) output.Consume(event);
  std::string unit;
  for (int i = 0; i < 256; ++i) unit.push_back(static_cast<char>(i));
  unit += "\xff\xfe\xc3\x28";
  std::string reversed(unit.rbegin(), unit.rend());
  std::string expected_out, expected_err;
  for (int i = 0; i < 4000; ++i) expected_out += unit;
  for (int i = 0; i < 300; ++i) expected_err += reversed;
  EXPECT_EQ(testing::Digest(sink.out), testing::Digest(expected_out));
  EXPECT_EQ(testing::Digest(sink.err), testing::Digest(expected_err));
  EXPECT_EQ(output.exit_code(), 3);
  EXPECT_EQ(output.diagnostics(), "");
  // Attach (unlike exec) reports the end of the session, not the process's
  // exit code: the launcher's exit record is the only exit code.
  absl::StatusOr<kube::ContainerExit> exit =
      kube::ParseContainerExit(received.Channel(kube::kStatusChannel));
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(exit->exit_code, 0) << exit->message;
}

TEST_F(E2eContainerStreamTest, EachAttachVerbTheWarmPoolAsksForIsNeeded) {
  // What RequiredPermissions adds for a warm pool, granted to the executor's
  // ServiceAccount with one verb left out at a time: the API server refuses
  // the upgrade each time, and accepts it with all of them.
  const std::string pod = StartWarmPod();
  ASSERT_FALSE(pod.empty());
  std::set<std::string> base;
  for (const kube::Permission& p : kube::RequiredPermissions(false)) {
    base.insert(p.ToString());
  }
  std::vector<kube::Permission> added;
  for (const kube::Permission& p : kube::RequiredPermissions(true)) {
    if (!base.contains(p.ToString())) added.push_back(p);
  }
  ASSERT_FALSE(added.empty());
  absl::StatusOr<kube::ClusterConnection> connection =
      kube::LoadKubeconfig(cluster_->executor_kubeconfig(), "");
  ASSERT_TRUE(connection.ok()) << connection.status();
  auto grant = [&](const std::vector<std::string>& verbs,
                   const std::string& resource) {
    cluster_->Kubectl({"delete", "role,rolebinding", "stream-test", "-n",
                       cluster_->ns(), "--ignore-not-found"});
    if (verbs.empty()) return;
    CommandResult role = cluster_->Kubectl(
        {"create", "role", "stream-test", "-n", cluster_->ns(),
         absl::StrCat("--verb=", absl::StrJoin(verbs, ",")),
         absl::StrCat("--resource=", resource)});
    ASSERT_EQ(role.exit_code, 0) << role.err;
    CommandResult binding = cluster_->Kubectl(
        {"create", "rolebinding", "stream-test", "-n", cluster_->ns(),
         "--role=stream-test",
         absl::StrCat("--serviceaccount=", cluster_->ns(), ":code-executor")});
    ASSERT_EQ(binding.exit_code, 0) << binding.err;
    absl::SleepFor(absl::Seconds(1));  // the authorizer's cache
  };
  auto opens = [&] {
    Received received;
    return ContainerStream::Open(*connection, AttachPath(pod),
                                 received.Handlers(), absl::Seconds(30))
        .ok();
  };
  const std::string resource =
      absl::StrCat(added[0].resource, "/", added[0].subresource);
  for (size_t left_out = 0; left_out < added.size(); ++left_out) {
    std::vector<std::string> verbs;
    for (size_t i = 0; i < added.size(); ++i) {
      if (i != left_out) verbs.push_back(added[i].verb);
    }
    grant(verbs, resource);
    EXPECT_FALSE(opens()) << "opened without " << added[left_out].ToString();
  }
  std::vector<std::string> all;
  for (const kube::Permission& p : added) all.push_back(p.verb);
  grant(all, resource);
  EXPECT_TRUE(opens()) << "refused with " << absl::StrJoin(all, ",");
  grant({}, resource);
}

}  // namespace
}  // namespace codeexec::e2e
