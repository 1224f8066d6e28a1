/* The launcher's request: everything one run needs, in one binary-safe,
 * length-prefixed, versioned message. The launcher (C, server/launcher/c/)
 * parses it; launcher_bundle.cc (C++) writes it. This header is the one
 * place its facts are written; C and C++ both include it.
 *
 * Layout, every integer little-endian:
 *
 *   header   magic "CERQ" (4 bytes), u32 version, u32 body length
 *   body     records until the body ends, each: u32 tag, u32 length, value
 *
 * Values by tag (strings are bytes without NUL, not NUL-terminated):
 *
 *   ARG          one argv entry of the program's command; >= 1, in order
 *   ENV          "NAME=VALUE", NAME non-empty; later entries win
 *   WORKSPACE    absolute path: the program's cwd, where inputs go and
 *                outputs come from; exactly once
 *   RUN_AS       u32 uid, u32 gid (both > 0): the program's user; at most
 *                once (absent: the program keeps the launcher's user)
 *   MAX_OUTPUT_BYTES, MAX_OUTPUT_FILES, MAX_OUTPUT_FILE_BYTES
 *                u64 each, at most once (absent: 0); MAX_OUTPUT_BYTES
 *                0 means no limit on stdout + stderr
 *   DRAIN_MS     u32: how long pipes still open after the program exited
 *                are read; at most once (absent: CE_REQ_DEFAULT_DRAIN_MS)
 *   PROGRAM      a workspace file (below), the code; exactly once; never
 *                returned as an output file
 *   FILE         a workspace file: an input
 *   STDIN        the program's stdin; at most once (absent: empty)
 *   PRESTART     u32 k, then a starter's argv, each entry NUL-terminated;
 *                at most once, waiting mode only (below); PROGRAM may be
 *                absent then
 *   KERNEL       u32 k, then a kernel's argv, each entry NUL-terminated;
 *                at most once, session mode only (below)
 *   SESSION      empty; at most once, on a stream only: the request is a
 *                session's cell (below)
 *
 * A workspace file is u32 mode (permission bits only), u32 path length,
 * path (relative, no empty, "." or ".." component), content (the rest).
 * Anything else (unknown tag, a repeated single tag, a length past the
 * end, a count or size over the maxima below) is a malformed request.
 *
 * From a stream (`launcher --wait`), any number of CE_REQ_PRIMER bytes may
 * come before the header and are skipped: a host writes one as soon as it
 * has the stream, so the first byte's way into the sandbox (set up lazily
 * by some runtimes' attach) is paid before a request waits on it.
 *
 * A PRESTART request on a stream is not run: the launcher starts its
 * starter at once, as it would start that request's program (env,
 * workspace as cwd, user, stdout/stderr pipes, an empty stdin), with the
 * read end of a pipe as fd 3, and reads the next request. If that one's
 * command has the prestart's first k arguments, the same env entries (in
 * order), workspace and user, and its argument k names a regular file of
 * the workspace, the starter becomes its program: it gets the request's
 * stdin and, on fd 3, arguments k.. of the command separated by NUL bytes,
 * then end of file; it must close fd 3 and run them as the command would.
 * Otherwise it is killed and the program started as usual. So an
 * interpreter's start-up is paid before the request (python_prestart.h).
 *
 * Session mode (`launcher --session`) reads requests from the stream one
 * after another and runs each to its exit record (a cell); the end of the
 * stream between cells ends the launcher (exit 0). The workspace stays from
 * cell to cell: a cell's program and input files replace files of the same
 * path, and a cell returns only the files it created or changed. During a
 * cell, a CE_REQ_INTERRUPT byte on the stream interrupts it (SIGINT to its
 * process group); before a request's header such bytes are skipped, like
 * primer bytes. A cell without KERNEL is a fresh program, as in the other
 * modes. A cell with KERNEL runs in the session's kernel, a process started
 * by the first such cell (as its program would be, with an empty stdin)
 * with the read end of a pipe as fd 3 and the write end of another as fd 4,
 * which lives as long as the session: for each cell the kernel reads from
 * fd 3 a u32 length and then arguments k.. of the cell's command separated
 * by NUL bytes, runs them, writes the cell's output to its stdout and
 * stderr and then the cell's exit code (i32) to fd 4. A kernel that exits
 * ends its cell with its exit code and ends the session: that exit record
 * says so (frame_format.h) and the launcher exits with the code. So a
 * language's interpreter keeps its state between cells (python_kernel.h).
 *
 * A SESSION request in waiting mode (after a PRESTART or not) turns the
 * launcher into session mode: a prestarted starter is discarded, the
 * request runs as the session's first cell and the launcher goes on as
 * `launcher --session` would. So a waiting sandbox (a warm pod) can become
 * a session's. In session mode the tag changes nothing. */
#ifndef CODEEXEC_SERVER_LAUNCHER_REQUEST_FORMAT_H_
#define CODEEXEC_SERVER_LAUNCHER_REQUEST_FORMAT_H_

#define CE_REQ_MAGIC "CERQ"
#define CE_REQ_MAGIC_BYTES 4
#define CE_REQ_VERSION 1u
#define CE_REQ_HEADER_BYTES 12u
#define CE_REQ_RECORD_HEADER_BYTES 8u
#define CE_REQ_PRIMER '\n'
#define CE_REQ_INTERRUPT '\x03'

enum ce_req_tag {
  CE_TAG_ARG = 1,
  CE_TAG_ENV = 2,
  CE_TAG_WORKSPACE = 3,
  CE_TAG_RUN_AS = 4,
  CE_TAG_MAX_OUTPUT_BYTES = 5,
  CE_TAG_MAX_OUTPUT_FILES = 6,
  CE_TAG_MAX_OUTPUT_FILE_BYTES = 7,
  CE_TAG_DRAIN_MS = 8,
  CE_TAG_PROGRAM = 9,
  CE_TAG_FILE = 10,
  CE_TAG_STDIN = 11,
  CE_TAG_PRESTART = 12,
  CE_TAG_KERNEL = 13,
  CE_TAG_SESSION = 14,
};

/* Maxima: a larger request is malformed (the writer refuses to make it). */
#define CE_REQ_MAX_BODY_BYTES (1u << 30)
#define CE_REQ_MAX_ARGS 4096u
#define CE_REQ_MAX_ENV 4096u
#define CE_REQ_MAX_FILES 4096u
#define CE_REQ_MAX_PATH_BYTES 4096u

#define CE_REQ_DEFAULT_DRAIN_MS 1000u

/* The launcher's exit code for a malformed request (with no exit record:
 * the host reports a sandbox failure, quoting the launcher's plain-line
 * reason); 127, exit record and code, stays what it is in a shell: the
 * command could not be started. */
#define CE_EXIT_BAD_REQUEST 125
#define CE_EXIT_NOT_STARTED 127

#endif /* CODEEXEC_SERVER_LAUNCHER_REQUEST_FORMAT_H_ */
