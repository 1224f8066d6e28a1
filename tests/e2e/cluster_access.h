// Test-side access to the e2e cluster that scripts/e2e-cluster runs: its
// environment file, kubectl as admin (for checks the executor must not be
// able to do) or as any kubeconfig, and the objects of ours left in the
// sandbox namespace.
#ifndef CODEEXEC_TESTS_E2E_CLUSTER_ACCESS_H_
#define CODEEXEC_TESTS_E2E_CLUSTER_ACCESS_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace codeexec::e2e {

// Label selector of everything the executor creates.
inline constexpr char kOurs[] = "app.kubernetes.io/managed-by=code-executor";

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};
// The file's content ("" if it cannot be read).
std::string ReadWholeFile(const std::string& path);
// Runs argv (no shell), with `input` on stdin.
CommandResult RunCommand(const std::vector<std::string>& argv,
                         const std::string& input = "");
// The pinned helm (scripts/install-helm under `source_dir`, which installs
// it if needed): its path, or an error with the script's output.
absl::StatusOr<std::string> HelmPath(const std::string& source_dir);

class Cluster {
 public:
  // Reads $E2E_STATE_DIR/env (default /var/tmp/code-executor-e2e/env), which
  // `scripts/e2e-cluster up` writes.
  static absl::StatusOr<Cluster> FromEnvFile();

  const std::string& Var(const std::string& name) const;
  const std::string& ns() const { return Var("E2E_NAMESPACE"); }
  const std::string& executor_kubeconfig() const {
    return Var("E2E_EXECUTOR_KUBECONFIG");
  }

  // kubectl with the admin kubeconfig (or `kubeconfig`).
  CommandResult Kubectl(const std::vector<std::string>& args,
                        const std::string& input = "") const;
  CommandResult KubectlAs(const std::string& kubeconfig,
                          const std::vector<std::string>& args,
                          const std::string& input = "") const;
  // `kubectl get` as admin, parsed; an error says what kubectl said.
  absl::StatusOr<nlohmann::json> GetJson(
      const std::vector<std::string>& args) const;

  // Names of our Jobs, Pods and ConfigMaps in the namespace, e.g.
  // {"jobs": [...], "pods": [...], "configmaps": [...]} (empty lists too).
  absl::StatusOr<std::map<std::string, std::vector<std::string>>> OurObjects(
      const std::string& selector = kOurs) const;
  // Waits until none of ours is left; else says what is.
  absl::Status WaitNoneLeft(absl::Duration timeout,
                            const std::string& selector = kOurs) const;

  // Args for ServerProcess::Start: backend kubernetes with the executor's
  // token-only kubeconfig in the cluster's sandbox namespace.
  std::vector<std::string> ExecutorArgs() const;

 private:
  std::map<std::string, std::string> vars_;
};

}  // namespace codeexec::e2e

#endif  // CODEEXEC_TESTS_E2E_CLUSTER_ACCESS_H_
