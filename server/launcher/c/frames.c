#include "server/launcher/c/frames.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "server/launcher/frame_format.h"

enum { kOut = 1 };

int write_all(int fd, const void* data, size_t size) {
  const char* p = data;
  while (size > 0) {
    ssize_t n = write(fd, p, size);
    if (n >= 0) {
      p += n;
      size -= (size_t)n;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      struct pollfd waiting = {.fd = fd, .events = POLLOUT};
      poll(&waiting, 1, -1);
    } else if (errno != EINTR) {
      return -1;
    }
  }
  return 0;
}

static const char kAlphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Encodes size bytes (a multiple of 3 unless it is the end) into out. */
static size_t base64(const unsigned char* in, size_t size, char* out) {
  char* o = out;
  for (; size >= 3; in += 3, size -= 3) {
    *o++ = kAlphabet[in[0] >> 2];
    *o++ = kAlphabet[((in[0] & 3) << 4) | (in[1] >> 4)];
    *o++ = kAlphabet[((in[1] & 15) << 2) | (in[2] >> 6)];
    *o++ = kAlphabet[in[2] & 63];
  }
  if (size > 0) {
    *o++ = kAlphabet[in[0] >> 2];
    if (size == 1) {
      *o++ = kAlphabet[(in[0] & 3) << 4];
      *o++ = '=';
    } else {
      *o++ = kAlphabet[((in[0] & 3) << 4) | (in[1] >> 4)];
      *o++ = kAlphabet[(in[1] & 15) << 2];
    }
    *o++ = '=';
  }
  return (size_t)(o - out);
}

/* Writes the base64 of data in pieces (a frame line may be megabytes). A
 * failed write of our stdout leaves nothing to report to: it is ignored,
 * as the exit code still tells. */
static void write_base64(const void* data, size_t size) {
  enum { kPiece = CE_FRAME_CHUNK_BYTES };
  char encoded[kPiece / 3 * 4 + 4];
  const unsigned char* p = data;
  while (size > 0) {
    size_t n = size > kPiece ? kPiece : size;
    write_all(kOut, encoded, base64(p, n, encoded));
    p += n;
    size -= n;
  }
}

static void write_text(const char* text) {
  write_all(kOut, text, strlen(text));
}

void emit_chunk(char tag, const void* data, size_t size) {
  char head[] = CE_FRAME_PREFIX "? ";
  head[sizeof(head) - 3] = tag;
  write_text(head);
  write_base64(data, size);
  write_text("\n");
}

void emit_file(const char* path, const void* data, size_t size) {
  char head[] = CE_FRAME_PREFIX "? ";
  head[sizeof(head) - 3] = CE_FRAME_FILE;
  write_text(head);
  write_base64(path, strlen(path));
  write_text(" ");
  write_base64(data, size);
  write_text("\n");
}

void emit_truncated(void) {
  char line[] = CE_FRAME_PREFIX "?\n";
  line[sizeof(line) - 3] = CE_FRAME_TRUNCATED;
  write_text(line);
}

void emit_exit(int code) {
  char line[32];
  snprintf(line, sizeof(line), CE_FRAME_PREFIX "%c %d\n", CE_FRAME_EXIT, code);
  write_text(line);
}

void emit_session_end(int code) {
  char line[40];
  snprintf(line, sizeof(line),
           CE_FRAME_PREFIX "%c %d " CE_FRAME_SESSION_END "\n", CE_FRAME_EXIT,
           code);
  write_text(line);
}

enum { kMessageBytes = 4096 };

/* "launcher: <formatted>\n" into message (kMessageBytes). */
__attribute__((format(printf, 2, 0))) static void format_message(
    char* message, const char* format, va_list args) {
  strcpy(message, "launcher: ");
  const size_t prefix = strlen(message);
  vsnprintf(message + prefix, kMessageBytes - prefix - 1, format, args);
  strcat(message, "\n");
}

void report_refusal(const char* format, ...) {
  char message[kMessageBytes];
  va_list args;
  va_start(args, format);
  format_message(message, format, args);
  va_end(args);
  for (char* c = message; c[1] != '\0'; ++c) {
    if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = '?';
  }
  write_text(message);
}

void report(const char* format, ...) {
  char message[kMessageBytes];
  va_list args;
  va_start(args, format);
  format_message(message, format, args);
  va_end(args);
  emit_chunk(CE_FRAME_STDERR, message, strlen(message));
}
