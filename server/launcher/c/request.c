#include "server/launcher/c/request.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/launcher/request_format.h"

static void fail(char* error, size_t size, const char* format, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(char* error, size_t size, const char* format, ...) {
  va_list args;
  va_start(args, format);
  vsnprintf(error, size, format, args);
  va_end(args);
}

static uint32_t u32(const unsigned char* p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

static uint64_t u64(const unsigned char* p) {
  return (uint64_t)u32(p) | (uint64_t)u32(p + 4) << 32;
}

/* Reads exactly size bytes; 0 on success, else -1 (errno 0: early EOF). */
static int read_exactly(int fd, unsigned char* out, size_t size) {
  while (size > 0) {
    ssize_t n = read(fd, out, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = 0;
      return -1;
    }
    out += n;
    size -= (size_t)n;
  }
  return 0;
}

/* The header's body length, or -1 with a message if the header is bad. */
static int64_t body_length(const unsigned char* header, char* error,
                           size_t error_size) {
  if (memcmp(header, CE_REQ_MAGIC, CE_REQ_MAGIC_BYTES) != 0) {
    fail(error, error_size, "request: not a request (bad magic)");
    return -1;
  }
  if (u32(header + 4) != CE_REQ_VERSION) {
    fail(error, error_size, "request: unsupported version %u (want %u)",
         u32(header + 4), CE_REQ_VERSION);
    return -1;
  }
  const uint32_t length = u32(header + 8);
  if (length > CE_REQ_MAX_BODY_BYTES) {
    fail(error, error_size, "request: body of %u bytes exceeds %u", length,
         CE_REQ_MAX_BODY_BYTES);
    return -1;
  }
  return length;
}

/* Reads the header and the body it announces; the file variant also wants
 * nothing after it. */
static unsigned char* read_request(int fd, int want_eof, int* ended,
                                   char* error, size_t error_size) {
  unsigned char header[CE_REQ_HEADER_BYTES];
  size_t have = 0;
  if (!want_eof) { /* a stream: primer and interrupt bytes are skipped */
    do {
      if (read_exactly(fd, header, 1) != 0) {
        if (ended != NULL && errno == 0) {
          *ended = 1;
          return NULL;
        }
        fail(error, error_size, "request: truncated header (%s)",
             errno ? strerror(errno) : "end of input");
        return NULL;
      }
    } while (header[0] == CE_REQ_PRIMER || header[0] == CE_REQ_INTERRUPT);
    have = 1;
  }
  if (read_exactly(fd, header + have, sizeof(header) - have) != 0) {
    fail(error, error_size, "request: truncated header (%s)",
         errno ? strerror(errno) : "end of input");
    return NULL;
  }
  const int64_t length = body_length(header, error, error_size);
  if (length < 0) return NULL;
  struct stat st; /* a file's size is known: no buffer for a short one */
  if (want_eof && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
      st.st_size != (off_t)(sizeof(header) + (size_t)length)) {
    fail(error, error_size, "request: file of %lld bytes announces %lld",
         (long long)st.st_size, (long long)(sizeof(header) + (size_t)length));
    return NULL;
  }
  unsigned char* buffer = malloc(sizeof(header) + (size_t)length + 1);
  if (buffer == NULL) {
    fail(error, error_size, "request: no memory for %lld bytes",
         (long long)length);
    return NULL;
  }
  memcpy(buffer, header, sizeof(header));
  if (read_exactly(fd, buffer + sizeof(header), (size_t)length) != 0) {
    fail(error, error_size, "request: truncated body (%s)",
         errno ? strerror(errno) : "end of input");
    free(buffer);
    return NULL;
  }
  if (want_eof) {
    unsigned char extra;
    ssize_t n;
    while ((n = read(fd, &extra, 1)) < 0 && errno == EINTR) {
    }
    if (n != 0) {
      fail(error, error_size, "request: bytes after the announced body");
      free(buffer);
      return NULL;
    }
  }
  return buffer;
}

unsigned char* read_request_file(const char* path, char* error,
                                 size_t error_size) {
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    fail(error, error_size, "request: %s: %s", path, strerror(errno));
    return NULL;
  }
  unsigned char* buffer = read_request(fd, 1, NULL, error, error_size);
  close(fd);
  return buffer;
}

unsigned char* read_request_fd(int fd, char* error, size_t error_size) {
  return read_request(fd, 0, NULL, error, error_size);
}

unsigned char* read_next_request(int fd, int* ended, char* error,
                                 size_t error_size) {
  *ended = 0;
  return read_request(fd, 0, ended, error, error_size);
}

int is_safe_relative_path(const char* path) {
  if (*path == '\0' || *path == '/') return 0;
  for (const char* part = path;;) {
    const char* end = strchrnul(part, '/');
    const size_t n = (size_t)(end - part);
    if (n == 0 || (n == 1 && part[0] == '.') ||
        (n == 2 && part[0] == '.' && part[1] == '.')) {
      return 0;
    }
    if (*end == '\0') return 1;
    part = end + 1;
  }
}

/* A NUL-terminated copy of a string value (which must hold no NUL). */
static char* string_value(const unsigned char* value, size_t size) {
  if (memchr(value, '\0', size) != NULL) return NULL;
  char* copy = malloc(size + 1);
  if (copy == NULL) return NULL;
  memcpy(copy, value, size);
  copy[size] = '\0';
  return copy;
}

static int parse_file(const unsigned char* value, size_t size,
                      struct ce_file* file, char* error, size_t error_size) {
  if (size < 8) {
    fail(error, error_size, "request: workspace file record too short");
    return -1;
  }
  file->mode = u32(value);
  const uint32_t path_size = u32(value + 4);
  if (file->mode & ~0777u) {
    fail(error, error_size, "request: file mode %o has more than permissions",
         file->mode);
    return -1;
  }
  if (path_size > size - 8 || path_size > CE_REQ_MAX_PATH_BYTES) {
    fail(error, error_size, "request: file path length %u is past the record",
         path_size);
    return -1;
  }
  file->path = string_value(value + 8, path_size);
  if (file->path == NULL || !is_safe_relative_path(file->path)) {
    fail(error, error_size, "request: bad workspace path \"%.*s\"",
         (int)path_size, (const char*)value + 8);
    return -1;
  }
  file->content = value + 8 + path_size;
  file->size = size - 8 - path_size;
  return 0;
}

/* Appends to a growing array of n elements of element_size bytes. */
static void* append(void* array, size_t* n, size_t element_size) {
  void* grown = realloc(array, (*n + 2) * element_size);
  if (grown != NULL) ++*n;
  return grown;
}

/* Reads a record's fixed-size integer value. */
static int number(const unsigned char* value, size_t size, size_t want,
                  uint64_t* out, char* error, size_t error_size) {
  if (size != want) {
    fail(error, error_size, "request: a number of %zu bytes (want %zu)", size,
         want);
    return -1;
  }
  *out = want == 4 ? u32(value) : u64(value);
  return 0;
}

#define FAIL(...)                         \
  do {                                    \
    fail(error, error_size, __VA_ARGS__); \
    return -1;                            \
  } while (0)

/* PRESTART and KERNEL: u32 k, then NUL-terminated argv entries (at least
 * one). */
static int parse_starter(const unsigned char* value, size_t size,
                         const char* what, char*** argv, size_t* argc,
                         uint32_t* shared_args, char* error,
                         size_t error_size) {
  if (size < 5 || value[size - 1] != '\0') {
    FAIL("request: %s must be k and NUL-terminated arguments", what);
  }
  *shared_args = u32(value);
  for (size_t at = 4; at < size;) {
    const size_t n = strlen((const char*)value + at);
    if (*argc >= CE_REQ_MAX_ARGS) FAIL("request: too many arguments");
    char* arg = malloc(n + 1);
    *argv = append(*argv, argc, sizeof(char*));
    if (arg == NULL || *argv == NULL) FAIL("request: out of memory");
    memcpy(arg, value + at, n + 1);
    (*argv)[*argc - 1] = arg;
    (*argv)[*argc] = NULL;
    at += n + 1;
  }
  return 0;
}

static int parse_record(uint32_t tag, const unsigned char* value, size_t size,
                        struct ce_request* r, char* error, size_t error_size) {
  uint64_t n = 0;
  char* text = NULL;
  switch (tag) {
    case CE_TAG_ARG:
    case CE_TAG_ENV:
    case CE_TAG_WORKSPACE:
      text = string_value(value, size);
      if (text == NULL) FAIL("request: tag %u: a string with a NUL byte", tag);
      if (tag == CE_TAG_ARG) {
        if (r->argc >= CE_REQ_MAX_ARGS) FAIL("request: too many arguments");
        if ((r->argv = append(r->argv, &r->argc, sizeof(char*))) == NULL) {
          FAIL("request: out of memory");
        }
        r->argv[r->argc - 1] = text;
        r->argv[r->argc] = NULL;
      } else if (tag == CE_TAG_ENV) {
        if (r->envc >= CE_REQ_MAX_ENV) FAIL("request: too many env entries");
        const char* equals = strchr(text, '=');
        if (equals == NULL || equals == text) {
          FAIL("request: env entry \"%s\" is not NAME=VALUE", text);
        }
        if ((r->env = append(r->env, &r->envc, sizeof(char*))) == NULL) {
          FAIL("request: out of memory");
        }
        r->env[r->envc - 1] = text;
      } else {
        if (text[0] != '/') FAIL("request: workspace \"%s\" is relative", text);
        r->workspace = text;
      }
      return 0;
    case CE_TAG_RUN_AS:
      if (size != 8) FAIL("request: run_as must be 8 bytes");
      r->has_run_as = 1;
      r->uid = u32(value);
      r->gid = u32(value + 4);
      if (r->uid == 0 || r->gid == 0) {
        FAIL("request: run_as must be [uid, gid], both > 0");
      }
      return 0;
    case CE_TAG_MAX_OUTPUT_BYTES:
      return number(value, size, 8, &r->max_output_bytes, error, error_size);
    case CE_TAG_MAX_OUTPUT_FILES:
      return number(value, size, 8, &r->max_output_files, error, error_size);
    case CE_TAG_MAX_OUTPUT_FILE_BYTES:
      return number(value, size, 8, &r->max_output_file_bytes, error,
                    error_size);
    case CE_TAG_DRAIN_MS:
      if (number(value, size, 4, &n, error, error_size) != 0) return -1;
      r->drain_ms = (uint32_t)n;
      return 0;
    case CE_TAG_PROGRAM:
      return parse_file(value, size, &r->program, error, error_size);
    case CE_TAG_FILE:
      if (r->filec >= CE_REQ_MAX_FILES) FAIL("request: too many input files");
      if ((r->files = append(r->files, &r->filec, sizeof(*r->files))) == NULL) {
        FAIL("request: out of memory");
      }
      return parse_file(value, size, &r->files[r->filec - 1], error,
                        error_size);
    case CE_TAG_STDIN:
      r->stdin_data = value;
      r->stdin_size = size;
      return 0;
    case CE_TAG_PRESTART:
      return parse_starter(value, size, "prestart", &r->prestart_argv,
                           &r->prestart_argc, &r->prestart_shared_args, error,
                           error_size);
    case CE_TAG_KERNEL:
      return parse_starter(value, size, "kernel", &r->kernel_argv,
                           &r->kernel_argc, &r->kernel_shared_args, error,
                           error_size);
    case CE_TAG_SESSION:
      if (size != 0) FAIL("request: session must be empty");
      r->session = 1;
      return 0;
    default:
      FAIL("request: unknown tag %u", tag);
  }
}

int parse_request(const unsigned char* buffer, struct ce_request* r,
                  char* error, size_t error_size) {
  memset(r, 0, sizeof(*r));
  r->drain_ms = CE_REQ_DEFAULT_DRAIN_MS;
  const unsigned char* p = buffer + CE_REQ_HEADER_BYTES;
  const unsigned char* const end = p + u32(buffer + 8);
  uint32_t seen = 0; /* single tags met so far, a bit each */
  while (p < end) {
    if ((size_t)(end - p) < CE_REQ_RECORD_HEADER_BYTES) {
      FAIL("request: truncated record header");
    }
    const uint32_t tag = u32(p);
    const uint32_t size = u32(p + 4);
    p += CE_REQ_RECORD_HEADER_BYTES;
    if (size > (size_t)(end - p)) {
      FAIL("request: tag %u: length %u is past the end", tag, size);
    }
    const uint32_t bit = tag < 32 ? 1u << tag : 0;
    if (tag != CE_TAG_ARG && tag != CE_TAG_ENV && tag != CE_TAG_FILE &&
        (seen & bit)) {
      FAIL("request: tag %u appears twice", tag);
    }
    seen |= bit;
    if (parse_record(tag, p, size, r, error, error_size) != 0) return -1;
    p += size;
  }
  if (r->argc == 0) FAIL("request: command must be a non-empty list");
  if (r->workspace == NULL) FAIL("request: no workspace");
  if (r->prestart_argv != NULL) {
    if (r->prestart_shared_args == 0 || r->prestart_shared_args >= r->argc) {
      FAIL("request: prestart shares %u of %zu arguments",
           r->prestart_shared_args, r->argc);
    }
    return 0; /* a prestart needs no program */
  }
  if (r->program.path == NULL) FAIL("request: no program");
  if (r->kernel_argv != NULL &&
      (r->kernel_shared_args == 0 || r->kernel_shared_args >= r->argc)) {
    FAIL("request: kernel shares %u of %zu arguments", r->kernel_shared_args,
         r->argc);
  }
  return 0;
}

static void free_strings(char** strings, size_t n) {
  for (size_t i = 0; i < n; ++i) free(strings[i]);
  free(strings);
}

void free_request(struct ce_request* r, unsigned char* buffer) {
  free_strings(r->argv, r->argc);
  free_strings(r->env, r->envc);
  free_strings(r->prestart_argv, r->prestart_argc);
  free_strings(r->kernel_argv, r->kernel_argc);
  free(r->workspace);
  free(r->program.path);
  for (size_t i = 0; i < r->filec; ++i) free(r->files[i].path);
  free(r->files);
  free(buffer);
  memset(r, 0, sizeof(*r));
}
