// Small POSIX file helpers shared by the gvisor-local backend.
#ifndef CODEEXEC_SERVER_LOCAL_FS_UTIL_H_
#define CODEEXEC_SERVER_LOCAL_FS_UTIL_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "server/base/unique_fd.h"

namespace codeexec {

// Writes `content` to a new file at `path` (fails if it exists; never
// follows a symlink).
absl::Status WriteNewFile(const std::string& path, absl::string_view content,
                          mode_t mode);

// Writes all of `content` to `fd`, retrying on EINTR and short writes.
absl::Status WriteAll(int fd, absl::string_view content,
                      absl::string_view what);

// Reads a small text file (e.g. a cgroup control file) whole.
absl::Status ReadSmallFile(const std::string& path, std::string* content);

// Names in `dir` except "." and ".." (empty if it cannot be read).
std::vector<std::string> ListDir(const std::string& dir);

// Removes `path` and everything below it without following symlinks or
// crossing into other mounts. A missing `path` is OK.
absl::Status RemoveTree(const std::string& path);

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_LOCAL_FS_UTIL_H_
