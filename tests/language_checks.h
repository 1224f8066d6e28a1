// The built-in languages without Python (bash and javascript) on a real
// server: whole output and exit code, streaming, an output file, a timeout,
// an out-of-memory kill, and an image or rootfs with no Python in it. Shared
// by the gvisor-local test (language_test.cc) and the e2e cluster's
// (e2e/e2e_languages_test.cc), which run the same programs and compare
// bytes exactly (length + sha256).
#ifndef CODEEXEC_TESTS_LANGUAGE_CHECKS_H_
#define CODEEXEC_TESTS_LANGUAGE_CHECKS_H_

#include <string>
#include <vector>

#include "codeexecutor/v1/code_executor.grpc.pb.h"

namespace codeexec::testing {

// The profiles the checks run: "bash", "javascript".
const std::vector<std::string>& LanguagesWithoutPython();

// 1 MiB + 1 of 'x' and two bytes that are not UTF-8 on stdout, "err\n" on
// stderr, exit code 3: all of it arrives, NONZERO_EXIT 3.
void CheckWholeOutputAndExitCode(codeexecutor::v1::CodeExecutor::Stub& stub,
                                 const std::string& language);
// "first", a 1.5 s pause, "second at <time>": the client has the first line
// before the program printed the second.
void CheckOutputStreamed(codeexecutor::v1::CodeExecutor::Stub& stub,
                         const std::string& language);
// A file the program writes (55,004 bytes, not UTF-8 at the end) comes back
// byte for byte, and the input file it was given was readable.
void CheckOutputFileExact(codeexecutor::v1::CodeExecutor::Stub& stub,
                          const std::string& language);
// A program that never ends, with a 3 s timeout: TIMEOUT, its output kept.
void CheckTimeout(codeexecutor::v1::CodeExecutor::Stub& stub,
                  const std::string& language);
// A program allocating without bound under a 256Mi limit: OOM_KILLED.
void CheckOutOfMemory(codeexecutor::v1::CodeExecutor::Stub& stub,
                      const std::string& language);
// No python or python3 anywhere on the program's PATH or in /usr/bin: the
// launcher needed none.
void CheckNoPythonInTheSandbox(codeexecutor::v1::CodeExecutor::Stub& stub,
                               const std::string& language);

}  // namespace codeexec::testing

#endif  // CODEEXEC_TESTS_LANGUAGE_CHECKS_H_
