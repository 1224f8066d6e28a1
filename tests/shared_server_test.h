// A fixture whose test suite shares one real server (started once in
// SetUpTestSuite, stopped after the suite) and gives each test a stub.
#ifndef CODEEXEC_TESTS_SHARED_SERVER_TEST_H_
#define CODEEXEC_TESTS_SHARED_SERVER_TEST_H_

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/server_process.h"

namespace codeexec::testing {

class SharedServerTest : public ::testing::Test {
 protected:
  // A suite that needs flags defines its own SetUpTestSuite calling this.
  static void SetUpTestSuite() { StartSharedServer(); }
  static void StartSharedServer(std::vector<std::string> args = {}) {
    auto started = ServerProcess::Start(std::move(args));
    ASSERT_TRUE(started.ok()) << started.status();
    server_ = started->release();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    stub_ = server_->NewStub();
  }

  static inline ServerProcess* server_ = nullptr;
  std::unique_ptr<codeexecutor::v1::CodeExecutor::Stub> stub_;
};

}  // namespace codeexec::testing

#endif  // CODEEXEC_TESTS_SHARED_SERVER_TEST_H_
