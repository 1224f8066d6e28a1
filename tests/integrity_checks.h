// What a hostile program can do with its own output, and the checks that it
// cannot lose, forge or break anything: shared by the gvisor-local and the
// kubernetes whole-binary tests, which run the same programs through the
// real server and compare bytes exactly (length + sha256).
#ifndef CODEEXEC_TESTS_INTEGRITY_CHECKS_H_
#define CODEEXEC_TESTS_INTEGRITY_CHECKS_H_

#include <string>
#include <vector>

#include "codeexecutor/v1/code_executor.grpc.pb.h"
#include "tests/server_process.h"

namespace codeexec::testing {

// Single writes around gVisor's 64 KiB short-write boundary and far above.
inline const std::vector<int> kWriteSizes = {65535, 65536, 65537, 1 << 20,
                                             8 << 20};

// How a program writes: print(), sys.std*.buffer.write(), os.write().
enum class WriteMethod { kPrint, kBufferWrite, kOsWrite };

// A Python program that writes, for each size, one write of that many bytes
// to stdout and then one to stderr with `method`; the i-th write repeats the
// letter 'a' + i (so lost, doubled or reordered pieces show).
std::string SingleWritesProgram(WriteMethod method,
                                const std::vector<int>& sizes);
// What SingleWritesProgram's stdout (or stderr) must be, byte for byte.
std::string ExpectedSingleWrites(const std::vector<int>& sizes, bool stderr);

// Hex sha256 of `data`.
std::string Sha256Hex(const std::string& data);
// "<length> bytes, sha256 <hex>": compare these to see both at once.
std::string Digest(const std::string& data);

// Runs SingleWritesProgram through `stub` and checks both streams exactly.
void CheckSingleWritesArriveWhole(codeexecutor::v1::CodeExecutor::Stub& stub,
                                  WriteMethod method);

// Alternating stdout/stderr writes (spaced in time) arrive in that order.
void CheckInterleavingKept(codeexecutor::v1::CodeExecutor::Stub& stub);

// A program that prints what runsc prints when it fails and exits 3 is a
// program that exited 3: its stderr arrives, its files come back.
void CheckRunscLookalikeIsTheProgramsOwn(
    codeexecutor::v1::CodeExecutor::Stub& stub);

// A program that signals the launcher (its parent) with everything it can
// catch still ends with its own exit code and all its output.
void CheckLauncherSurvivesCatchableSignals(
    codeexecutor::v1::CodeExecutor::Stub& stub);

}  // namespace codeexec::testing

#endif  // CODEEXEC_TESTS_INTEGRITY_CHECKS_H_
