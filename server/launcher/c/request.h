/* The request (../request_format.h) read and checked: every string a
 * NUL-terminated copy, every byte run a pointer into the request buffer. */
#ifndef CODEEXEC_SERVER_LAUNCHER_C_REQUEST_H_
#define CODEEXEC_SERVER_LAUNCHER_C_REQUEST_H_

#include <stddef.h>
#include <stdint.h>

struct ce_file {
  char* path;
  unsigned mode;
  const unsigned char* content;
  size_t size;
};

struct ce_request {
  char** argv; /* NULL-terminated */
  size_t argc;
  char** env; /* "NAME=VALUE" */
  size_t envc;
  char* workspace;
  int has_run_as;
  uint32_t uid, gid;
  uint64_t max_output_bytes, max_output_files, max_output_file_bytes;
  uint32_t drain_ms;
  struct ce_file program;
  struct ce_file* files;
  size_t filec;
  const unsigned char* stdin_data;
  size_t stdin_size;
  /* PRESTART: the starter's argv (NULL-terminated) and k. */
  char** prestart_argv;
  size_t prestart_argc;
  uint32_t prestart_shared_args;
  /* KERNEL: the session kernel's argv (NULL-terminated) and k. */
  char** kernel_argv;
  size_t kernel_argc;
  uint32_t kernel_shared_args;
  /* SESSION: the request is a session's cell. */
  int session;
};

/* Reads one request: the whole of the file at path (cold mode), or exactly
 * one request from fd (waiting mode: fd stays open). On success returns the
 * buffer the request points into; on failure NULL with a message in error. */
unsigned char* read_request_file(const char* path, char* error,
                                 size_t error_size);
unsigned char* read_request_fd(int fd, char* error, size_t error_size);
/* As read_request_fd, but the end of the stream before a request's first
 * byte sets *ended (and returns NULL without an error): session mode. */
unsigned char* read_next_request(int fd, int* ended, char* error,
                                 size_t error_size);

/* Parses buffer (as returned above) into request; 0, or -1 with a message
 * in error. */
int parse_request(const unsigned char* buffer, struct ce_request* request,
                  char* error, size_t error_size);

/* Frees what parse_request allocated for request, and buffer. */
void free_request(struct ce_request* request, unsigned char* buffer);

/* A path the request may name in the workspace: relative, no empty, "." or
 * ".." component. */
int is_safe_relative_path(const char* path);

#endif /* CODEEXEC_SERVER_LAUNCHER_C_REQUEST_H_ */
