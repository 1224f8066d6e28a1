// The gvisor-local backend's private state directory and the names it puts
// there:
//   <state>/runsc/                   runsc --root (container state)
//   <state>/runsc/null-netns         runsc's empty network namespace for its
//                                    gofers, shared by every sandbox (a bind
//                                    mount; holds nothing of any run)
//   <state>/bundles/<id>/            OCI bundle (config.json) of one run
//   <state>/bundles/<id>/launcher/   its launcher bundle (read-only inside)
// Everything is root's, mode 0700 at the top: nothing of it is reachable
// by a sandboxed program, even with the host's "/" as its rootfs.
#ifndef CODEEXEC_SERVER_LOCAL_STATE_DIR_H_
#define CODEEXEC_SERVER_LOCAL_STATE_DIR_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace codeexec {

// Whether `id` can name a directory, a cgroup and a runsc container:
// 1-64 of [A-Za-z0-9_-], starting alphanumeric (e.g. "ce-0123456789ab").
bool IsValidSandboxId(absl::string_view id);

// Whether `parent` is a relative cgroup path such as "code-executor" or
// "a/b": [A-Za-z0-9_.-] parts, no "..", no leading or trailing '/'.
bool IsValidCgroupParent(absl::string_view parent);

class StateDir {
 public:
  explicit StateDir(std::string root) : root_(std::move(root)) {}

  const std::string& root() const { return root_; }
  std::string RunscRoot() const { return root_ + "/runsc"; }
  std::string BundlesDir() const { return root_ + "/bundles"; }
  std::string BundleDir(absl::string_view id) const;
  // Where runsc pins the empty network namespace its gofers join: a bind
  // mount made by the first sandbox of RunscRoot() and reused by the next
  // ones (runsc never removes it).
  std::string RunscNullNetns() const { return RunscRoot() + "/null-netns"; }

  // Creates the root and its subdirectories (mode 0700) where missing, and
  // makes an existing root 0700.
  // Errors say to pick a writable local directory.
  absl::Status Prepare() const;

  // What a crashed server left in the directory, after its containers were
  // deleted: removes every bundle and every file in the runsc root. Returns
  // what could not be removed.
  std::vector<absl::Status> RemoveLeftoverFiles() const;

  // Unmounts RunscNullNetns (every copy stacked by concurrent first runs)
  // and removes its mount point: after this no mount is left under root().
  // For a server that stops, and before RemoveLeftoverFiles.
  absl::Status ReleaseRunscNullNetns() const;

 private:
  std::string root_;
};

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_LOCAL_STATE_DIR_H_
