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

/* The program's stdin: the request's bytes in a memfd (a file in /tmp if
 * memfd_create is missing), so any size is there without a writer; -1 on
 * failure. */
int stdin_file(const struct ce_request* request);

/* Starts argv as request's program would be (session, pipes, user, cwd,
 * env), with stdin_fd as its stdin and extra[0], extra[1] (where >= 0) as
 * its fds 3 and 4; closes stdin_fd and the extras here. 0, or -1 with a
 * message in error. */
int start_child(const struct ce_request* request, char* const* argv,
                int stdin_fd, const int* extra, struct ce_program* program,
                char* error, size_t error_size);

/* Reaps the program (options as waitpid's, e.g. WNOHANG); its exit code
 * (signal N -> 128 + N), or -1 while it runs. */
int wait_program(struct ce_program* program, int options);

/* Reads what is there on the host's stream during a run; 1 if it held a
 * CE_REQ_INTERRUPT byte. At the stream's end sets *fd to -1. */
int read_interrupt(int* fd);

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
 * code (signal N -> 128 + N). interrupt_fd (>= 0: the host's stream, in
 * session mode) is watched for CE_REQ_INTERRUPT: SIGINT to the program's
 * process group. */
int pump(const struct ce_request* request, struct ce_program* program,
         int interrupt_fd);

#endif /* CODEEXEC_SERVER_LAUNCHER_C_PROGRAM_H_ */
