#include "tests/fake_kube/runsc_node.h"

#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "server/exec/json_log.h"
#include "server/exec/quantity.h"
#include "server/local/fs_util.h"
#include "server/local/io_pump.h"
#include "server/local/oci_bundle.h"
#include "server/local/run_outcome.h"
#include "server/local/state_dir.h"
#include "tests/fake_kube/kube_json.h"
#include "tests/fake_kube/object_store.h"
#include "tests/fake_kube/pod_volumes.h"

namespace codeexec::fake_kube {
namespace {

using json = nlohmann::json;

constexpr char kCgroupRoot[] = "/sys/fs/cgroup";
constexpr int64_t kTmpBytes = int64_t{64} << 20;
constexpr int kMaxProcesses = 256;
constexpr absl::Duration kKillRetry = absl::Milliseconds(50);
constexpr absl::Duration kKillGrace = absl::Seconds(3);
constexpr absl::Duration kDrainAfterExit = absl::Seconds(2);

// securityContext.<field> of the container, else of the pod.
const json& SecurityField(const json& pod, const char* field) {
  const json& own = JsonAt(JsonAt(pod, {"spec", "containers"})[0],
                           {"securityContext", field});
  return own.is_null() ? JsonAt(pod, {"spec", "securityContext", field}) : own;
}

absl::StatusOr<std::string> FieldRefValue(const json& pod,
                                          const std::string& path) {
  if (path == "metadata.name") return MetadataString(pod, "name");
  if (path == "metadata.namespace") return MetadataString(pod, "namespace");
  if (path == "metadata.uid") return MetadataString(pod, "uid");
  if (path == "spec.nodeName") return std::string(kFakeNodeName);
  if (path == "spec.serviceAccountName") {
    return JsonAt(pod, {"spec", "serviceAccountName"}).get<std::string>();
  }
  if (path == "status.podIP" || path == "status.hostIP") {
    const json& ip = JsonAt(pod, {"status", path.substr(7).c_str()});
    return ip.is_string() ? ip.get<std::string>() : "";
  }
  return absl::FailedPreconditionError(
      absl::StrCat("fieldRef ", path, " is not faked"));
}

absl::StatusOr<EnvVars> ContainerEnv(const json& pod) {
  EnvVars env = {{"HOSTNAME", MetadataString(pod, "name")},
                 {"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
                 {"KUBERNETES_SERVICE_PORT", "443"}};
  const json& list = JsonAt(JsonAt(pod, {"spec", "containers"})[0], {"env"});
  if (!list.is_array()) return env;
  for (const json& entry : list) {
    const std::string name = entry.value("name", "");
    if (entry.contains("value")) {
      env.emplace_back(name, entry["value"].get<std::string>());
      continue;
    }
    const json& field_path =
        JsonAt(entry, {"valueFrom", "fieldRef", "fieldPath"});
    if (!field_path.is_string()) {
      if (entry.contains("valueFrom")) {
        return absl::FailedPreconditionError(
            absl::StrCat("env ", name, ": only value and fieldRef are faked"));
      }
      env.emplace_back(name, "");
      continue;
    }
    absl::StatusOr<std::string> value =
        FieldRefValue(pod, field_path.get<std::string>());
    if (!value.ok()) return value.status();
    env.emplace_back(name, *std::move(value));
  }
  return env;
}

// A runtime that cannot start a container tells the real kubelet through
// the CRI; here runsc says it on its combined output before the container
// runs, in words that begin like these (measured with 0.0~20221219).
bool LooksLikeRunscError(absl::string_view text) {
  for (absl::string_view prefix :
       {"running container:", "creating container:", "starting container:",
        "reading spec:", "loading container", "creating sandbox:"}) {
    if (absl::StartsWith(text, prefix)) return true;
  }
  return false;
}

// The OCI config.json for the pod's container.
absl::StatusOr<json> PodOciConfig(const json& pod,
                                  const std::vector<json>& volume_mounts,
                                  const std::string& cgroups_path,
                                  const std::string& rootfs) {
  const json& container = JsonAt(pod, {"spec", "containers"})[0];
  OciBundleConfig bundle;
  for (const char* field : {"command", "args"}) {
    if (container.contains(field)) {
      for (const json& arg : container[field]) {
        bundle.args.push_back(arg.get<std::string>());
      }
    }
  }
  if (bundle.args.empty()) {
    return absl::FailedPreconditionError(
        "the container has no command (the fake kubelet has no images whose "
        "entrypoint it could use)");
  }
  const json& uid = SecurityField(pod, "runAsUser");
  const json& gid = SecurityField(pod, "runAsGroup");
  const uint32_t run_uid = uid.is_number() ? uid.get<uint32_t>() : 0;
  const uint32_t run_gid = gid.is_number() ? gid.get<uint32_t>() : 0;
  if (SecurityField(pod, "runAsNonRoot") == true && run_uid == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "container has runAsNonRoot and image will run as root (pod: \"",
        MetadataString(pod, "name"), "_", MetadataString(pod, "namespace"), "(",
        MetadataString(pod, "uid"),
        ")\", container: ", container.value("name", ""), ")"));
  }
  absl::StatusOr<EnvVars> env = ContainerEnv(pod);
  if (!env.ok()) return env.status();
  bundle.env = *std::move(env);
  bundle.max_processes = kMaxProcesses;
  bundle.tmp_bytes = kTmpBytes;
  bundle.rootfs = rootfs;
  bundle.launcher_bundle_dir = "/nonexistent";  // the pod's volumes instead
  bundle.cgroups_path = cgroups_path;
  absl::StatusOr<json> config = BuildOciConfig(bundle);
  if (!config.ok()) return config.status();

