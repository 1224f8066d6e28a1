// The fake kubelet's volumes: a configMap volume is written to a host
// directory in the kubelet's layout (files in a timestamped directory,
// `..data` pointing at it, one symlink per key) and bind-mounted read-only;
// an emptyDir becomes a tmpfs inside the sandbox (sizeLimit as its size).
#ifndef CODEEXEC_TESTS_FAKE_KUBE_POD_VOLUMES_H_
#define CODEEXEC_TESTS_FAKE_KUBE_POD_VOLUMES_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace codeexec::fake_kube {

class ObjectStore;

// OCI mount entries for the pod's first container's volumeMounts, in order.
// ConfigMap contents are written below `volumes_dir` (which must exist).
// NotFound: a ConfigMap (or key) the pod needs does not exist yet (the
// kubelet retries); FailedPrecondition: the pod asks for something the fake
// cannot do (subPath, other volume types).
absl::StatusOr<std::vector<nlohmann::json>> PrepareVolumeMounts(
    const nlohmann::json& pod, const ObjectStore& store,
    const std::string& volumes_dir);

}  // namespace codeexec::fake_kube

#endif  // CODEEXEC_TESTS_FAKE_KUBE_POD_VOLUMES_H_
