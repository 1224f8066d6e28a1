// bash and javascript on the real cluster: pods of the built-in profiles'
// images (bash:5.2 and node:22-slim, stand-ins without Python made by
// scripts/build-sandbox-images) under RuntimeClass gvisor, the static
// launcher from the run's ConfigMap. The same checks as gvisor-local's
// language_test; every test ends with no Job, Pod or ConfigMap left.
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "tests/e2e/cluster_access.h"
#include "tests/language_checks.h"
#include "tests/server_process.h"

namespace codeexec::e2e {
namespace {

using ::codeexec::testing::ServerProcess;

class E2eLanguagesTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    auto cluster = Cluster::FromEnvFile();
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = new Cluster(std::move(*cluster));
    auto server = ServerProcess::Start(cluster_->ExecutorArgs());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = server->release();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    stub_ = server_->NewStub();
  }
  void TearDown() override {
    absl::Status none_left = cluster_->WaitNoneLeft(absl::Seconds(30));
    EXPECT_TRUE(none_left.ok()) << none_left;
  }

  static inline Cluster* cluster_ = nullptr;
  static inline ServerProcess* server_ = nullptr;
  std::unique_ptr<codeexecutor::v1::CodeExecutor::Stub> stub_;
};

TEST_P(E2eLanguagesTest, WholeOutputAndExitCode) {
  testing::CheckWholeOutputAndExitCode(*stub_, GetParam());
}

TEST_P(E2eLanguagesTest, OutputIsStreamed) {
  testing::CheckOutputStreamed(*stub_, GetParam());
}

TEST_P(E2eLanguagesTest, OutputFileComesBackExactly) {
  testing::CheckOutputFileExact(*stub_, GetParam());
}

TEST_P(E2eLanguagesTest, TimeoutIsTimeout) {
  testing::CheckTimeout(*stub_, GetParam());
}

TEST_P(E2eLanguagesTest, MemoryBombIsOomKilled) {
  testing::CheckOutOfMemory(*stub_, GetParam());
}

TEST_P(E2eLanguagesTest, ImageHasNoPython) {
  testing::CheckNoPythonInTheSandbox(*stub_, GetParam());
}

INSTANTIATE_TEST_SUITE_P(WithoutPython, E2eLanguagesTest,
                         ::testing::ValuesIn(testing::LanguagesWithoutPython()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace codeexec::e2e
