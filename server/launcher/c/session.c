#include "server/launcher/c/session.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "server/launcher/c/frames.h"
#include "server/launcher/c/program.h"
#include "server/launcher/c/request.h"
#include "server/launcher/c/workspace.h"
#include "server/launcher/frame_format.h"
#include "server/launcher/request_format.h"

/* The session's kernel, once a cell has started it. */
struct kernel {
  struct ce_program program; /* pid 0: not started */
  int cmd_fd;                /* the write end of its fd 3 */
  int status_fd;             /* the read end of its fd 4 */
};

static int start_kernel(const struct ce_request* r, struct kernel* k,
                        char* error, size_t error_size) {
  int cmd[2] = {-1, -1}, status[2] = {-1, -1};
  const struct ce_request empty = {0};
  const int stdin_fd = stdin_file(&empty);
  if (stdin_fd < 0 || pipe2(cmd, O_CLOEXEC) != 0 ||
      pipe2(status, O_CLOEXEC) != 0) {
    snprintf(error, error_size, "preparing the kernel: %s", strerror(errno));
    const int fds[] = {stdin_fd, cmd[0], cmd[1], status[0], status[1]};
    for (size_t i = 0; i < 5; ++i) {
      if (fds[i] >= 0) close(fds[i]);
    }
    return -1;
  }
  const int extra[2] = {cmd[0], status[1]};
  if (start_child(r, r->kernel_argv, stdin_fd, extra, &k->program, error,
                  error_size) != 0) {
    close(cmd[1]);
    close(status[0]);
    k->program.pid = 0;
    return -1;
  }
  k->cmd_fd = cmd[1];
  k->status_fd = status[0];
  /* Its pipes outlive each cell: read without blocking, so what a cell
   * left in them can be drained once its status has come. */
  fcntl(k->program.stdout_fd, F_SETFL, O_NONBLOCK);
  fcntl(k->program.stderr_fd, F_SETFL, O_NONBLOCK);
  return 0;
}

/* A u32 length, then arguments k.. of the cell's command, NUL-separated;
 * -1 if the kernel is gone. */
static int send_cell(const struct kernel* k, const struct ce_request* r) {
  const size_t first = r->kernel_shared_args;
  uint32_t length = 0;
  for (size_t i = first; i < r->argc; ++i) {
    length += (uint32_t)strlen(r->argv[i]) + (i > first ? 1u : 0u);
  }
  const unsigned char header[4] = {length & 0xff, (length >> 8) & 0xff,
                                   (length >> 16) & 0xff, length >> 24};
  int ok = write_all(k->cmd_fd, header, sizeof(header)) == 0;
  for (size_t i = first; ok && i < r->argc; ++i) {
    ok = (i == first || write_all(k->cmd_fd, "", 1) == 0) &&
         write_all(k->cmd_fd, r->argv[i], strlen(r->argv[i])) == 0;
  }
  return ok ? 0 : -1;
}

