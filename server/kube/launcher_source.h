// The text of launcher/launcher.py, embedded at build time (see
// CMakeLists.txt): it goes into every execution's ConfigMap.
#ifndef CODEEXEC_SERVER_KUBE_LAUNCHER_SOURCE_H_
#define CODEEXEC_SERVER_KUBE_LAUNCHER_SOURCE_H_

#include <string_view>

namespace codeexec::kube {

std::string_view LauncherSource();

}  // namespace codeexec::kube

#endif  // CODEEXEC_SERVER_KUBE_LAUNCHER_SOURCE_H_
