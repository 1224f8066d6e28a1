// The static launcher (server/launcher/c/, built with musl-gcc), embedded
// at build time (launcher_binary.S.in): it goes into every execution's
// bundle, so the server stays one binary.
#ifndef CODEEXEC_SERVER_LAUNCHER_LAUNCHER_SOURCE_H_
#define CODEEXEC_SERVER_LAUNCHER_LAUNCHER_SOURCE_H_

#include "absl/strings/string_view.h"

namespace codeexec {

// The launcher executable's bytes.
absl::string_view LauncherSource();

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_LAUNCHER_LAUNCHER_SOURCE_H_
