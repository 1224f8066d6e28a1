/* Session mode (`launcher --session`, ../request_format.h): cells one after
 * another in one sandbox, a kernel (a language's interpreter) kept between
 * them. */
#ifndef CODEEXEC_SERVER_LAUNCHER_C_SESSION_H_
#define CODEEXEC_SERVER_LAUNCHER_C_SESSION_H_

/* Runs cells until the host's stream ends (0), a request is malformed
 * (CE_EXIT_BAD_REQUEST, its reason as a plain line, like the other modes)
 * or the kernel exits (its exit code, after that cell's exit record). */
int run_session(void);

#endif /* CODEEXEC_SERVER_LAUNCHER_C_SESSION_H_ */
