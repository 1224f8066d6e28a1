// Notices when containers of `runsc run` start running, which ends their
// sandbox's boot. runsc keeps the state of container <id> in its root dir
// (`runsc --root`) as "<id>_sandbox:<id>.state", a JSON file whose "status"
// is "created" while the sandbox boots and becomes "running" once the
// container's process was started.
//
// One ContainerStartWatcher serves every run of a backend: one inotify watch
// on the root dir and one thread for the backend's lifetime, and per run
// just an entry in a map (a WatchedContainer). An inotify instance per run
// would add ~8 ms to every run: closing one waits for an SRCU grace period.
#ifndef CODEEXEC_SERVER_LOCAL_CONTAINER_START_WATCHER_H_
#define CODEEXEC_SERVER_LOCAL_CONTAINER_START_WATCHER_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/local/fs_util.h"

namespace codeexec {

// Name of the state file runsc keeps for the container `id` of `runsc run`
// (whose sandbox has the same id): "<id>_sandbox:<id>.state".
std::string RunscStateFileName(absl::string_view id);

// Whether the contents of a state file say the container is running (status
// "running"). False for anything that does not parse, e.g. a partial write.
bool StateSaysRunning(absl::string_view state_json);

// When the sandbox's boot of a run that was spawned at `spawn` and ended at
// `end` was over: when the container was seen running, or at its first
// output if that came earlier (output proves the program runs, and runsc
// saves "running" a moment after starting it). Without either, `end`. Always
// within [spawn, end].
absl::Time BootEndTime(std::optional<absl::Time> running,
                       std::optional<absl::Time> first_output, absl::Time spawn,
                       absl::Time end);

class ContainerStartWatcher {
 public:
  // Watches `root_dir`, which must exist, from a thread of its own. Fails if
  // inotify or the thread are not available (the caller can do without).
  static absl::StatusOr<std::unique_ptr<ContainerStartWatcher>> Create(
      std::string root_dir);

  ContainerStartWatcher(const ContainerStartWatcher&) = delete;
  ContainerStartWatcher& operator=(const ContainerStartWatcher&) = delete;
  // Stops and joins the thread and closes the inotify instance (its watch
  // goes with it). No WatchedContainer may outlive it.
  ~ContainerStartWatcher();

 private:
  friend class WatchedContainer;

  ContainerStartWatcher(std::string root_dir, UniqueFd inotify_fd,
                        UniqueFd stop_fd);

  // Starts and stops watching the state file `name`.
  void Add(const std::string& name);
  std::optional<absl::Time> Remove(const std::string& name);
  std::optional<absl::Time> RunningTime(const std::string& name) const;
  std::optional<absl::Time> WaitRunning(const std::string& name,
                                        absl::Time deadline) const;

  // The thread: reads the state files that inotify reports changes to.
  void Run();
  // Reads the events available on inotify_fd_ and checks what they name.
  void HandleEvents();
  // If `name` is watched and not seen running yet, reads it and records the
  // time if it says "running".
  void Check(const std::string& name);

  const std::string root_dir_;
  UniqueFd inotify_fd_;
  UniqueFd stop_fd_;  // eventfd that the destructor makes readable
  std::thread thread_;
  mutable absl::Mutex mu_;
  // Watched state file names -> when they were first seen saying "running".
  std::map<std::string, std::optional<absl::Time>, std::less<>> running_
      ABSL_GUARDED_BY(mu_);
};

// Watches one container (one run) from construction until Stop() or
// destruction. Construct it right before spawning `runsc run`: a state file
// that already says "running" counts at once, later writes are seen through
// inotify. One at a time per container id.
class WatchedContainer {
 public:
  WatchedContainer(ContainerStartWatcher& watcher, absl::string_view id);
  WatchedContainer(const WatchedContainer&) = delete;
  WatchedContainer& operator=(const WatchedContainer&) = delete;
  ~WatchedContainer() { Stop(); }

  // Stops watching (idempotent) and returns running_time().
  std::optional<absl::Time> Stop();

  // When the state file was first seen saying "running"; nullopt if it was
  // not (yet).
  std::optional<absl::Time> running_time() const;

  // Blocks until the state file says "running" or `deadline` passes, and
  // returns running_time().
  std::optional<absl::Time> WaitRunning(absl::Time deadline) const;

 private:
  ContainerStartWatcher& watcher_;
  const std::string name_;
  bool stopped_ = false;
  std::optional<absl::Time> running_time_;  // once stopped
};

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_LOCAL_CONTAINER_START_WATCHER_H_
