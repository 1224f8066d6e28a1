#include "server/local/workspace.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/local/fs_util.h"

namespace codeexec {
namespace {

// Bounds on the walk: the program controls the workspace and could fill it
// with millions of empty files or deep directory chains.
constexpr int kMaxWalkEntries = 100000;
constexpr int kMaxWalkDepth = 64;

bool IsSafeRelativePath(absl::string_view path) {
  if (path.empty() || path.front() == '/') return false;
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part.empty() || part == "." || part == "..") return false;
  }
  return path.find('\0') == absl::string_view::npos;
}

// Opens the directory `name` below `parent_fd`, refusing symlinks.
UniqueFd OpenDirBelow(int parent_fd, const std::string& name) {
  return UniqueFd(openat(parent_fd, name.c_str(),
                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
}

struct Candidate {
  std::string path;
  int64_t size;
};

struct WalkState {
  std::vector<Candidate> candidates;
  int entries_seen = 0;
  bool incomplete = false;
};

void Walk(int dir_fd, const std::string& prefix, int depth, WalkState& state) {
  // fdopendir takes ownership of its fd, so hand it a duplicate.
  int dup_fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
  if (dup_fd < 0) return;
  DIR* dir = fdopendir(dup_fd);
  if (dir == nullptr) {
    close(dup_fd);
    return;
  }
  while (struct dirent* entry = readdir(dir)) {
    std::string name = entry->d_name;
    if (name == "." || name == "..") continue;
    if (++state.entries_seen > kMaxWalkEntries) {
      state.incomplete = true;
      break;
    }
    struct stat info;
    if (fstatat(dir_fd, name.c_str(), &info, AT_SYMLINK_NOFOLLOW) != 0)
      continue;
    std::string path = prefix.empty() ? name : absl::StrCat(prefix, "/", name);
    if (S_ISREG(info.st_mode)) {
      state.candidates.push_back({std::move(path), info.st_size});
    } else if (S_ISDIR(info.st_mode)) {
      if (depth >= kMaxWalkDepth) {
        state.incomplete = true;
        continue;
      }
      UniqueFd child = OpenDirBelow(dir_fd, name);
      if (child.valid()) Walk(child.get(), path, depth + 1, state);
    }
  }
  closedir(dir);
}

// Opens the regular file `relative_path` below `root_fd` without following a
// symlink at any step; reads up to `max_bytes` (false if it is larger).
bool ReadRegularFile(int root_fd, const std::string& relative_path,
                     int64_t max_bytes, std::string* content) {
  std::vector<std::string> parts = absl::StrSplit(relative_path, '/');
  UniqueFd dir(fcntl(root_fd, F_DUPFD_CLOEXEC, 0));
  for (size_t i = 0; i + 1 < parts.size() && dir.valid(); ++i) {
    dir = OpenDirBelow(dir.get(), parts[i]);
  }
  if (!dir.valid()) return false;
  UniqueFd file(openat(dir.get(), parts.back().c_str(),
                       O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  struct stat info;
  if (!file.valid() || fstat(file.get(), &info) != 0 ||
      !S_ISREG(info.st_mode) || info.st_size > max_bytes) {
    return false;
  }
  content->clear();
  content->reserve(static_cast<size_t>(info.st_size));
  char buffer[64 * 1024];
  while (true) {
    ssize_t got = read(file.get(), buffer, sizeof(buffer));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return false;
    if (got == 0) break;
    content->append(buffer, static_cast<size_t>(got));
    if (static_cast<int64_t>(content->size()) > max_bytes) return false;
  }
  return true;
}

}  // namespace

absl::Status MountWorkspace(const std::string& dir, int64_t size_bytes,
                            uid_t uid, gid_t gid) {
  if (size_bytes <= 0) {
    // tmpfs treats size=0 as unlimited.
    return absl::InvalidArgumentError("workspace size must be positive");
  }
  if (mkdir(dir.c_str(), 0755) != 0) {
    return ErrnoError(errno, "creating workspace directory ", dir);
  }
  const std::string options =
      absl::StrCat("size=", size_bytes, ",mode=0755,uid=", uid, ",gid=", gid);
  if (mount("tmpfs", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV,
            options.c_str()) != 0) {
    absl::Status status =
        ErrnoError(errno, "mounting the workspace tmpfs on ", dir);
    rmdir(dir.c_str());
    return status;
  }
  return absl::OkStatus();
}

absl::Status UnmountAndRemoveWorkspace(const std::string& dir) {
  if (umount2(dir.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0 &&
      errno != EINVAL && errno != ENOENT) {
    return ErrnoError(errno, "unmounting workspace ", dir);
  }
  if (rmdir(dir.c_str()) == 0 || errno == ENOENT) return absl::OkStatus();
  // Not a mount (or the mount never happened) but not empty either.
  return RemoveTree(dir);
}

absl::Status WriteWorkspaceFile(const std::string& dir,
                                absl::string_view relative_path,
                                absl::string_view content, uid_t uid,
                                gid_t gid) {
  if (!IsSafeRelativePath(relative_path)) {
    return absl::InvalidArgumentError(
        absl::StrCat("workspace file path \"", relative_path,
                     "\" must be relative, without \".\" or \"..\" parts"));
  }
  std::vector<std::string> parts = absl::StrSplit(relative_path, '/');
  UniqueFd parent(
      open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!parent.valid()) return ErrnoError(errno, "opening workspace ", dir);
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    const char* name = parts[i].c_str();
    if (mkdirat(parent.get(), name, 0755) == 0) {
      if (fchownat(parent.get(), name, uid, gid, AT_SYMLINK_NOFOLLOW) != 0) {
        return ErrnoError(errno, "setting the owner of workspace directory ",
                          parts[i]);
      }
    } else if (errno != EEXIST) {
      return ErrnoError(errno, "creating workspace directory for ",
                        relative_path);
    }
    parent = OpenDirBelow(parent.get(), parts[i]);
    if (!parent.valid()) {
      return ErrnoError(errno, "opening workspace directory for ",
                        relative_path);
    }
  }
  UniqueFd file(openat(parent.get(), parts.back().c_str(),
                       O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                       0644));
  if (!file.valid()) {
    return ErrnoError(errno, "creating workspace file ", relative_path);
  }
  if (fchown(file.get(), uid, gid) != 0) {
    return ErrnoError(errno, "setting the owner of workspace file ",
                      relative_path);
  }
  return WriteAll(file.get(), content,
                  absl::StrCat("workspace file ", relative_path));
}

CollectedOutputFiles CollectOutputFiles(
    const std::string& dir, absl::string_view code_file,
    const std::map<std::string, absl::string_view, std::less<>>& inputs,
    const OutputFileLimits& limits) {
  CollectedOutputFiles result;
  UniqueFd root(
      open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!root.valid()) return result;
  WalkState state;
  Walk(root.get(), "", 0, state);
  result.truncated = state.incomplete;
  std::sort(
      state.candidates.begin(), state.candidates.end(),
      [](const Candidate& a, const Candidate& b) { return a.path < b.path; });

  int64_t total_bytes = 0;
  std::string content;
  for (const Candidate& candidate : state.candidates) {
    if (candidate.path == code_file) continue;
    bool have_content = false;
    auto input = inputs.find(candidate.path);
    if (input != inputs.end() &&
        static_cast<size_t>(candidate.size) == input->second.size()) {
      have_content =
          ReadRegularFile(root.get(), candidate.path, candidate.size, &content);
      if (have_content && content == input->second) continue;
    }
    if (static_cast<int>(result.files.size()) >= limits.max_files) {
      result.truncated = true;
      break;
    }
    if (total_bytes + candidate.size > limits.max_total_bytes) {
      result.truncated = true;
      continue;
    }
    if (!have_content && !ReadRegularFile(root.get(), candidate.path,
                                          candidate.size, &content)) {
      continue;
    }
    total_bytes += static_cast<int64_t>(content.size());
    result.files.push_back({candidate.path, std::move(content)});
    content = std::string();
  }
  return result;
}

}  // namespace codeexec
