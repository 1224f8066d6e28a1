/* code-executor launcher: runs one program inside a sandbox.
 *
 * The sandbox's first process, in both backends (the container's init under
 * runsc on gvisor-local, a pod's container command on kubernetes). Static,
 * it needs nothing from the image but the program's interpreter:
 *
 *   launcher <request-file>   cold mode: the run's request is a file
 *   launcher --wait           waiting mode: blocks reading exactly one
 *                             request from stdin, then runs it the same way;
 *                             a PRESTART before it starts the interpreter
 *                             ahead (../request_format.h)
 *   launcher --session        session mode: runs requests from stdin one
 *                             after another, a language's kernel kept
 *                             between them (session.h); a SESSION request
 *                             turns waiting mode into it
 *
 * The request (../request_format.h) carries the command, env, workspace,
 * caps, run_as, the program, input files and stdin. The launcher writes the
 * inputs into the workspace, runs the program as a child with two pipes of
 * its own, and writes frames (../frame_format.h) to its stdout: the
 * program's output as o/e chunks, then output files, then the exit record.
 * Its exit code mirrors the program's. A malformed request is exit code
 * CE_EXIT_BAD_REQUEST with its reason as a plain line and no exit record, so
 * the host reports a failure of the sandbox, never a program's exit code; a
 * program that cannot start is exit record and code CE_EXIT_NOT_STARTED with
 * the reason on the e stream, as a shell would say it.
 *
 * Why a relay at all: the program never writes to a host descriptor, so its
 * writes behave like Linux pipe writes at every size (gVisor answers a
 * large write to a donated host pipe with a short count that some runtimes
 * drop), and stdout and stderr stay apart through a pod's merged log.
 *
 * Privilege separation: with run_as the launcher runs as root (with only
 * the capabilities the sandbox gives it) and the program as uid:gid with
 * none, so the program can neither signal the launcher nor reach its
 * descriptors through /proc. Without it (a pod under the restricted Pod
 * Security Standard) both share a uid; the launcher then ignores every
 * signal it can and is non-dumpable, but SIGKILL and SIGSTOP of the
 * launcher stay possible: a program can end its own run early, never change
 * another's. Its own CE_* and the KUBERNETES_* variables never reach the
 * program. Tests: launcher_test.cc. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "server/launcher/c/frames.h"
#include "server/launcher/c/program.h"
#include "server/launcher/c/request.h"
#include "server/launcher/c/session.h"
#include "server/launcher/c/workspace.h"
#include "server/launcher/request_format.h"

static volatile pid_t g_program_pid;

static void ignore(int signum) { (void)signum; }

static void forward_sigterm(int signum) {
  const int saved = errno;
  if (g_program_pid > 0) kill(-g_program_pid, signum);
  errno = saved;
}

/* Outlives what a program can send; the program starts with default
 * dispositions again (a handler, unlike SIG_IGN, does not survive exec, and
 * the child resets them before it). */
static void harden(void) {
  struct sigaction action = {.sa_handler = ignore, .sa_flags = SA_RESTART};
  sigemptyset(&action.sa_mask);
  for (int s = 1; s < NSIG; ++s) {
    if (is_survived_signal(s)) sigaction(s, &action, NULL);
  }
  mask_reserved_signals(SIG_BLOCK);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  /* Descriptors 0-2 open, so no pipe of ours becomes one of them. */
  for (int fd = 0; fd <= 2; ++fd) {
    if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
      open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
    }
  }
}

static int finish(int code) {
  emit_exit(code);
  return code;
}

/* Reads and parses one request (from a file, or from stdin when waiting)
 * into *buffer; 0, or -1 with a message in error. */
static int read_one(const char* path, struct ce_request* request,
                    unsigned char** buffer, char* error, size_t error_size) {
  *buffer = path ? read_request_file(path, error, error_size)
                 : read_request_fd(0, error, error_size);
  return *buffer == NULL ? -1
                         : parse_request(*buffer, request, error, error_size);
}

/* Waiting mode: a PRESTART first has its starter started (one that cannot
 * start is no error: the run then starts fresh), and the request to run
 * follows it. */
static int read_waiting(struct ce_request* request, unsigned char** buffer,
                        struct ce_request* prestarted,
                        struct ce_prestarted* starter, char* error,
                        size_t error_size) {
  if (read_one(NULL, request, buffer, error, error_size) != 0) return -1;
  if (request->prestart_argv == NULL) return 0;
  *prestarted = *request;
  if (prestart(prestarted, starter, error, error_size) != 0) {
    starter->program.pid = 0;
  }
  if (read_one(NULL, request, buffer, error, error_size) != 0) return -1;
  if (request->prestart_argv != NULL) {
    snprintf(error, error_size, "request: a second prestart");
    return -1;
  }
  return 0;
}

int main(int argc, char** argv) {
  harden();
  char error[4096];
  struct ce_request request, prestarted_request;
  struct ce_prestarted starter = {.program = {.pid = 0}};
  unsigned char* buffer = NULL;
  int failed = 1;
  if (argc == 2 && strcmp(argv[1], "--session") == 0) {
    return run_session(NULL, NULL);
  }
  if (argc == 2 && strcmp(argv[1], "--wait") == 0) {
    failed = read_waiting(&request, &buffer, &prestarted_request, &starter,
                          error, sizeof(error)) != 0;
    if (!failed && request.session) {
      discard_prestarted(&starter);
      return run_session(&request, buffer);
    }
  } else if (argc == 2 && argv[1][0] != '-') {
    failed = read_one(argv[1], &request, &buffer, error, sizeof(error)) != 0;
    if (!failed && request.prestart_argv != NULL) {
      strcpy(error, "request: a prestart comes only on a stream (--wait)");
      failed = 1;
    } else if (!failed && request.session) {
      strcpy(error, "request: a session's cell comes only on a stream");
      failed = 1;
    }
  } else {
    strcpy(error,
           "usage: launcher <request-file> | launcher --wait | "
           "launcher --session");
  }
  if (failed) {
    discard_prestarted(&starter);
    report_refusal("%s", error);
    return CE_EXIT_BAD_REQUEST;
  }
  struct ce_program program;
  int started = write_inputs(&request, 0, error, sizeof(error)) == 0;
  int by_starter = 0;
  if (started && starter.program.pid > 0) {
    by_starter =
        prestart_fits(&prestarted_request, &request) &&
        run_prestarted(&prestarted_request, &request, &starter, &program) == 0;
  }
  discard_prestarted(&starter); /* unused (or failed); none if it runs */
  if (started && !by_starter) {
    started = start_program(&request, &program, error, sizeof(error)) == 0;
  }
  if (!started) {
    report("%s", error);
    return finish(CE_EXIT_NOT_STARTED);
  }
  g_program_pid = program.pid;
  struct sigaction forward = {.sa_handler = forward_sigterm,
                              .sa_flags = SA_RESTART};
  sigemptyset(&forward.sa_mask);
  sigaction(SIGTERM, &forward, NULL);
  const int code = pump(&request, &program, -1);
  if (collect_outputs(&request, NULL, error, sizeof(error)) != 0) {
    report("%s", error);
  }
  return finish(code);
}
