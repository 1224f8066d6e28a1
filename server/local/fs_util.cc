#include "server/local/fs_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace codeexec {

absl::Status WriteAll(int fd, absl::string_view content,
                      absl::string_view what) {
  while (!content.empty()) {
    ssize_t written = write(fd, content.data(), content.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, "writing ", what);
    }
    content.remove_prefix(static_cast<size_t>(written));
  }
  return absl::OkStatus();
}

absl::Status WriteNewFile(const std::string& path, absl::string_view content,
                          mode_t mode) {
  int fd = open(path.c_str(),
                O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoError(errno, "creating ", path);
  absl::Status status = WriteAll(fd, content, path);
  if (close(fd) != 0 && status.ok()) {
    status = ErrnoError(errno, "closing ", path);
  }
  return status;
}

absl::Status ReadSmallFile(const std::string& path, std::string* content) {
  content->clear();
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "opening ", path);
  char buffer[4096];
  absl::Status status;
  while (content->size() < (1 << 20)) {
    ssize_t got = read(fd, buffer, sizeof(buffer));
    if (got < 0) {
      if (errno == EINTR) continue;
      status = ErrnoError(errno, "reading ", path);
      break;
    }
    if (got == 0) break;
    content->append(buffer, static_cast<size_t>(got));
  }
  close(fd);
  return status;
}

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* handle = opendir(dir.c_str())) {
    while (struct dirent* entry = readdir(handle)) {
      absl::string_view name = entry->d_name;
      if (name != "." && name != "..") names.emplace_back(name);
    }
    closedir(handle);
  }
  return names;
}

namespace {

int RemoveEntry(const char* path, const struct stat* /*info*/, int type,
                struct FTW* /*walk*/) {
  int result = (type == FTW_DP) ? rmdir(path) : unlink(path);
  if (result != 0 && errno != ENOENT) return errno;
  return 0;
}

}  // namespace

absl::Status RemoveTree(const std::string& path) {
  struct stat info;
  if (lstat(path.c_str(), &info) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoError(errno, "inspecting ", path);
  }
  if (!S_ISDIR(info.st_mode)) {
    if (unlink(path.c_str()) != 0 && errno != ENOENT) {
      return ErrnoError(errno, "removing ", path);
    }
    return absl::OkStatus();
  }
  int error =
      nftw(path.c_str(), RemoveEntry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
  if (error > 0) return ErrnoError(error, "removing ", path);
  if (error < 0) return ErrnoError(errno, "removing ", path);
  return absl::OkStatus();
}

}  // namespace codeexec
