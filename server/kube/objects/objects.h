// The Kubernetes objects of one execution (docs/architecture.md): a ConfigMap
// holding the static launcher and its request (the code, the input files,
// stdin, env and caps), and a Job whose single pod runs the launcher in
// gVisor with that ConfigMap mounted read-only. Pure functions of the spec
// and the server's options: nothing here talks to the API server.
//
// Image requirement: nothing but what the language profile's command runs
// (e.g. python3 for python, bash for bash); the launcher is a static
// executable.
#ifndef CODEEXEC_SERVER_KUBE_OBJECTS_OBJECTS_H_
#define CODEEXEC_SERVER_KUBE_OBJECTS_OBJECTS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "server/exec/execution_spec.h"
#include "server/kube/kube_options.h"
#include "server/launcher/launcher_bundle.h"

namespace codeexec::kube {

// Labels on every object of ours (ConfigMap, Job and the Job's pods).
inline constexpr char kManagedByLabel[] = "app.kubernetes.io/managed-by";
inline constexpr char kManagedByValue[] = "code-executor";
inline constexpr char kExecutionIdLabel[] = "code-executor.dev/execution-id";
inline constexpr char kReplicaLabel[] = "code-executor.dev/replica";

// The pod's only container; the log is read from it. The ConfigMap is
// mounted read-only at kSandboxBundleDir, the workspace (a memory emptyDir,
// the program's cwd) at kSandboxWorkspaceDir (launcher_bundle.h).
inline constexpr char kSandboxContainerName[] = "sandbox";

// What the API server allows in a ConfigMap: the sum of the sizes of all
// `data` values and (decoded) `binaryData` values.
inline constexpr int64_t kConfigMapMaxBytes = int64_t{1} << 20;

// Added to the run timeout in Job.spec.activeDeadlineSeconds: the Job's
// clock starts before the pod is scheduled and the container started.
inline constexpr int64_t kJobDeadlineGraceSeconds = 3;

// The executor's own Pod (Downward API: POD_NAME / POD_UID).
struct OwnerPod {
  std::string name;
  std::string uid;
};

struct ObjectContext {
  const KubernetesOptions* options = nullptr;  // required
  // Value of the replica label: our pod name, or the hostname outside a
  // pod; pass it through ReplicaLabelValue().
  std::string replica;
  // ownerReferences of the ConfigMap and the Job; none when unset or when
  // name or uid is empty.
  std::optional<OwnerPod> owner;
  // The launcher executable (normally LauncherSource()).
  std::string launcher_source;
};

// {managed-by, execution-id, replica}.
nlohmann::json ObjectLabels(const ExecutionSpec& spec,
                            const ObjectContext& context);

// name spec.execution_id, the namespace, ObjectLabels and (with an owner)
// the ownerReference to the replica's pod.
nlohmann::json ObjectMetadata(const ExecutionSpec& spec,
                              const ObjectContext& context);

// v1 ConfigMap named spec.execution_id, immutable; binaryData: launcher
// (mounted 0555) and request (BuildRequest: the code, input files, stdin, env
// and caps). An InvalidArgument from BuildRequest is returned as is.
// More than kConfigMapMaxBytes in all -> InvalidArgument naming the largest
// of the user's fields (code, files, stdin).
absl::StatusOr<nlohmann::json> BuildConfigMap(const ExecutionSpec& spec,
                                              const ObjectContext& context);

// batch/v1 Job named spec.execution_id running the launcher in one pod.
nlohmann::json BuildJob(const ExecutionSpec& spec,
                        const ObjectContext& context);

// ceil(timeout in seconds) + kJobDeadlineGraceSeconds.
int64_t JobActiveDeadlineSeconds(absl::Duration timeout);

// "app.kubernetes.io/managed-by=code-executor,code-executor.dev/replica=<r>"
// (UrlEncode it for a query string).
std::string LabelSelectorForReplica(const std::string& replica);
// Same with code-executor.dev/execution-id=<id> instead of the replica.
std::string LabelSelectorForExecution(const std::string& execution_id);

// Percent-encodes everything but RFC 3986 unreserved characters
// (A-Z a-z 0-9 - . _ ~), for query parameter values.
std::string UrlEncode(absl::string_view text);

// A valid label value for `name` (<= 63 characters of [A-Za-z0-9._-],
// alphanumeric at both ends): `name` itself when valid; otherwise invalid
// characters become '-' and a name too long keeps 54 characters plus '-' and
// an 8-hex-digit hash of the whole name (stable across restarts).
std::string ReplicaLabelValue(absl::string_view name);

}  // namespace codeexec::kube

#endif  // CODEEXEC_SERVER_KUBE_OBJECTS_OBJECTS_H_
