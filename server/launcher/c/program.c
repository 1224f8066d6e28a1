#include "server/launcher/c/program.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "server/launcher/c/frames.h"
#include "server/launcher/frame_format.h"
#include "server/launcher/request_format.h"

extern char** environ;

int is_survived_signal(int signum) {
  switch (signum) {
    case SIGKILL:
    case SIGSTOP:
    case SIGCHLD:
    case SIGTERM:
    case SIGSEGV:
    case SIGBUS:
    case SIGFPE:
    case SIGILL:
    case SIGSYS:
    case SIGTRAP:
      return 0;
    default:
      return 1;
  }
}

void mask_reserved_signals(int how) {
  const uint64_t mask = how == SIG_BLOCK ? 7ull << 31 : 0; /* 32, 33, 34 */
  syscall(SYS_rt_sigprocmask, how, &mask, NULL, sizeof(mask));
}

static int starts_with(const char* s, const char* prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The launcher's environment without what is none of the program's
 * business (the API server's address, our own settings), then the
 * request's entries, a later one replacing an earlier of the same name. */
static char** program_env(const struct ce_request* r) {
  size_t n = 0, count = r->envc;
  for (char** e = environ; *e; ++e) ++count;
  char** env = calloc(count + 1, sizeof(char*));
  if (env == NULL) return NULL;
  for (char** e = environ; *e; ++e) {
    if (!starts_with(*e, "KUBERNETES_") && !starts_with(*e, "CE_") &&
        strchr(*e, '=') != NULL) {
      env[n++] = *e;
    }
  }
  for (size_t i = 0; i < r->envc; ++i) {
    const size_t name = (size_t)(strchr(r->env[i], '=') - r->env[i]) + 1;
    size_t j = 0;
    while (j < n && strncmp(env[j], r->env[i], name) != 0) ++j;
    env[j] = r->env[i];
    if (j == n) ++n;
  }
  return env;
}

int stdin_file(const struct ce_request* r) {
  int fd = memfd_create("stdin", MFD_CLOEXEC);
  if (fd < 0) fd = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  if (write_all(fd, r->stdin_data, r->stdin_size) != 0 ||
      lseek(fd, 0, SEEK_SET) != 0) {
    const int saved = errno;
    close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

/* close_range(lo, hi); nothing to do when lo > hi. */
static int close_span(unsigned lo, unsigned hi) {
  return lo > hi ? 0 : (int)syscall(SYS_close_range, lo, hi, 0);
}

/* Closes descriptors from `first` up, but `keep`. */
static int close_inherited(int first, int keep) {
  const int closed =
      keep >= first ? close_span((unsigned)first, (unsigned)keep - 1) == 0 &&
                          close_span((unsigned)keep + 1, ~0u) == 0
                    : close_span((unsigned)first, ~0u) == 0;
  if (closed) return 0;
  if (errno != ENOSYS) return -1;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == NULL) return -1;
  const int own = dirfd(dir);
  for (struct dirent* entry; (entry = readdir(dir)) != NULL;) {
    const int fd = atoi(entry->d_name);
    if (entry->d_name[0] != '.' && fd >= first && fd != keep && fd != own) {
      close(fd);
    }
  }
  closedir(dir);
  return 0;
}

/* In the child: never returns. Reports a failure through fail_fd. Runs
 * argv (the request's command, a prestart's starter or a session's kernel);
 * extra[0] and extra[1] (where >= 0) become fds 3 and 4. */
__attribute__((noreturn)) static void exec_child(const struct ce_request* r,
                                                 char* const* argv, char** env,
                                                 int stdin_fd, int out_fd,
                                                 int err_fd, int fail_fd,
                                                 const int* extra) {
  const char* step = "setsid";
  int ok = setsid() >= 0;
  struct sigaction dfl = {.sa_handler = SIG_DFL};
  for (int s = 1; s < NSIG; ++s) {
    if (is_survived_signal(s) || s == SIGTERM) sigaction(s, &dfl, NULL);
  }
  mask_reserved_signals(SIG_SETMASK);
  if (ok) {
    step = "dup2";
    ok = dup2(stdin_fd, 0) == 0 && dup2(out_fd, 1) == 1 && dup2(err_fd, 2) == 2;
  }
  const int extras = extra[0] < 0 ? 0 : extra[1] < 0 ? 1 : 2;
  const int first_free = 3 + extras;
  if (ok && extras > 0) {
    /* Everything moves above 3..first_free-1 first, then into place (dup2
     * clears close-on-exec on the copies the program keeps). */
    step = "dup";
    if (fail_fd < first_free) {
      fail_fd = fcntl(fail_fd, F_DUPFD_CLOEXEC, first_free);
      ok = fail_fd >= 0;
    }
    int moved[2] = {-1, -1};
    for (int i = 0; ok && i < extras; ++i) {
      moved[i] = fcntl(extra[i], F_DUPFD_CLOEXEC, first_free);
      ok = moved[i] >= 0;
    }
    for (int i = 0; ok && i < extras; ++i) ok = dup2(moved[i], 3 + i) == 3 + i;
  }
  if (ok) {
    /* Nothing else the launcher was given reaches the program (fail_fd
     * closes at exec). Where close_range is missing, /proc/self/fd. */
    step = "closing inherited descriptors";
    ok = close_inherited(first_free, fail_fd) == 0;
  }
  if (ok) {
    step = "chdir";
    ok = chdir(r->workspace) == 0;
  }
  if (ok && r->has_run_as) {
    step = "run_as";
    ok = setgroups(0, NULL) == 0 && setgid(r->gid) == 0 && setuid(r->uid) == 0;
  }
  if (ok) {
    environ = env; /* execvp searches the program's PATH */
    execvp(argv[0], argv);
    step = NULL;
  }
  char message[1024];
  const int n = step ? snprintf(message, sizeof(message), "%s: %s: %s", argv[0],
                                step, strerror(errno))
                     : snprintf(message, sizeof(message), "%s: %s", argv[0],
                                strerror(errno));
  if (n > 0) write_all(fail_fd, message, (size_t)n);
  _exit(127);
}

static void close_all(const int* fds, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (fds[i] >= 0) close(fds[i]);
  }
}

int wait_program(struct ce_program* p, int options) {
  while (!p->exited) {
    const pid_t pid = waitpid(p->pid, &p->status, options);
    if (pid == p->pid) p->exited = 1;
    if (pid == 0 || (pid < 0 && errno != EINTR)) break;
  }
  if (!p->exited) return -1;
  return WIFSIGNALED(p->status) ? 128 + WTERMSIG(p->status)
                                : WEXITSTATUS(p->status);
}

int start_child(const struct ce_request* r, char* const* argv, int stdin_fd,
                const int* extra, struct ce_program* p, char* error,
                size_t error_size) {
  int out[2] = {-1, -1}, err[2] = {-1, -1}, fail[2] = {-1, -1};
  char** env = program_env(r);
  if (env == NULL || stdin_fd < 0 || pipe2(out, O_CLOEXEC) != 0 ||
      pipe2(err, O_CLOEXEC) != 0 || pipe2(fail, O_CLOEXEC) != 0) {
    snprintf(error, error_size, "preparing the program: %s", strerror(errno));
    return -1;
  }
  memset(p, 0, sizeof(*p));
  p->pid = fork();
  if (p->pid == 0) {
    exec_child(r, argv, env, stdin_fd, out[1], err[1], fail[1], extra);
  }
  const int saved = errno;
  const int ours[] = {out[1], err[1], fail[1], stdin_fd, extra[0], extra[1]};
  close_all(ours, 6);
  free(env);
  p->stdout_fd = out[0];
  p->stderr_fd = err[0];
  if (p->pid < 0) {
    snprintf(error, error_size, "fork: %s", strerror(saved));
    const int rest[] = {out[0], err[0], fail[0]};
    close_all(rest, 3);
    return -1;
  }
  /* EOF on the close-on-exec pipe means exec worked. */
  size_t n = 0;
  for (ssize_t got; n + 1 < error_size; n += (size_t)got) {
    got = read(fail[0], error + n, error_size - n - 1);
    if (got < 0 && errno == EINTR)
      got = 0;
    else if (got <= 0)
      break;
  }
  close(fail[0]);
  if (n == 0) return 0;
  error[n] = '\0';
  wait_program(p, 0);
  const int rest[] = {out[0], err[0]};
  close_all(rest, 2);
  return -1;
}

int start_program(const struct ce_request* r, struct ce_program* p, char* error,
                  size_t error_size) {
  const int none[2] = {-1, -1};
  return start_child(r, r->argv, stdin_file(r), none, p, error, error_size);
}

int prestart(const struct ce_request* pre, struct ce_prestarted* z, char* error,
             size_t error_size) {
  memset(z, 0, sizeof(*z));
  z->stdin_fd = z->go_fd = -1;
  int go[2] = {-1, -1};
  const struct ce_request empty = {0};
  const int stdin_fd = stdin_file(&empty);
  /* Its stdin is the memfd we keep a descriptor of: the request's stdin is
   * written into it (sharing the file offset) before the go. */
  const int kept = stdin_fd >= 0 ? fcntl(stdin_fd, F_DUPFD_CLOEXEC, 3) : -1;
  if (kept < 0 || pipe2(go, O_CLOEXEC) != 0) {
    snprintf(error, error_size, "preparing the prestart: %s", strerror(errno));
    if (stdin_fd >= 0) close(stdin_fd);
    if (kept >= 0) close(kept);
    return -1;
  }
  const int extra[2] = {go[0], -1};
  if (start_child(pre, pre->prestart_argv, stdin_fd, extra, &z->program, error,
                  error_size) != 0) {
    close(kept);
    close(go[1]);
    return -1;
  }
  z->stdin_fd = kept;
  z->go_fd = go[1];
  return 0;
}

int prestart_fits(const struct ce_request* pre, const struct ce_request* r) {
  const size_t k = pre->prestart_shared_args;
  if (r->argc <= k || r->envc != pre->envc ||
      strcmp(r->workspace, pre->workspace) != 0 ||
      r->has_run_as != pre->has_run_as ||
      (r->has_run_as && (r->uid != pre->uid || r->gid != pre->gid))) {
    return 0;
  }
  for (size_t i = 0; i < k; ++i) {
    if (strcmp(r->argv[i], pre->argv[i]) != 0) return 0;
  }
  for (size_t i = 0; i < r->envc; ++i) {
    if (strcmp(r->env[i], pre->env[i]) != 0) return 0;
  }
  /* Argument k is the file to run, not an option of the interpreter. */
  const char* file = r->argv[k];
  if (file[0] == '-') return 0;
  const int dir = open(r->workspace, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  struct stat st;
  const int regular = dir >= 0 &&
                      fstatat(dir, file, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                      S_ISREG(st.st_mode);
  if (dir >= 0) close(dir);
  return regular;
}

void discard_prestarted(struct ce_prestarted* z) {
  if (z->program.pid <= 0) return;
  kill(-z->program.pid, SIGKILL);
  wait_program(&z->program, 0);
  const int fds[] = {z->program.stdout_fd, z->program.stderr_fd, z->stdin_fd,
                     z->go_fd};
  close_all(fds, 4);
  memset(z, 0, sizeof(*z));
}

int run_prestarted(const struct ce_request* pre, const struct ce_request* r,
                   struct ce_prestarted* z, struct ce_program* p) {
  if (wait_program(&z->program, WNOHANG) >= 0) { /* it died waiting */
    discard_prestarted(z);
    return -1;
  }
  int ok = write_all(z->stdin_fd, r->stdin_data, r->stdin_size) == 0 &&
           lseek(z->stdin_fd, 0, SEEK_SET) == 0;
  for (size_t i = pre->prestart_shared_args; ok && i < r->argc; ++i) {
    const int first = i == pre->prestart_shared_args;
    ok = (first || write_all(z->go_fd, "", 1) == 0) &&
         write_all(z->go_fd, r->argv[i], strlen(r->argv[i])) == 0;
  }
  if (!ok) {
    discard_prestarted(z);
    return -1;
  }
  close(z->stdin_fd);
  close(z->go_fd); /* end of file: go */
  *p = z->program;
  memset(z, 0, sizeof(*z));
  return 0;
}

/* SIGKILLs what is left of the program: its process group and, when we are
 * the container's init (pid 1), every other process too. */
static void end_run(const struct ce_program* p) {
  kill(-p->pid, SIGKILL);
  if (getpid() == 1) kill(-1, SIGKILL);
}

int read_interrupt(int* fd) {
  unsigned char bytes[64];
  const ssize_t n = read(*fd, bytes, sizeof(bytes));
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return 0;
  if (n <= 0) { /* the host closed the stream: nothing more to read */
    *fd = -1;
    return 0;
  }
  return memchr(bytes, CE_REQ_INTERRUPT, (size_t)n) != NULL;
}

static int64_t now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int pump(const struct ce_request* r, struct ce_program* p, int interrupt_fd) {
  struct pollfd fds[3] = {{.fd = p->stdout_fd, .events = POLLIN},
                          {.fd = p->stderr_fd, .events = POLLIN},
                          {.fd = interrupt_fd, .events = POLLIN}};
  const char tags[2] = {CE_FRAME_STDOUT, CE_FRAME_STDERR};
  int open_fds = 2;
  /* Forward max_output_bytes + 1, no more: the host sees the limit hit. */
  const int limited = r->max_output_bytes > 0;
  uint64_t budget = r->max_output_bytes + 1;
  int64_t drain_deadline = -1;
  static unsigned char chunk[CE_FRAME_CHUNK_BYTES];
  while (open_fds > 0) {
    int events = poll(fds, 3, 100);
    if (events < 0) events = 0; /* EINTR: a signal we outlive */
    if (fds[2].fd >= 0 && fds[2].revents != 0 && read_interrupt(&fds[2].fd)) {
      kill(-p->pid, SIGINT);
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      ssize_t n = read(fds[i].fd, chunk, sizeof(chunk));
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
        continue;
      }
      if (limited) {
        if ((uint64_t)n > budget) n = (ssize_t)budget;
        budget -= (uint64_t)n;
        if (budget == 0) end_run(p);
      }
      if (n > 0) emit_chunk(tags[i], chunk, (size_t)n);
    }
    if (wait_program(p, WNOHANG) >= 0) {
      if (drain_deadline < 0) { /* the run ends with the program */
        end_run(p);
        drain_deadline = now_ms() + r->drain_ms;
      } else if (events == 0 && now_ms() > drain_deadline) {
        break; /* an escaped process still holds a pipe open */
      }
    }
  }
  return wait_program(p, 0);
}