  // The pod's user, and no capabilities (our pods drop ALL; the fake runs
  // nothing that asks for more).
  (*config)["process"]["user"] = {{"uid", run_uid}, {"gid", run_gid}};
  for (const char* set :
       {"bounding", "effective", "inheritable", "permitted", "ambient"}) {
    (*config)["process"]["capabilities"][set] = json::array();
  }

  (*config)["process"]["cwd"] = container.value("workingDir", "/");
  (*config)["hostname"] = MetadataString(pod, "name");
  json groups = json::array();
  const json& supplemental =
      JsonAt(pod, {"spec", "securityContext", "supplementalGroups"});
  if (supplemental.is_array()) groups = supplemental;
  const json& fs_group = JsonAt(pod, {"spec", "securityContext", "fsGroup"});
  if (fs_group.is_number()) groups.push_back(fs_group);
  if (!groups.empty()) (*config)["process"]["user"]["additionalGids"] = groups;

  const bool tmp_is_volume =
      std::any_of(volume_mounts.begin(), volume_mounts.end(),
                  [](const json& m) { return m["destination"] == "/tmp"; });
  json mounts = json::array();
  for (const json& mount : (*config)["mounts"]) {
    const std::string destination = mount["destination"];
    if (destination == "/proc" || destination == "/dev" ||
        destination == "/sys" || (destination == "/tmp" && !tmp_is_volume)) {
      mounts.push_back(mount);
    }
  }
  for (const json& mount : volume_mounts) mounts.push_back(mount);
  (*config)["mounts"] = std::move(mounts);
  return config;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RunscNode>> RunscNode::Create(
    const KubeletOptions& options, const std::string& state_dir) {
  absl::StatusOr<std::string> runsc = ResolveExecutable(options.runsc_path);
  if (!runsc.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the fake kubelet's runsc mode needs runsc (apt-get install runsc): ",
        runsc.status().message()));
  }
  if (geteuid() != 0) {
    return absl::FailedPreconditionError(
        "the fake kubelet's runsc mode needs root (sandboxes and cgroups)");
  }
  absl::StatusOr<CgroupLayout> cgroups = CgroupLayout::Detect(kCgroupRoot);
  if (!cgroups.ok()) return cgroups.status();
  for (const char* sub : {"", "/runsc", "/bundles", "/volumes"}) {
    const std::string dir = state_dir + sub;
    if (mkdir(dir.c_str(), 0711) != 0 && errno != EEXIST) {
      return ErrnoError(errno, "creating the fake kubelet's directory ", dir);
    }
  }
  RunscCli cli(*runsc, StateDir(state_dir).RunscRoot(), options.runsc_platform,
               {});
  return std::unique_ptr<RunscNode>(
      new RunscNode(options, state_dir, std::move(cli), *std::move(cgroups)));
}

RunscContainer::RunscContainer(const RunscNode& node, std::string pod_uid)
    : node_(node),
      id_(std::move(pod_uid)),
      bundle_dir_(absl::StrCat(node.state_dir(), "/bundles/", id_)),
      volumes_dir_(absl::StrCat(node.state_dir(), "/volumes/", id_)) {}

