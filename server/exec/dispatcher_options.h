// Options of the dispatcher (config section `dispatcher:`).
#ifndef CODEEXEC_SERVER_EXEC_DISPATCHER_OPTIONS_H_
#define CODEEXEC_SERVER_EXEC_DISPATCHER_OPTIONS_H_

namespace codeexec {

struct DispatcherOptions {
  // Sandboxes running at once.
  int workers = 4;
  // Executions waiting for a worker; one more is refused with
  // RESOURCE_EXHAUSTED at once.
  int queue_size = 64;
};

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_EXEC_DISPATCHER_OPTIONS_H_
