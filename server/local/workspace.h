// The per-run workspace: a tmpfs on the host, bind-mounted at /workspace in
// the sandbox, holding the code, the input files and whatever the program
// writes there.
#ifndef CODEEXEC_SERVER_LOCAL_WORKSPACE_H_
#define CODEEXEC_SERVER_LOCAL_WORKSPACE_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "server/exec/execution_spec.h"

namespace codeexec {

// Creates `dir` and mounts a tmpfs of `size_bytes` on it (mode 0755, owned by
// uid:gid, nosuid, nodev).
absl::Status MountWorkspace(const std::string& dir, int64_t size_bytes,
                            uid_t uid, gid_t gid);

// Lazily unmounts `dir` (if it is a mount) and removes it with anything left
// in it. A missing `dir` is fine.
absl::Status UnmountAndRemoveWorkspace(const std::string& dir);

// Creates `relative_path` (no "..", not absolute) below `dir` with `content`
// and mode 0644, and any missing parent directories with mode 0755, all owned
// by uid:gid. Never follows symlinks. Fails if the file exists.
absl::Status WriteWorkspaceFile(const std::string& dir,
                                absl::string_view relative_path,
                                absl::string_view content, uid_t uid,
                                gid_t gid);

struct OutputFileLimits {
  int max_files = 32;
  int64_t max_total_bytes = int64_t{8} << 20;
};

struct CollectedOutputFiles {
  std::vector<WorkspaceFile> files;  // sorted by path
  bool truncated = false;            // some file was left out
};

// The files the program produced or changed: every regular file below `dir`
// except `code_file` and the input files whose content is unchanged
// (`inputs` maps path -> original content). Symlinks are skipped, never
// followed; so are devices, FIFOs and sockets. Files are taken in path order;
// once max_files are taken the rest are left out, and a file that would push
// the total over max_total_bytes is left out (smaller later ones may still
// fit). Anything left out sets `truncated`.
CollectedOutputFiles CollectOutputFiles(
    const std::string& dir, absl::string_view code_file,
    const std::map<std::string, absl::string_view, std::less<>>& inputs,
    const OutputFileLimits& limits);

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_LOCAL_WORKSPACE_H_
