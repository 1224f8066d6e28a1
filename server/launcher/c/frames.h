/* Writing the launcher's frames (../frame_format.h) to its stdout: every
 * byte, whatever the pipe or pod log does (short writes, EAGAIN, EINTR). */
#ifndef CODEEXEC_SERVER_LAUNCHER_C_FRAMES_H_
#define CODEEXEC_SERVER_LAUNCHER_C_FRAMES_H_

#include <stddef.h>

/* Writes all of data to fd; 0, or -1 with errno on a real error. */
int write_all(int fd, const void* data, size_t size);

/* "@ce1 o|e <b64>": one chunk (<= CE_FRAME_CHUNK_BYTES) of output. */
void emit_chunk(char tag, const void* data, size_t size);

/* "@ce1 f <b64 path> <b64 content>". */
void emit_file(const char* path, const void* data, size_t size);

/* "@ce1 t". */
void emit_truncated(void);

/* "@ce1 x <code>": the last frame. */
void emit_exit(int code);

/* "@ce1 x <code> end": the last frame of a session (its kernel exited). */
void emit_session_end(int code);

/* "@ce1 e" with "launcher: <message>\n", printf-style. */
void report(const char* format, ...) __attribute__((format(printf, 1, 2)));

/* "launcher: <message>\n" as a plain line, not a frame (control bytes
 * become '?'), printf-style: a refused request. With no exit record after
 * it, the host takes the run as a failure of the sandbox and quotes it. */
void report_refusal(const char* format, ...)
    __attribute__((format(printf, 1, 2)));

#endif /* CODEEXEC_SERVER_LAUNCHER_C_FRAMES_H_ */
