// The text of launcher.py, embedded at build time (see
// CMakeLists.txt): it goes into every execution's bundle.
#ifndef CODEEXEC_SERVER_LAUNCHER_LAUNCHER_SOURCE_H_
#define CODEEXEC_SERVER_LAUNCHER_LAUNCHER_SOURCE_H_

#include "absl/strings/string_view.h"

namespace codeexec {

absl::string_view LauncherSource();

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_LAUNCHER_LAUNCHER_SOURCE_H_
