// bash and javascript on gvisor-local through the real server with its
// default configuration: each language's own rootfs tree (Debian minbase,
// + nodejs for javascript; no Python), the static launcher, runsc.
#include <string>

#include "gtest/gtest.h"
#include "tests/language_checks.h"
#include "tests/shared_server_test.h"

namespace codeexec::testing {
namespace {

class LanguageTest : public SharedServerTest,
                     public ::testing::WithParamInterface<std::string> {};

TEST_P(LanguageTest, WholeOutputAndExitCode) {
  CheckWholeOutputAndExitCode(*stub_, GetParam());
}

TEST_P(LanguageTest, OutputIsStreamed) {
  CheckOutputStreamed(*stub_, GetParam());
}

TEST_P(LanguageTest, OutputFileComesBackExactly) {
  CheckOutputFileExact(*stub_, GetParam());
}

TEST_P(LanguageTest, TimeoutIsTimeout) { CheckTimeout(*stub_, GetParam()); }

TEST_P(LanguageTest, MemoryBombIsOomKilled) {
  CheckOutOfMemory(*stub_, GetParam());
}

TEST_P(LanguageTest, SandboxHasNoPython) {
  CheckNoPythonInTheSandbox(*stub_, GetParam());
}

INSTANTIATE_TEST_SUITE_P(WithoutPython, LanguageTest,
                         ::testing::ValuesIn(LanguagesWithoutPython()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace codeexec::testing
