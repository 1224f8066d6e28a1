// A file descriptor owner and errno-to-Status, for every component that
// talks to the kernel directly.
#ifndef CODEEXEC_SERVER_BASE_UNIQUE_FD_H_
#define CODEEXEC_SERVER_BASE_UNIQUE_FD_H_

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

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

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_BASE_UNIQUE_FD_H_
