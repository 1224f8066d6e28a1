// The fake kubelet's container runtime: each pod's single container runs as
// its own gVisor sandbox (`runsc --network=none run`), from an OCI bundle
// made from the pod spec (the sandbox rootfs read-only as the image, the pod's
// volumes, user, env, working dir), in a per-pod cgroup that carries its
// memory/cpu limits. Reuses the gvisor-local backend's building blocks.
#ifndef CODEEXEC_TESTS_FAKE_KUBE_RUNSC_NODE_H_
#define CODEEXEC_TESTS_FAKE_KUBE_RUNSC_NODE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "server/base/child_process.h"
#include "server/local/runsc_cli.h"
#include "server/local/sandbox_cgroup.h"
#include "tests/fake_kube/kubelet.h"
#include "tests/fake_kube/pod_log.h"

namespace codeexec::fake_kube {

class ObjectStore;

// Node-wide runsc settings and directories.
class RunscNode {
 public:
  // Checks runsc, root and cgroups; creates <state_dir>/{runsc,bundles,
  // volumes}.
  static absl::StatusOr<std::unique_ptr<RunscNode>> Create(
      const KubeletOptions& options, const std::string& state_dir);

  const RunscCli& cli() const { return cli_; }
  const CgroupLayout& cgroups() const { return cgroups_; }
  const KubeletOptions& options() const { return options_; }
  const std::string& state_dir() const { return state_dir_; }

 private:
  RunscNode(KubeletOptions options, std::string state_dir, RunscCli cli,
            CgroupLayout cgroups)
      : options_(std::move(options)),
        state_dir_(std::move(state_dir)),
        cli_(std::move(cli)),
        cgroups_(std::move(cgroups)) {}

  KubeletOptions options_;
  std::string state_dir_;
  RunscCli cli_;
  CgroupLayout cgroups_;
};

// One pod's sandbox, from preparation to removal.
class RunscContainer {
 public:
  RunscContainer(const RunscNode& node, std::string pod_uid);
  ~RunscContainer() { CleanUp(); }

  // Volumes, bundle and cgroup for `pod`. NotFound: a ConfigMap it mounts
  // is missing (retry later, as the kubelet does); FailedPrecondition: the
  // pod cannot run as specified (CreateContainerConfigError).
  absl::Status Prepare(const nlohmann::json& pod, const ObjectStore& store);
  // `input`: the container's stdin (null: /dev/null).
  absl::Status Start(std::shared_ptr<PodStdin> input);

  enum class Ending { kExited, kKilled, kDeadline };
  // Copies the container's stdout and stderr into `log` and what comes on
  // its PodStdin to its stdin, until it exits. If `kill_fd` becomes
  // readable or `deadline` passes first, kills the sandbox and says which.
  Ending Wait(PodLog& log, int kill_fd, absl::Time deadline);
  // After Wait: how it ended (exit code, Completed/Error/OOMKilled/
  // StartError).
  Termination Result() const;

  // Removes the sandbox, bundle, volumes and cgroup. Idempotent.
  void CleanUp();

 private:
  // Prepare(); json type errors escape as exceptions.
  absl::Status PrepareOrThrow(const nlohmann::json& pod,
                              const ObjectStore& store);
  void RequestKill(bool* killed, absl::Time* give_up);
  // Moves what came on input_ towards the container's stdin pipe, without
  // blocking; closes the pipe once input_ is closed and all is written.
  void PumpInput();
  // Reads what is ready on one of the output pipes into `log`.
  void ReadOutput(UniqueFd& pipe, PodStream stream, PodLog& log);

  const RunscNode& node_;
  const std::string id_;
  const std::string bundle_dir_;
  const std::string volumes_dir_;
  int64_t memory_limit_bytes_ = 0;
  std::optional<SandboxCgroup> cgroup_;
  std::optional<ChildProcess> child_;
  std::shared_ptr<PodStdin> input_;
  std::string unwritten_input_;  // taken from input_, not yet in the pipe
  absl::Time started_;
  absl::Time finished_;
  std::string first_output_;  // up to 4 KiB, to recognise runsc's errors
  bool cleaned_up_ = false;
};

}  // namespace codeexec::fake_kube

#endif  // CODEEXEC_TESTS_FAKE_KUBE_RUNSC_NODE_H_
