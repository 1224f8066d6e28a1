// The names of the backends: the value of `server.backend`, what Accepted
// reports to clients and the `backend` label of the metrics.
#ifndef CODEEXEC_SERVER_EXEC_BACKEND_NAMES_H_
#define CODEEXEC_SERVER_EXEC_BACKEND_NAMES_H_

namespace codeexec {

inline constexpr char kGvisorLocalBackendName[] = "gvisor-local";
inline constexpr char kKubernetesBackendName[] = "kubernetes";

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_EXEC_BACKEND_NAMES_H_
