// The in-sandbox contract both backends share: the bundle the launcher
// reads (the static launcher and one request), where the sandbox has it,
// and the command and environment that start the launcher. On gvisor-local
// the bundle is a per-run directory bind-mounted read-only.
// request_format.h documents the request; frame_format.h the frames the
// launcher writes (frame_parser.h reads them).
#ifndef CODEEXEC_SERVER_LAUNCHER_LAUNCHER_BUNDLE_H_
#define CODEEXEC_SERVER_LAUNCHER_LAUNCHER_BUNDLE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/exec/execution_spec.h"
#include "server/launcher/python_prestart.h"

namespace codeexec {

// Where the sandbox sees the bundle (read-only), the workspace (its own
// tmpfs, the program's working directory) and its private /tmp.
inline constexpr char kSandboxBundleDir[] = "/opt/code-executor";
inline constexpr char kSandboxWorkspaceDir[] = "/workspace";
inline constexpr char kSandboxTmpDir[] = "/tmp";

// Bundle keys (file names in the bundle directory).
inline constexpr char kLauncherKey[] = "launcher";
inline constexpr char kRequestKey[] = "request";

// Permissions of the program and input files the launcher writes.
inline constexpr uint32_t kWorkspaceFileMode = 0644;

// The user the launcher gives the program when it starts as root (gvisor-
// local): the program can then neither signal the launcher nor reach its
// descriptors. Unset: the program shares the launcher's user (a pod under
// the restricted Pod Security Standard cannot have root).
struct RunAs {
  uint32_t uid = 65534;
  uint32_t gid = 65534;
};

// The launcher's request for `spec` (request_format.h). InvalidArgument,
// naming what, for what the format cannot carry: an empty command, a NUL
// byte in a string, an env name that is empty or holds '=', an unsafe
// workspace path, counts or sizes over the format's maxima.
absl::StatusOr<std::string> BuildRequest(
    const ExecutionSpec& spec, std::optional<RunAs> run_as = std::nullopt,
    absl::string_view workspace = kSandboxWorkspaceDir);

// The PRESTART request (request_format.h) that has a warm sandbox start
// `starter` now for runs of `shape` (its command, env, workspace and user;
// a run with other ones starts fresh). Errors as BuildRequest's.
absl::StatusOr<std::string> BuildPrestartRequest(
    const ExecutionSpec& shape, const Starter& starter,
    std::optional<RunAs> run_as = std::nullopt,
    absl::string_view workspace = kSandboxWorkspaceDir);

// The request of one cell of a session: `spec`'s run, in `kernel` (KERNEL,
// request_format.h) if given, else as a fresh program, marked SESSION (so
// that a launcher waiting on a stream turns into a session's). Errors as
// BuildRequest's.
absl::StatusOr<std::string> BuildCellRequest(
    const ExecutionSpec& spec, const std::optional<Starter>& kernel,
    std::optional<RunAs> run_as = std::nullopt,
    absl::string_view workspace = kSandboxWorkspaceDir);

struct BundleEntry {
  std::string key;
  // Points into the request or the launcher.
  absl::string_view content;
  // The launcher is executed (mode 0555); the request only read (0444).
  bool executable = false;
};

// The bundle's files: the launcher (normally LauncherSource()) and the
// request (from BuildRequest); both must outlive the result.
std::vector<BundleEntry> BundleEntries(absl::string_view request,
                                       absl::string_view launcher);

// argv that starts the launcher: <bundle>/launcher <bundle>/request.
std::vector<std::string> LauncherCommand();

// argv that starts the launcher of a warm sandbox: <bundle>/launcher
// --wait, which blocks reading its one request from stdin (the bundle then
// holds only the launcher).
std::vector<std::string> LauncherWaitCommand();

// argv that starts the launcher of a session's sandbox: <bundle>/launcher
// --session, which runs requests from stdin one after another.
std::vector<std::string> LauncherSessionCommand();

// The launcher's own environment (it passes it on to the program, without
// CE_* and KUBERNETES_* variables, before the request's env).
EnvVars LauncherEnv();

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_LAUNCHER_LAUNCHER_BUNDLE_H_
