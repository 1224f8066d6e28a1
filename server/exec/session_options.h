// Options of sessions (config section `sessions:`).
#ifndef CODEEXEC_SERVER_EXEC_SESSION_OPTIONS_H_
#define CODEEXEC_SERVER_EXEC_SESSION_OPTIONS_H_

#include "absl/time/time.h"

namespace codeexec {

struct SessionOptions {
  // Sessions open (or starting) at once on a replica; one more is
  // RESOURCE_EXHAUSTED. Each holds a sandbox with its memory limit for its
  // whole life: size this with the node's memory. 0 turns sessions off.
  int max_sessions = 16;
  // A session without a cell this long is closed; a request may ask for
  // less or more, up to max_idle_timeout.
  absl::Duration default_idle_timeout = absl::Minutes(10);
  absl::Duration max_idle_timeout = absl::Hours(2);
  // A session is closed this long after its creation (a cell still running
  // is cancelled); a request may ask for up to max_lifetime.
  absl::Duration default_max_lifetime = absl::Hours(1);
  absl::Duration max_lifetime = absl::Hours(24);
};

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_EXEC_SESSION_OPTIONS_H_
