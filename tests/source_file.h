// Test-only: the text of a file of this repository, for tests that check a
// document or manifest against the code. The including target defines
// CODEEXEC_SOURCE_DIR (the repository root).
#ifndef CODEEXEC_TESTS_SOURCE_FILE_H_
#define CODEEXEC_TESTS_SOURCE_FILE_H_

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

#ifndef CODEEXEC_SOURCE_DIR
#error "CODEEXEC_SOURCE_DIR must name the repository root"
#endif

namespace codeexec::testing_util {

// The file at `relative` (from the repository root); fails the test if it
// cannot be read.
inline std::string ReadSourceFile(const std::string& relative) {
  std::ifstream in(absl::StrCat(CODEEXEC_SOURCE_DIR, "/", relative));
  EXPECT_TRUE(in.good()) << relative;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace codeexec::testing_util

#endif  // CODEEXEC_TESTS_SOURCE_FILE_H_
