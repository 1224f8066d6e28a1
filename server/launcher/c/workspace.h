/* The workspace side of a run: the program and input files written in
 * before it starts, the new or changed files returned after it ended. */
#ifndef CODEEXEC_SERVER_LAUNCHER_C_WORKSPACE_H_
#define CODEEXEC_SERVER_LAUNCHER_C_WORKSPACE_H_

#include <stddef.h>

#include "server/launcher/c/request.h"

/* Writes the program and the input files (new files only, never through a
 * symlink, with the request's modes), creating their directories; with
 * run_as, hands files and directories (the workspace too) to that user.
 * With replace (session mode), a file of the same path is removed first.
 * 0, or -1 with a message in error. */
int write_inputs(const struct ce_request* request, int replace, char* error,
                 size_t error_size);

/* Emits f frames for new or changed regular files in byte order of their
 * paths (the program file excepted), within the request's caps; then t if
 * any was left out. With since (session mode), only files modified at or
 * after it. 0, or -1 with a message in error. */
struct timespec;
int collect_outputs(const struct ce_request* request,
                    const struct timespec* since, char* error,
                    size_t error_size);

#endif /* CODEEXEC_SERVER_LAUNCHER_C_WORKSPACE_H_ */
