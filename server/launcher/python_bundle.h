// The bundle of the Python launcher (launcher.py), which the kubernetes
// backend still runs until it moves to the static launcher
// (launcher_bundle.h): launcher.py, manifest.json, the program, input files
// and stdin as separate keys. launcher.py documents the manifest's fields.
#ifndef CODEEXEC_SERVER_LAUNCHER_PYTHON_BUNDLE_H_
#define CODEEXEC_SERVER_LAUNCHER_PYTHON_BUNDLE_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"
#include "server/exec/execution_spec.h"

namespace codeexec::python_launcher {

// Bundle keys (file names in the bundle directory).
inline constexpr char kLauncherKey[] = "launcher.py";
inline constexpr char kManifestKey[] = "manifest.json";
inline constexpr char kProgramKey[] = "program";
inline constexpr char kStdinKey[] = "stdin";

// manifest.json (the program keeps the launcher's user).
nlohmann::json BuildManifest(const ExecutionSpec& spec);

struct BundleEntry {
  std::string key;
  // Points into the spec, the manifest text or the launcher source.
  absl::string_view content;
  // The launcher and manifest are text; the rest may be any bytes.
  bool text = false;
};

// Every file of the bundle. `manifest_text` and `launcher_source` (normally
// LauncherSource()) must outlive the result, as must `spec`.
std::vector<BundleEntry> BundleEntries(const ExecutionSpec& spec,
                                       absl::string_view manifest_text,
                                       absl::string_view launcher_source);

// argv that starts the launcher: python3 -I -S -u <bundle>/launcher.py.
std::vector<std::string> LauncherCommand();

// The launcher's own environment (it keeps these from the program).
EnvVars LauncherEnv();

// The text of launcher.py, embedded at build time (see CMakeLists.txt).
absl::string_view LauncherSource();

}  // namespace codeexec::python_launcher

#endif  // CODEEXEC_SERVER_LAUNCHER_PYTHON_BUNDLE_H_