absl::Status RunscContainer::Prepare(const json& pod,
                                     const ObjectStore& store) {
  try {
    return PrepareOrThrow(pod, store);
  } catch (const json::exception& e) {
    return absl::FailedPreconditionError(
        absl::StrCat("the pod spec has a field of the wrong type: ", e.what()));
  }
}

absl::Status RunscContainer::PrepareOrThrow(const json& pod,
                                            const ObjectStore& store) {
  // A retry starts from scratch.
  (void)RemoveTree(volumes_dir_);
  (void)RemoveTree(bundle_dir_);
  if (mkdir(volumes_dir_.c_str(), 0755) != 0) {
    return ErrnoError(errno, "creating ", volumes_dir_);
  }
  absl::StatusOr<std::vector<json>> mounts =
      PrepareVolumeMounts(pod, store, volumes_dir_);
  if (!mounts.ok()) return mounts.status();

  const json& limits =
      JsonAt(JsonAt(pod, {"spec", "containers"})[0], {"resources", "limits"});
  CgroupLimits cgroup_limits;
  cgroup_limits.pids = node_.options().pids_limit;
  if (limits.is_object() && limits.contains("memory")) {
    absl::StatusOr<int64_t> bytes = ParseBytes(QuantityText(limits["memory"]));
    if (!bytes.ok())
      return absl::FailedPreconditionError(bytes.status().message());
    cgroup_limits.memory_bytes = memory_limit_bytes_ = *bytes;
  }
  if (limits.is_object() && limits.contains("cpu")) {
    absl::StatusOr<int64_t> millis =
        ParseCpuMillis(QuantityText(limits["cpu"]));
    if (!millis.ok())
      return absl::FailedPreconditionError(millis.status().message());
    cgroup_limits.cpu_millis = *millis;
  }
  if (!cgroup_.has_value()) {
    absl::StatusOr<SandboxCgroup> cgroup = SandboxCgroup::Create(
        node_.cgroups(), node_.options().cgroup_parent, id_, cgroup_limits);
    if (!cgroup.ok()) return cgroup.status();
    cgroup_ = *std::move(cgroup);
  }
  absl::StatusOr<json> config = PodOciConfig(
      pod, *mounts, cgroup_->OciCgroupsPath(), node_.options().rootfs);
  if (!config.ok()) return config.status();
  if (mkdir(bundle_dir_.c_str(), 0700) != 0) {
    return ErrnoError(errno, "creating ", bundle_dir_);
  }
  return WriteNewFile(bundle_dir_ + "/config.json", config->dump(2), 0600);
}

absl::Status RunscContainer::Start(std::shared_ptr<PodStdin> input) {
  absl::StatusOr<ChildProcess> child = ChildProcess::Spawn(
      node_.cli().RunArgv(bundle_dir_, id_),
      input != nullptr ? ChildProcess::Stdio::kPipes
                       : ChildProcess::Stdio::kSeparateOutput);
  if (!child.ok()) return child.status();
  child_.emplace(*std::move(child));
  input_ = std::move(input);
  started_ = absl::Now();
  return absl::OkStatus();
}

void RunscContainer::PumpInput() {
  UniqueFd& pipe = child_->stdin_fd();
  if (input_ == nullptr || !pipe.valid()) return;
  const bool closed = input_->TakeInto(&unwritten_input_);
  while (!unwritten_input_.empty()) {
    ssize_t wrote =
        write(pipe.get(), unwritten_input_.data(), unwritten_input_.size());
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote < 0 && errno == EAGAIN) return;  // POLLOUT brings us back
    if (wrote <= 0) {                          // the container closed it
      unwritten_input_.clear();
      pipe.reset();
      return;
    }
    unwritten_input_.erase(0, static_cast<size_t>(wrote));
  }
  if (closed) pipe.reset();
}

void RunscContainer::ReadOutput(UniqueFd& pipe, PodStream stream, PodLog& log) {
  char buffer[65536];
  ssize_t got = read(pipe.get(), buffer, sizeof(buffer));
  if (got > 0) {
    log.Append(absl::string_view(buffer, got), stream);
    if (first_output_.size() < 4096) {
      first_output_.append(buffer, std::min<size_t>(got, 4096));
    }
  } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
    pipe.reset();
  }
}

void RunscContainer::RequestKill(bool* killed, absl::Time* give_up) {
  if (*give_up == absl::InfiniteFuture()) *give_up = absl::Now() + kKillGrace;
  if (!*killed) *killed = node_.cli().Kill(id_).ok();
  // runsc did not react in time: kill `runsc run`; the sandbox dies with it
  // and CleanUp deletes what is left.
  if (absl::Now() >= *give_up) child_->Kill();
}

