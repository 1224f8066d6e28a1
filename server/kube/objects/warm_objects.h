// The Kubernetes objects of a replica's warm pool: one ConfigMap holding only
// the static launcher, shared by the pool's pods, and per warm sandbox a Job
// exactly like an execution's (BuildJob of the pool's shape: image, limits,
// hardened pod, RuntimeClass) except that its launcher waits for its one
// request on stdin (`launcher --wait`, stdin and stdinOnce set) and mounts
// that ConfigMap. The request arrives over the pod's attach subresource at
// the claim; nothing of any run is in these objects.
#ifndef CODEEXEC_SERVER_KUBE_OBJECTS_WARM_OBJECTS_H_
#define CODEEXEC_SERVER_KUBE_OBJECTS_WARM_OBJECTS_H_

#include <string>

#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "server/exec/execution_spec.h"
#include "server/kube/objects/objects.h"

namespace codeexec::kube {

// "ce-launcher-<8 hex digits of the replica label>": per replica, stable
// across the replica's restarts (so a restarted replica finds its own).
std::string WarmLauncherConfigMapName(const ObjectContext& context);

// The shared launcher ConfigMap (immutable; binaryData.launcher), labelled
// and owned like an execution's objects, its execution-id label its name.
nlohmann::json BuildWarmLauncherConfigMap(const ObjectContext& context);

// The Job of warm sandbox `shape.execution_id` ("cw-" + 12 hex digits):
// BuildJob(shape) with the launcher waiting on stdin, the bundle volume
// from WarmLauncherConfigMapName (launcher only), and an
// activeDeadlineSeconds of `lifetime` (the pool's max age plus the longest
// run it may serve), so a pod the pool lost track of still ends.
nlohmann::json BuildWarmJob(const ExecutionSpec& shape,
                            const ObjectContext& context,
                            absl::Duration lifetime);

}  // namespace codeexec::kube

#endif  // CODEEXEC_SERVER_KUBE_OBJECTS_WARM_OBJECTS_H_
