/* The program as the launcher's child: its own session, stdout and stderr
 * on pipes of ours, stdin from the request, the request's user (if any),
 * a clean environment and default signal dispositions. */
#ifndef CODEEXEC_SERVER_LAUNCHER_C_PROGRAM_H_
#define CODEEXEC_SERVER_LAUNCHER_C_PROGRAM_H_

#include <stddef.h>
#include <sys/types.h>

#include "server/launcher/c/request.h"

struct ce_program {
  pid_t pid;
  int stdout_fd, stderr_fd;
  int status; /* valid once exited */
  int exited;
};

/* Signals the launcher outlives when a program sends them: all but SIGKILL
 * and SIGSTOP (cannot be caught), SIGCHLD (default), SIGTERM (forwarded to
 * the program) and the faults a real crash raises (a handler would loop).
 * Returns 1 for those. */
int is_survived_signal(int signum);

/* The signals (32-34) musl keeps for itself: sigaction refuses them, so the
 * launcher blocks them instead (raw rt_sigprocmask) and the program starts
 * with an empty mask. how: SIG_BLOCK, or SIG_SETMASK to clear the mask. */
void mask_reserved_signals(int how);

/* Starts the program; 0, or -1 with a message in error (the command was not
 * found, the workspace is gone, ...). */
int start_program(const struct ce_request* request, struct ce_program* program,
                  char* error, size_t error_size);

/* A starter (PRESTART, ../request_format.h) waiting for its request. */
struct ce_prestarted {
  struct ce_program program; /* pid 0: none */
  int stdin_fd;              /* our descriptor of its stdin memfd */
  int go_fd;                 /* the write end of its fd 3 */
};

/* Starts prestart's starter; 0, or -1 with a message in error. */
int prestart(const struct ce_request* prestart, struct ce_prestarted* z,
             char* error, size_t error_size);
/* 1 if request can be run by the starter of prestart (after write_inputs:
 * its file must be in the workspace). */
int prestart_fits(const struct ce_request* prestart,
                  const struct ce_request* request);
/* Gives the starter request's stdin and arguments; it becomes program.
 * 0, or -1 when the starter is gone (it is discarded: start cold). */
int run_prestarted(const struct ce_request* prestart,
                   const struct ce_request* request, struct ce_prestarted* z,
                   struct ce_program* program);
/* Kills and reaps a starter that is not used. */
void discard_prestarted(struct ce_prestarted* z);

/* Forwards the program's pipes as o/e frames until EOF (or the drain time
 * after the program exited), enforcing max_output_bytes; returns its exit
 * code (signal N -> 128 + N). */
int pump(const struct ce_request* request, struct ce_program* program);

#endif /* CODEEXEC_SERVER_LAUNCHER_C_PROGRAM_H_ */
