#include "server/local/state_dir.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "server/local/fs_util.h"

namespace codeexec {

bool IsValidSandboxId(absl::string_view id) {
  if (id.empty() || id.size() > 64 || !absl::ascii_isalnum(id[0])) {
    return false;
  }
  for (char c : id) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '_') return false;
  }
  return true;
}

bool IsValidCgroupParent(absl::string_view parent) {
  if (parent.empty() || parent.front() == '/' || parent.back() == '/') {
    return false;
  }
  for (char c : parent) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '_' && c != '/' &&
        c != '.') {
      return false;
    }
  }
  return parent.find("..") == absl::string_view::npos &&
         parent.find("//") == absl::string_view::npos;
}

std::string StateDir::BundleDir(absl::string_view id) const {
  return absl::StrCat(BundlesDir(), "/", id);
}

absl::Status StateDir::Prepare() const {
  if (root_.empty() || root_[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat(
        "the gvisor-local state_dir must be an absolute path, got \"", root_,
        "\""));
  }
  for (const std::string& dir : {root_, RunscRoot(), BundlesDir()}) {
    if ((mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) ||
        chmod(dir.c_str(), 0700) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot prepare the gvisor-local state directory: ",
                       ErrnoError(errno, "creating ", dir).message(),
                       "; set state_dir to a writable local directory"));
    }
  }
  return absl::OkStatus();
}

absl::Status StateDir::ReleaseRunscNullNetns() const {
  const std::string path = RunscNullNetns();
  // EINVAL: no longer a mount point; ENOENT: never made.
  while (umount2(path.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) == 0) {
  }
  if (errno != EINVAL && errno != ENOENT) {
    return ErrnoError(errno, "unmounting ", path);
  }
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return ErrnoError(errno, "removing ", path);
  }
  return absl::OkStatus();
}

std::vector<absl::Status> StateDir::RemoveLeftoverFiles() const {
  std::vector<absl::Status> problems;
  absl::Status released = ReleaseRunscNullNetns();
  if (!released.ok()) problems.push_back(released);
  for (const std::string& name : ListDir(BundlesDir())) {
    absl::Status removed = RemoveTree(BundleDir(name));
    if (!removed.ok()) problems.push_back(removed);
  }
  // Stale state of containers runsc no longer lists (e.g. the lock of one
  // that never started).
  for (const std::string& name : ListDir(RunscRoot())) {
    absl::Status removed = RemoveTree(absl::StrCat(RunscRoot(), "/", name));
    if (!removed.ok()) problems.push_back(removed);
  }
  return problems;
}

}  // namespace codeexec
