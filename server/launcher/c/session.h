/* Session mode (`launcher --session`, ../request_format.h): cells one after
 * another in one sandbox, a kernel (a language's interpreter) kept between
 * them. */
#ifndef CODEEXEC_SERVER_LAUNCHER_C_SESSION_H_
#define CODEEXEC_SERVER_LAUNCHER_C_SESSION_H_

#include "server/launcher/c/request.h"

/* Runs cells until the host's stream ends (0), a request is malformed
 * (CE_EXIT_BAD_REQUEST, its reason as a plain line, like the other modes)
 * or the kernel exits (its exit code, after that cell's exit record).
 * `first`, if not NULL, is the first cell, already read (into
 * `first_buffer`, freed with it) by waiting mode. */
int run_session(struct ce_request* first, unsigned char* first_buffer);

#endif /* CODEEXEC_SERVER_LAUNCHER_C_SESSION_H_ */
