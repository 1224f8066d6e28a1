// Small POSIX file helpers shared by the gvisor-local backend.
#ifndef CODEEXEC_SERVER_LOCAL_FS_UTIL_H_
#define CODEEXEC_SERVER_LOCAL_FS_UTIL_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace codeexec {

// Owns a file descriptor and closes it.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// absl::ErrnoToStatus with a message built from `what...`, e.g.
// ErrnoError(errno, "creating ", path) -> "creating /x: No such file ...".
template <typename... Parts>
absl::Status ErrnoError(int error_number, const Parts&... what) {
  return absl::ErrnoToStatus(error_number, absl::StrCat(what...));
}

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
