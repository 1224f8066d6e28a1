// The executor as users run it, for e2e tests: the chart installed with
// `helm install` into the cluster's sandbox namespace (values
// tests/e2e/in_cluster/values.yaml, the image scripts/build-executor-image
// built, loaded by `scripts/e2e-cluster load-executor-image`), and agent
// pods in another namespace that call it through its Service with the
// Python client (tests/e2e/in_cluster/agent_call.py).
#ifndef CODEEXEC_TESTS_E2E_IN_CLUSTER_RELEASE_H_
#define CODEEXEC_TESTS_E2E_IN_CLUSTER_RELEASE_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/cluster_access.h"

namespace codeexec::e2e {

// Where a release goes and who calls it.
struct ReleasePlacement {
  // The helm release and so the Deployment, Service and ServiceAccount name.
  std::string release = "code-executor-e2e";
  // The release's (and its sandboxes') namespace; "" = the cluster's sandbox
  // namespace (agent-sandbox), created if it is another.
  std::string ns;
  // Namespace of the agent pods (values.yaml allows its adk-agent account).
  std::string agent_ns = "e2e-agent-pods";
  // `--set` entries on top of values.yaml.
  std::vector<std::string> set;
};

// An agent pod's call: the code it sends, the ServiceAccount it runs as and
// the audience of its projected token ("" = the API server's own, i.e. a
// pod's ordinary token).
struct AgentCall {
  std::string pod_name;
  std::string account = "adk-agent";
  std::string audience = "code-executor";
  std::string code;
  // Calls made, interval_seconds apart (agent_call.py reports them all).
  int repeat = 1;
  int interval_seconds = 0;
};

class InClusterRelease {
 public:
  InClusterRelease(const Cluster& cluster, std::string source_dir,
                   std::string helm, ReleasePlacement placement = {});

  const std::string& release() const { return placement_.release; }
  const std::string& ns() const { return placement_.ns; }
  const std::string& agent_ns() const { return placement_.agent_ns; }

  // The release's namespace (unless it is the cluster's), the agent
  // namespace and accounts, the client's files for the agent pods
  // (pip install --target, under the cluster's state dir, once per cluster).
  absl::Status PrepareAgents() const;
  // `helm install --wait` (the Deployment Ready through its gRPC probes);
  // returns how long that took.
  absl::StatusOr<absl::Duration> Install() const;
  // `helm upgrade --reuse-values --wait` with `set` (key=value entries).
  absl::Status Upgrade(const std::vector<std::string>& set) const;
  absl::Status Uninstall() const;
  // What is left of the release: objects labelled with its instance in the
  // sandbox namespace and its cluster-scoped RBAC ("kind/name" each).
  absl::StatusOr<std::vector<std::string>> Leftovers() const;
  // Deletes the agent namespace (and the release's, if it made it) and
  // waits until they are gone.
  void RemoveAgents() const;

  // Names of the executor's pods that are Ready.
  absl::StatusOr<std::vector<std::string>> ReadyPods() const;
  // Starts an agent pod; Await its report (agent_call.py's JSON line).
  absl::Status StartAgent(const AgentCall& call) const;
  absl::StatusOr<nlohmann::json> AwaitAgent(const std::string& pod_name,
                                            absl::Duration timeout) const;

  // The audit log's events (the API server's, JSON lines: the sandbox
  // namespace's ServiceAccounts only) of `verb` on `resource` received at or
  // after `since`.
  std::vector<nlohmann::json> AuditEvents(const std::string& verb,
                                          const std::string& resource,
                                          absl::Time since) const;

 private:
  absl::Status InstallClientOnce() const;
  // The agent pods' PYTHONPATH (a hostPath volume).
  std::string ClientSite() const;

  const Cluster& cluster_;
  std::string source_dir_;
  std::string helm_;
  ReleasePlacement placement_;
};

}  // namespace codeexec::e2e

#endif  // CODEEXEC_TESTS_E2E_IN_CLUSTER_RELEASE_H_
