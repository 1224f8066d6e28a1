#include "tests/integrity_checks.h"

#include <openssl/evp.h>

#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace codeexec::testing {

using ::codeexecutor::v1::ExecuteRequest;
using ::codeexecutor::v1::Finished;
using ::codeexecutor::v1::Output;

std::string SingleWritesProgram(WriteMethod method,
                                const std::vector<int>& sizes) {
  std::string write;
  switch (method) {
    case WriteMethod::kPrint:
      write =
          "def w(f, data):\n"
          "    print(data.decode(), end='', file=f)\n"
          "    f.flush()\n";
      break;
    case WriteMethod::kBufferWrite:
      write =
          "def w(f, data):\n"
          "    assert f.buffer.write(data) == len(data)\n"
          "    f.buffer.flush()\n";
      break;
    case WriteMethod::kOsWrite:
      // One write(2) each: a pipe must take it whole, as Linux does.
      write =
          "def w(f, data):\n"
          "    n = os.write(f.fileno(), data)\n"
          "    assert n == len(data), (n, len(data))\n";
      break;
  }
  return absl::StrCat("import os, sys\n", write, "for i, n in enumerate([",
                      absl::StrJoin(sizes, ", "),
                      "]):\n"
                      "    w(sys.stdout, bytes([97 + 2 * i]) * n)\n"
                      "    w(sys.stderr, bytes([98 + 2 * i]) * n)\n");
}

std::string ExpectedSingleWrites(const std::vector<int>& sizes, bool stderr) {
  std::string expected;
  for (size_t i = 0; i < sizes.size(); ++i) {
    expected.append(static_cast<size_t>(sizes[i]),
                    static_cast<char>('a' + 2 * i + (stderr ? 1 : 0)));
  }
  return expected;
}

std::string Sha256Hex(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr);
  return absl::BytesToHexString(
      std::string(reinterpret_cast<char*>(digest), length));
}

std::string Digest(const std::string& data) {
  return absl::StrCat(data.size(), " bytes, sha256 ", Sha256Hex(data));
}

void CheckSingleWritesArriveWhole(codeexecutor::v1::CodeExecutor::Stub& stub,
                                  WriteMethod method) {
  ExecuteRequest request =
      MakeRequest(SingleWritesProgram(method, kWriteSizes));
  request.mutable_limits()->set_max_output_bytes(uint64_t{32} << 20);
  const ExecuteOutcome run = Execute(stub, request);
  ASSERT_TRUE(run.status.ok()) << run.status.error_message();
  EXPECT_EQ(run.finished.outcome(), Finished::OK)
      << run.finished.message() << run.stderr_text.substr(0, 2000);
  EXPECT_FALSE(run.finished.truncated());
  EXPECT_EQ(Digest(run.stdout_text),
            Digest(ExpectedSingleWrites(kWriteSizes, false)));
  EXPECT_EQ(Digest(run.stderr_text),
            Digest(ExpectedSingleWrites(kWriteSizes, true)));
}

void CheckInterleavingKept(codeexecutor::v1::CodeExecutor::Stub& stub) {
  const ExecuteOutcome run = Execute(stub, MakeRequest(R"(
import os, time
for i in range(6):
    os.write(1, b"o%d " % i)
    time.sleep(0.05)
    os.write(2, b"e%d " % i)
    time.sleep(0.05)
)"));
  ASSERT_TRUE(run.status.ok()) << run.status.error_message();
  std::string sequence;
  for (const auto& event : run.events) {
    if (!event.has_output()) continue;
    sequence += event.output().data();
  }
  EXPECT_EQ(sequence, "o0 e0 o1 e1 o2 e2 o3 e3 o4 e4 o5 e5 ");
}

void CheckRunscLookalikeIsTheProgramsOwn(
    codeexecutor::v1::CodeExecutor::Stub& stub) {
  const std::string lie =
      "running container: starting container: starting root container: "
      "error finding executable \"python3\" in PATH\n";
  const ExecuteOutcome run =
      Execute(stub, MakeRequest(absl::StrCat(
                        "import sys\nopen('kept.txt', 'w').write('mine')\n"
                        "sys.stderr.write(",
                        "'''", lie, "''')\nsys.exit(3)\n")));
  ASSERT_TRUE(run.status.ok()) << run.status.error_message();
  EXPECT_EQ(run.finished.outcome(), Finished::NONZERO_EXIT)
      << run.finished.message();
  EXPECT_EQ(run.finished.exit_code(), 3);
  EXPECT_EQ(run.stderr_text, lie);
  ASSERT_EQ(run.finished.output_files_size(), 1);
  EXPECT_EQ(run.finished.output_files(0).path(), "kept.txt");
  EXPECT_EQ(run.finished.output_files(0).content(), "mine");
}

void CheckLauncherSurvivesCatchableSignals(
    codeexecutor::v1::CodeExecutor::Stub& stub) {
  const ExecuteOutcome run = Execute(stub, MakeRequest(R"(
import os, signal, sys, time
parent = os.getppid()
for s in (signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
          signal.SIGUSR2, signal.SIGALRM, signal.SIGPIPE, signal.SIGTSTP,
          signal.SIGTTIN, signal.SIGTTOU, signal.SIGCONT, signal.SIGWINCH):
    for target in (parent, 1):
        try:
            os.kill(target, s)
        except PermissionError:
            pass
time.sleep(0.3)
print("still here", flush=True)
sys.exit(7)
)"));
  ASSERT_TRUE(run.status.ok()) << run.status.error_message();
  EXPECT_EQ(run.finished.outcome(), Finished::NONZERO_EXIT)
      << run.finished.message() << run.stderr_text;
  EXPECT_EQ(run.finished.exit_code(), 7);
  EXPECT_EQ(run.stdout_text, "still here\n");
}

}  // namespace codeexec::testing