RunscContainer::Ending RunscContainer::Wait(PodLog& log, int kill_fd,
                                            absl::Time deadline) {
  Ending ending = Ending::kExited;
  bool kill_requested = false;
  bool killed = false;
  absl::Time give_up = absl::InfiniteFuture();
  absl::Time drain_until = absl::InfiniteFuture();
  UniqueFd& output = child_->stdout_fd();
  UniqueFd& errors = child_->stderr_fd();
  UniqueFd& input_pipe = child_->stdin_fd();
  PumpInput();
  while (output.valid() || errors.valid() || !child_->reaped()) {
    std::vector<pollfd> fds;
    if (output.valid()) fds.push_back({output.get(), POLLIN, 0});
    if (errors.valid()) fds.push_back({errors.get(), POLLIN, 0});
    if (input_ != nullptr && input_pipe.valid()) {
      fds.push_back({input_->wake_fd(), POLLIN, 0});
      if (!unwritten_input_.empty()) {
        fds.push_back({input_pipe.get(), POLLOUT, 0});
      }
    }
    if (!child_->reaped() && child_->exit_fd() >= 0) {
      fds.push_back({child_->exit_fd(), POLLIN, 0});
    }
    if (!kill_requested && kill_fd >= 0) fds.push_back({kill_fd, POLLIN, 0});
    absl::Time wake = std::min(
        drain_until, kill_requested ? absl::InfiniteFuture() : deadline);
    if ((kill_requested && !killed) || child_->exit_fd() < 0) {
      wake = std::min(wake, absl::Now() + kKillRetry);
    }
    poll(fds.data(), fds.size(), PollTimeoutMillis(wake));
    for (const pollfd& fd : fds) {
      if (fd.revents == 0) continue;
      if (fd.fd == output.get()) {
        ReadOutput(output, PodStream::kStdout, log);
      } else if (fd.fd == errors.get()) {
        ReadOutput(errors, PodStream::kStderr, log);
      } else if (input_ != nullptr &&
                 (fd.fd == input_->wake_fd() || fd.fd == input_pipe.get())) {
        PumpInput();
      } else if (fd.fd == kill_fd && !kill_requested) {
        kill_requested = true;
        ending = Ending::kKilled;
      }
    }
    if (!kill_requested && absl::Now() >= deadline) {
      kill_requested = true;
      ending = Ending::kDeadline;
    }
    if (kill_requested && !child_->reaped()) RequestKill(&killed, &give_up);
    if (!child_->reaped() && child_->TryReap()) {
      drain_until = absl::Now() + kDrainAfterExit;
    }
    if (child_->reaped() && absl::Now() >= drain_until) break;
  }
  finished_ = absl::Now();
  return ending;
}

Termination RunscContainer::Result() const {
  Termination end;
  end.started = started_;
  end.finished = finished_;
  end.exit_code = ShellExitCode(child_->wait_status());
  const CgroupMemoryEvents memory =
      cgroup_.has_value() ? cgroup_->ReadMemoryEvents() : CgroupMemoryEvents();
  if (LooksOomKilled(end.exit_code, memory, memory_limit_bytes_)) {
    end.reason = "OOMKilled";
  } else if (end.exit_code != 0 && LooksLikeRunscError(first_output_)) {
    end.reason = "StartError";
    end.exit_code = 128;
    end.message = std::string(absl::StripAsciiWhitespace(first_output_));
  } else {
    end.reason = end.exit_code == 0 ? "Completed" : "Error";
  }
  return end;
}

void RunscContainer::CleanUp() {
  if (cleaned_up_) return;
  cleaned_up_ = true;
  if (child_.has_value() && !child_->reaped()) {
    (void)node_.cli().Kill(id_);
    child_->Kill();
    child_->WaitBlocking();
  }
  if (node_.cli().HasState(id_)) {
    absl::Status deleted = node_.cli().DeleteForce(id_);
    if (!deleted.ok()) LogWarning("fake-kubelet", deleted.message());
    node_.cli().RemoveStateFiles(id_);
  }
  (void)RemoveTree(bundle_dir_);
  (void)RemoveTree(volumes_dir_);
  if (cgroup_.has_value()) {
    absl::Status removed = cgroup_->Remove();
    if (!removed.ok()) LogWarning("fake-kubelet", removed.message());
  }
}

}  // namespace codeexec::fake_kube
