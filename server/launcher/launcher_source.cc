#include "server/launcher/launcher_source.h"

// Defined by launcher_binary.S (.incbin of the built launcher).
extern "C" const char codeexec_launcher_binary[];
extern "C" const char codeexec_launcher_binary_end[];

namespace codeexec {

absl::string_view LauncherSource() {
  return absl::string_view(codeexec_launcher_binary,
                           static_cast<size_t>(codeexec_launcher_binary_end -
                                               codeexec_launcher_binary));
}

}  // namespace codeexec
