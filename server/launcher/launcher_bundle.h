// The in-sandbox contract both backends share: the bundle the launcher reads
// (launcher.py, manifest.json, the program, input files, stdin), where the
// sandbox has it, and the command and environment that start the launcher.
// On kubernetes the bundle is a ConfigMap mounted read-only; on gvisor-local
// a per-run directory bind-mounted read-only. launcher.py documents the
// manifest's fields and the frames it writes (frame_parser.h reads them).
#ifndef CODEEXEC_SERVER_LAUNCHER_LAUNCHER_BUNDLE_H_
#define CODEEXEC_SERVER_LAUNCHER_LAUNCHER_BUNDLE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"
#include "server/exec/execution_spec.h"

namespace codeexec {

// Where the sandbox sees the bundle (read-only), the workspace (its own
// tmpfs, the program's working directory) and its private /tmp.
inline constexpr char kSandboxBundleDir[] = "/opt/code-executor";
inline constexpr char kSandboxWorkspaceDir[] = "/workspace";
inline constexpr char kSandboxTmpDir[] = "/tmp";

// Bundle keys (file names in the bundle directory).
inline constexpr char kLauncherKey[] = "launcher.py";
inline constexpr char kManifestKey[] = "manifest.json";
inline constexpr char kProgramKey[] = "program";
inline constexpr char kStdinKey[] = "stdin";

// The user the launcher gives the program when it starts as root (gvisor-
// local): the program can then neither signal the launcher nor reach its
// descriptors. Unset: the program shares the launcher's user (a pod under
// the restricted Pod Security Standard cannot have root).
struct RunAs {
  uint32_t uid = 65534;
  uint32_t gid = 65534;
};

// manifest.json.
nlohmann::json BuildManifest(const ExecutionSpec& spec,
                             std::optional<RunAs> run_as = std::nullopt);

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

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_LAUNCHER_LAUNCHER_BUNDLE_H_
