// The output-integrity checks of sandbox_integrity_test.cc on the kubernetes
// backend (fake API server, pods under runsc running the same launcher).
#include "tests/integrity_checks.h"
#include "tests/kube_test_fixture.h"

namespace codeexec::testing {
namespace {

using ::codeexecutor::v1::Finished;

TEST_F(KubeBackendTest, SingleWritesViaPrintArriveWhole) {
  CheckSingleWritesArriveWhole(*stub_, WriteMethod::kPrint);
}

TEST_F(KubeBackendTest, SingleWritesViaBufferWriteArriveWhole) {
  CheckSingleWritesArriveWhole(*stub_, WriteMethod::kBufferWrite);
}

TEST_F(KubeBackendTest, SingleWritesViaOsWriteArriveWhole) {
  CheckSingleWritesArriveWhole(*stub_, WriteMethod::kOsWrite);
}

TEST_F(KubeBackendTest, InterleavedStdoutAndStderrKeepTheirOrder) {
  CheckInterleavingKept(*stub_);
}

TEST_F(KubeBackendTest, RunscLookalikeOnStderrIsTheProgramsOwn) {
  CheckRunscLookalikeIsTheProgramsOwn(*stub_);
}

TEST_F(KubeBackendTest, LauncherSurvivesCatchableSignals) {
  // The case: Python's default SIGINT handler used to kill the
  // launcher (same uid in a pod), ending the run without an exit record.
  CheckLauncherSurvivesCatchableSignals(*stub_);
}

}  // namespace
}  // namespace codeexec::testing
