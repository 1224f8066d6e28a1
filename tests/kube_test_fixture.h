// The fixture of the kubernetes whole-binary tests: the real server binary
// with `backend: kubernetes`, pointed (by a kubeconfig holding only a bearer
// token) at the in-process fake kube-apiserver, whose kubelet runs each pod
// for real under gVisor. TearDown asserts that the fake holds no Job, Pod or
// ConfigMap of ours.
#ifndef CODEEXEC_TESTS_KUBE_TEST_FIXTURE_H_
#define CODEEXEC_TESTS_KUBE_TEST_FIXTURE_H_

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fake_kube/fake_kube_apiserver.h"
#include "tests/server_process.h"

namespace codeexec::testing {

using fake_kube::FakeKubeApiServer;
using fake_kube::FakeKubeOptions;
using fake_kube::KubeletMode;

constexpr char kNamespace[] = "agent-sandbox";
constexpr char kToken[] = "executor-token";
constexpr char kOurs[] = "app.kubernetes.io/managed-by=code-executor";

class KubeBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StartFake();
    StartServer();
  }
  // The fake apiserver (runsc kubelet unless `options` say otherwise) and a
  // kubeconfig for it.
  void StartFake(FakeKubeOptions options = RunscKubelet()) {
    options.required_bearer_token = kToken;
    auto fake = FakeKubeApiServer::Start(options);
    ASSERT_TRUE(fake.ok()) << fake.status();
    fake_ = std::move(*fake);
    kubeconfig_ =
        absl::StrCat("/tmp/codeexec-kubeconfig-", getpid(), "-", fake_->port());
    std::ofstream(kubeconfig_) << absl::StrCat(R"(apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster: {server: ")",
                                               fake_->url(), R"("}
users:
- name: executor
  user: {token: )",
                                               kToken, R"(}
contexts:
- name: fake
  context: {cluster: fake, user: executor, namespace: )",
                                               kNamespace, R"(}
current-context: fake
)");
  }
  static FakeKubeOptions RunscKubelet() {
    FakeKubeOptions options;
    options.kubelet.mode = KubeletMode::kRunsc;
    return options;
  }
  void StartServer(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {
        "--backend=kubernetes",
        "--set",
        absl::StrCat("kubernetes.kubeconfigPath=", kubeconfig_),
        "--set",
        absl::StrCat("kubernetes.namespace=", kNamespace),
        "--set",
        "kubernetes.scheduleTimeout=5s"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto server = ServerProcess::Start(args);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    stub_ = server_->NewStub();
  }
  void TearDown() override {
    // Nothing of ours is left once every call has ended (deletes are sent
    // before Finished; the fake's garbage collector removes the pod).
    const absl::Time deadline = absl::Now() + absl::Seconds(15);
    while (!fake_->HoldsNoObjects(kNamespace, kOurs) &&
           absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(50));
    }
    EXPECT_TRUE(fake_->HoldsNoObjects(kNamespace, kOurs))
        << "jobs: "
        << ::testing::PrintToString(
               fake_->ObjectNames("jobs", kNamespace, kOurs))
        << " pods: "
        << ::testing::PrintToString(
               fake_->ObjectNames("pods", kNamespace, kOurs))
        << " configmaps: "
        << ::testing::PrintToString(
               fake_->ObjectNames("configmaps", kNamespace, kOurs));
    server_.reset();
    fake_->Stop();
    std::remove(kubeconfig_.c_str());
  }

  std::unique_ptr<FakeKubeApiServer> fake_;
  std::string kubeconfig_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<codeexecutor::v1::CodeExecutor::Stub> stub_;
};

}  // namespace codeexec::testing

#endif  // CODEEXEC_TESTS_KUBE_TEST_FIXTURE_H_