/* Forwards what one of the kernel's pipes holds now; 0 at its end. */
static int forward(int* fd, char tag, int limited, uint64_t* budget,
                   const struct kernel* k, int* interrupted) {
  static unsigned char chunk[CE_FRAME_CHUNK_BYTES];
  for (;;) {
    ssize_t n = read(*fd, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return 1; /* EAGAIN: all of it for now */
    if (n == 0) {
      *fd = -1;
      return 0;
    }
    if (limited) {
      if ((uint64_t)n > *budget) n = (ssize_t)*budget;
      *budget -= (uint64_t)n;
      /* At the cap the cell is interrupted; the rest is dropped. */
      if (*budget == 0 && !*interrupted) {
        kill(-k->program.pid, SIGINT);
        *interrupted = 1;
      }
    }
    if (n > 0) emit_chunk(tag, chunk, (size_t)n);
  }
}

/* Forwards the kernel's output until its status for this cell comes, then
 * what the cell left in its pipes; returns the cell's exit code. A kernel
 * that exits instead sets *ended and its exit code is returned. */
static int pump_kernel_cell(const struct ce_request* r, struct kernel* k,
                            int* ended) {
  int out = k->program.stdout_fd, err = k->program.stderr_fd, in = 0;
  const int limited = r->max_output_bytes > 0;
  uint64_t budget = r->max_output_bytes + 1;
  int interrupted = 0;
  unsigned char status[4];
  size_t have = 0;
  for (;;) {
    struct pollfd fds[4] = {{.fd = out, .events = POLLIN},
                            {.fd = err, .events = POLLIN},
                            {.fd = k->status_fd, .events = POLLIN},
                            {.fd = in, .events = POLLIN}};
    if (poll(fds, 4, 100) < 0 && errno != EINTR) return 125;
    if (fds[3].revents != 0 && read_interrupt(&in)) {
      kill(-k->program.pid, SIGINT);
    }
    if (fds[0].revents != 0)
      forward(&out, CE_FRAME_STDOUT, limited, &budget, k, &interrupted);
    if (fds[1].revents != 0)
      forward(&err, CE_FRAME_STDERR, limited, &budget, k, &interrupted);
    if (fds[2].revents != 0) {
      const ssize_t n =
          read(k->status_fd, status + have, sizeof(status) - have);
      if (n > 0) have += (size_t)n;
      if (have == sizeof(status)) { /* the cell's output is in the pipes */
        if (out >= 0)
          forward(&out, CE_FRAME_STDOUT, limited, &budget, k, &interrupted);
        if (err >= 0)
          forward(&err, CE_FRAME_STDERR, limited, &budget, k, &interrupted);
        return (int)(int32_t)((uint32_t)status[0] | (uint32_t)status[1] << 8 |
                              (uint32_t)status[2] << 16 |
                              (uint32_t)status[3] << 24);
      }
    }
    const int code = wait_program(&k->program, WNOHANG);
    if (code >= 0) { /* what it wrote before it exited, then its end */
      if (out >= 0)
        forward(&out, CE_FRAME_STDOUT, limited, &budget, k, &interrupted);
      if (err >= 0)
        forward(&err, CE_FRAME_STDERR, limited, &budget, k, &interrupted);
      *ended = 1;
      return code;
    }
  }
}

/* Ends the kernel (and, as the sandbox's init, every process it left). */
static void end_kernel(struct kernel* k) {
  if (k->program.pid <= 0) return;
  kill(-k->program.pid, SIGKILL);
  if (getpid() == 1) kill(-1, SIGKILL);
  wait_program(&k->program, 0);
}

/* One cell; *ended once the session is over. */
static int run_cell(const struct ce_request* r, struct kernel* k, int* ended) {
  char error[4096];
  if (write_inputs(r, 1, error, sizeof(error)) != 0) {
    report("%s", error);
    return CE_EXIT_NOT_STARTED;
  }
  struct timespec since;
  clock_gettime(CLOCK_REALTIME, &since);
  int code;
  if (r->kernel_argv != NULL) {
    if (k->program.pid == 0 && start_kernel(r, k, error, sizeof(error)) != 0) {
      report("%s", error);
      code = CE_EXIT_NOT_STARTED;
    } else if (send_cell(k, r) != 0) { /* it exited between cells */
      code = wait_program(&k->program, 0);
      *ended = 1;
    } else {
      code = pump_kernel_cell(r, k, ended);
    }
  } else {
    struct ce_program program;
    if (start_program(r, &program, error, sizeof(error)) != 0) {
      report("%s", error);
      code = CE_EXIT_NOT_STARTED;
    } else {
      code = pump(r, &program, 0);
    }
  }
  if (collect_outputs(r, &since, error, sizeof(error)) != 0) {
    report("%s", error);
  }
  return code;
}

int run_session(struct ce_request* first, unsigned char* first_buffer) {
  struct kernel kernel = {.program = {.pid = 0}, .cmd_fd = -1, .status_fd = -1};
  char error[4096];
  for (;;) {
    int closed = 0;
    unsigned char* buffer = first_buffer;
    struct ce_request request;
    if (first != NULL) {
      request = *first;
      first = NULL;
    } else {
      buffer = read_next_request(0, &closed, error, sizeof(error));
      if (buffer == NULL && closed) {
        end_kernel(&kernel);
        return 0;
      }
      if (buffer != NULL &&
          parse_request(buffer, &request, error, sizeof(error)) != 0) {
        free(buffer);
        buffer = NULL;
      }
    }
    if (buffer == NULL ||
        (request.prestart_argv != NULL &&
         snprintf(error, sizeof(error),
                  "request: a prestart comes only in waiting mode") > 0)) {
      end_kernel(&kernel);
      report_refusal("%s", error);
      return CE_EXIT_BAD_REQUEST;
    }
    int ended = 0;
    const int code = run_cell(&request, &kernel, &ended);
    free_request(&request, buffer);
    if (ended) {
      emit_session_end(code);
      end_kernel(&kernel);
      return code;
    }
    emit_exit(code);
  }
}
