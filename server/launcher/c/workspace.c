#include "server/launcher/c/workspace.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/launcher/c/frames.h"

/* Opens the directory name below dir, never through a symlink. Not with
 * O_DIRECTORY: gVisor (runsc 2026-09) follows a symlink to a directory when
 * O_NOFOLLOW comes with O_DIRECTORY, where Linux fails; a session's program
 * could otherwise point the launcher's writes anywhere in the sandbox.
 * O_NONBLOCK: a FIFO in the way fails here instead of blocking. */
static int open_dir_at(int dir, const char* name) {
  const int fd =
      openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return -1;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISDIR(st.st_mode)) {
    close(fd);
    errno = ENOTDIR;
    return -1;
  }
  return fd;
}

struct strings {
  char** items;
  size_t n, capacity;
};

static int add(struct strings* list, char* item) {
  if (item == NULL) return -1;
  if (list->n == list->capacity) {
    const size_t capacity = list->capacity ? list->capacity * 2 : 16;
    char** grown = realloc(list->items, capacity * sizeof(char*));
    if (grown == NULL) return -1;
    list->items = grown;
    list->capacity = capacity;
  }
  list->items[list->n++] = item;
  return 0;
}

static char* join(const char* dir, const char* name) {
  const size_t a = strlen(dir), b = strlen(name);
  char* path = malloc(a + b + 2);
  if (path == NULL) return NULL;
  memcpy(path, dir, a);
  path[a] = '/';
  memcpy(path + a + 1, name, b + 1);
  return a ? path : memmove(path, path + 1, b + 1);
}

/* Makes us the owner of dir if the program is (a session's cell made it):
 * we write there without DAC_OVERRIDE. Records rel in owned, which goes
 * back to the program with the directories we made. */
static int take_over(int dir, const char* rel, size_t n,
                     struct strings* owned) {
  struct stat st;
  if (fstat(dir, &st) != 0) return -1;
  if (st.st_uid == geteuid()) return 0;
  if (fchown(dir, geteuid(), getegid()) != 0) return -1;
  if (add(owned, strndup(rel, n)) != 0) {
    errno = ENOMEM;
    return -1;
  }
  return 0;
}

/* Opens the directory holding rel (a safe relative path) below the
 * workspace, one component at a time and never through a symlink; with
 * created != NULL, makes missing directories and records them there, and
 * with own set also takes over existing ones (take_over). Returns the fd
 * and points *base at rel's last component, or -1. */
static int open_parent(int workspace, const char* rel, const char** base,
                       struct strings* created, int own) {
  int dir = dup(workspace);
  const char* part = rel;
  for (const char* slash; dir >= 0 && (slash = strchr(part, '/')) != NULL;
       part = slash + 1) {
    char name[256];
    const size_t n = (size_t)(slash - part);
    if (n >= sizeof(name)) {
      close(dir);
      errno = ENAMETOOLONG;
      return -1;
    }
    memcpy(name, part, n);
    name[n] = '\0';
    if (created != NULL) {
      if (mkdirat(dir, name, 0755) == 0) {
        if (add(created, strndup(rel, (size_t)(slash - rel))) != 0) {
          close(dir);
          errno = ENOMEM;
          return -1;
        }
      } else if (errno != EEXIST) {
        close(dir);
        return -1;
      }
    }
    const int next = open_dir_at(dir, name);
    close(dir);
    dir = next;
    if (dir >= 0 && own &&
        take_over(dir, rel, (size_t)(slash - rel), created) != 0) {
      const int saved = errno;
      close(dir);
      errno = saved;
      return -1;
    }
  }
  *base = part;
  return dir;
}

static int write_file(int workspace, const struct ce_file* file,
                      const struct ce_request* r, struct strings* created,
                      int replace) {
  const char* base;
  const int dir = open_parent(workspace, file->path, &base, created,
                              replace && r->has_run_as);
  if (dir < 0) return -1;
  /* A session's file of the same path (or a symlink a cell left there)
   * goes; a directory stays, and the create below fails on it. */
  if (replace && unlinkat(dir, base, 0) != 0 && errno != ENOENT &&
      errno != EISDIR) {
    const int saved = errno;
    close(dir);
    errno = saved;
    return -1;
  }
  const int fd =
      openat(dir, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
             file->mode);
  close(dir);
  if (fd < 0) return -1;
  int failed = fchmod(fd, file->mode) != 0 ||
               (r->has_run_as && fchown(fd, r->uid, r->gid) != 0) ||
               write_all(fd, file->content, file->size) != 0;
  const int saved = errno;
  close(fd);
  errno = saved;
  return failed ? -1 : 0;
}

int write_inputs(const struct ce_request* r, int replace, char* error,
                 size_t error_size) {
  const int workspace = open_dir_at(AT_FDCWD, r->workspace);
  if (workspace < 0) {
    snprintf(error, error_size, "%s: %s", r->workspace, strerror(errno));
    return -1;
  }
  struct strings created = {0};
  /* A session's workspace is the program's after its first cell. */
  int failed =
      replace && r->has_run_as && fchown(workspace, geteuid(), getegid()) != 0;
  if (failed) {
    snprintf(error, error_size, "chown %s: %s", r->workspace, strerror(errno));
  }
  for (size_t i = 0; i <= r->filec && !failed; ++i) {
    const struct ce_file* file = i == 0 ? &r->program : &r->files[i - 1];
    if (write_file(workspace, file, r, &created, replace) != 0) {
      snprintf(error, error_size, "%s/%s: %s", r->workspace, file->path,
               strerror(errno));
      failed = 1;
    }
  }
  /* Directories last: we (root without DAC_OVERRIDE) write there. Given
   * back after a failure too: the session's program lives on. */
  if (r->has_run_as) {
    int chowned = fchown(workspace, r->uid, r->gid) == 0;
    for (size_t i = 0; i < created.n && chowned; ++i) {
      chowned = fchownat(workspace, created.items[i], r->uid, r->gid,
                         AT_SYMLINK_NOFOLLOW) == 0;
    }
    if (!chowned && !failed) {
      snprintf(error, error_size, "chown in %s: %s", r->workspace,
               strerror(errno));
    }
    failed = failed || !chowned;
  }
  for (size_t i = 0; i < created.n; ++i) free(created.items[i]);
  free(created.items);
  close(workspace);
  return failed ? -1 : 0;
}

/* Every non-directory below dir (symlinks too: they fail to open later),
 * as paths relative to the workspace; never follows a symlink. Unreadable
 * directories are skipped, as os.walk does. */
static void walk(int dir, const char* prefix, struct strings* out) {
  DIR* stream = fdopendir(dir);
  if (stream == NULL) {
    close(dir);
    return;
  }
  for (struct dirent* entry; (entry = readdir(stream)) != NULL;) {
    const char* name = entry->d_name;
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) continue;
    struct stat st;
    if (fstatat(dirfd(stream), name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    char* rel = join(prefix, name);
    if (rel == NULL) continue;
    if (S_ISDIR(st.st_mode)) {
      const int sub = open_dir_at(dirfd(stream), name);
      if (sub >= 0) walk(sub, rel, out);
      free(rel);
    } else if (add(out, rel) != 0) {
      free(rel);
    }
  }
  closedir(stream);
}

static int by_bytes(const void* a, const void* b) {
  return strcmp(*(char* const*)a, *(char* const*)b);
}

/* Reads up to limit + 1 bytes: more than limit means too big. */
static unsigned char* read_at_most(int fd, uint64_t limit, size_t* size) {
  size_t capacity = 0;
  unsigned char* data = NULL;
  *size = 0;
  for (;;) {
    if (*size == capacity) {
      if ((uint64_t)capacity > limit) break;
      uint64_t want = capacity ? (uint64_t)capacity * 2 : 65536;
      if (want > limit + 1) want = limit + 1;
      unsigned char* grown = realloc(data, (size_t)want);
      if (grown == NULL) break;
      data = grown;
      capacity = (size_t)want;
    }
    const ssize_t n = read(fd, data + *size, capacity - *size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    *size += (size_t)n;
  }
  return data;
}

static const struct ce_file* input_at(const struct ce_request* r,
                                      const char* rel) {
  for (size_t i = 0; i < r->filec; ++i) {
    if (strcmp(r->files[i].path, rel) == 0) return &r->files[i];
  }
  return NULL;
}

static int before(const struct timespec* a, const struct timespec* b) {
  return a->tv_sec < b->tv_sec ||
         (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

int collect_outputs(const struct ce_request* r, const struct timespec* since,
                    char* error, size_t error_size) {
  const int workspace = open_dir_at(AT_FDCWD, r->workspace);
  if (workspace < 0) {
    snprintf(error, error_size, "%s: %s", r->workspace, strerror(errno));
    return -1;
  }
  struct strings paths = {0};
  walk(dup(workspace), "", &paths);
  if (paths.n > 0) qsort(paths.items, paths.n, sizeof(char*), by_bytes);
  uint64_t budget = r->max_output_file_bytes, taken = 0;
  int truncated = 0;
  for (size_t i = 0; i < paths.n; ++i) {
    const char* rel = paths.items[i];
    if (strcmp(rel, r->program.path) == 0) continue;
    const char* base;
    const int dir = open_parent(workspace, rel, &base, NULL, 0);
    if (dir < 0) continue;
    const int fd =
        openat(dir, base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    close(dir);
    if (fd < 0) continue; /* a symlink, or gone */
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        (since != NULL && before(&st.st_mtim, since))) {
      close(fd); /* not a file, or not changed since the cell began */
      continue;
    }
    const struct ce_file* original = input_at(r, rel);
    uint64_t limit = budget;
    if (original != NULL && original->size > limit) limit = original->size;
    size_t size;
    unsigned char* content = read_at_most(fd, limit, &size);
    close(fd);
    if (original != NULL && original->size == size &&
        (size == 0 || memcmp(original->content, content, size) == 0)) {
      free(content); /* an unchanged input */
      continue;
    }
    if (taken >= r->max_output_files || size > budget) {
      truncated = 1; /* smaller files later on may still fit */
    } else {
      emit_file(rel, content, size);
      ++taken;
      budget -= size;
    }
    free(content);
  }
  if (truncated) emit_truncated();
  for (size_t i = 0; i < paths.n; ++i) free(paths.items[i]);
  free(paths.items);
  close(workspace);
  (void)error;
  (void)error_size;
  return 0;
}
