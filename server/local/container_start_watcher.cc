#include "server/local/container_start_watcher.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"

namespace codeexec {
namespace {

// runsc writes the state file in place (create, modify, close) or could
// rename a new one over it; any of these may make it say "running".
constexpr uint32_t kEvents =
    IN_CREATE | IN_CLOSE_WRITE | IN_MOVED_TO | IN_MODIFY;

}  // namespace

std::string RunscStateFileName(absl::string_view id) {
  return absl::StrCat(id, "_sandbox:", id, ".state");
}

bool StateSaysRunning(absl::string_view state_json) {
  // Cheap test first: most reads are of states that do not say it (the
  // file also holds the whole OCI spec).
  if (!absl::StrContains(state_json, "\"running\"")) return false;
  const nlohmann::json state =
      nlohmann::json::parse(state_json.begin(), state_json.end(),
                            /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (!state.is_object()) return false;  // also a parse error (discarded)
  const auto status = state.find("status");
  return status != state.end() && status->is_string() &&
         status->get_ref<const std::string&>() == "running";
}

absl::Time BootEndTime(std::optional<absl::Time> running,
                       std::optional<absl::Time> first_output, absl::Time spawn,
                       absl::Time end) {
  absl::Time boot_end = end;
  if (running) boot_end = std::min(boot_end, *running);
  if (first_output) boot_end = std::min(boot_end, *first_output);
  return std::clamp(boot_end, spawn, std::max(spawn, end));
}

absl::StatusOr<std::unique_ptr<ContainerStartWatcher>>
ContainerStartWatcher::Create(std::string root_dir) {
  UniqueFd inotify_fd(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!inotify_fd.valid()) {
    const int error = errno;
    return ErrnoError(
        error, "creating an inotify instance",
        error == EMFILE ? " (raise fs.inotify.max_user_instances)" : "");
  }
  if (inotify_add_watch(inotify_fd.get(), root_dir.c_str(), kEvents) < 0) {
    const int error = errno;
    return ErrnoError(
        error, "watching ", root_dir, " with inotify",
        error == ENOSPC ? " (raise fs.inotify.max_user_watches)" : "");
  }
  UniqueFd stop_fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop_fd.valid()) return ErrnoError(errno, "creating an eventfd");
  std::unique_ptr<ContainerStartWatcher> watcher(new ContainerStartWatcher(
      std::move(root_dir), std::move(inotify_fd), std::move(stop_fd)));
  try {
    watcher->thread_ = std::thread([w = watcher.get()] { w->Run(); });
  } catch (const std::system_error& error) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot start a thread to watch ", watcher->root_dir_,
                     ": ", error.what()));
  }
  return watcher;
}

ContainerStartWatcher::ContainerStartWatcher(std::string root_dir,
                                             UniqueFd inotify_fd,
                                             UniqueFd stop_fd)
    : root_dir_(std::move(root_dir)),
      inotify_fd_(std::move(inotify_fd)),
      stop_fd_(std::move(stop_fd)) {}

ContainerStartWatcher::~ContainerStartWatcher() {
  if (thread_.joinable()) {
    const uint64_t one = 1;
    ssize_t ignored = write(stop_fd_.get(), &one, sizeof(one));
    (void)ignored;
    thread_.join();
  }
}

void ContainerStartWatcher::Add(const std::string& name) {
  // Cheap when the watch exists; restores it if the dir was re-created.
  inotify_add_watch(inotify_fd_.get(), root_dir_.c_str(), kEvents);
  {
    absl::MutexLock lock(&mu_);
    running_.emplace(name, std::nullopt);
  }
  // The watch exists now, so a write after this check is not missed.
  Check(name);
}

std::optional<absl::Time> ContainerStartWatcher::Remove(
    const std::string& name) {
  absl::MutexLock lock(&mu_);
  auto it = running_.find(name);
  if (it == running_.end()) return std::nullopt;
  std::optional<absl::Time> running = it->second;
  running_.erase(it);
  return running;
}

std::optional<absl::Time> ContainerStartWatcher::RunningTime(
    const std::string& name) const {
  absl::MutexLock lock(&mu_);
  auto it = running_.find(name);
  return it == running_.end() ? std::nullopt : it->second;
}

std::optional<absl::Time> ContainerStartWatcher::WaitRunning(
    const std::string& name, absl::Time deadline) const {
  absl::MutexLock lock(&mu_);
  auto seen = [this, &name]() {
    auto it = running_.find(name);
    return it == running_.end() || it->second.has_value();
  };
  mu_.AwaitWithDeadline(absl::Condition(&seen), deadline);
  auto it = running_.find(name);
  return it == running_.end() ? std::nullopt : it->second;
}

void ContainerStartWatcher::Run() {
  enum Slot { kInotify, kStop, kSlots };
  pollfd fds[kSlots];
  fds[kInotify] = {inotify_fd_.get(), POLLIN, 0};
  fds[kStop] = {stop_fd_.get(), POLLIN, 0};
  while (true) {
    const int ready = poll(fds, kSlots, -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      return;  // cannot wait: give up (callers fall back)
    }
    if (fds[kStop].revents != 0) return;
    if ((fds[kInotify].revents & (POLLERR | POLLHUP | POLLNVAL)) != 0) return;
    if (fds[kInotify].revents != 0) HandleEvents();
  }
}

void ContainerStartWatcher::HandleEvents() {
  std::vector<std::string> changed;
  bool overflow = false;
  // Room for at least one event with the longest name.
  alignas(inotify_event) char buffer[4096];
  while (true) {
    const ssize_t got = read(inotify_fd_.get(), buffer, sizeof(buffer));
    if (got <= 0) break;  // EAGAIN: all read (EINTR: poll again)
    for (const char* next = buffer; next < buffer + got;) {
      const auto* event = reinterpret_cast<const inotify_event*>(next);
      next += sizeof(inotify_event) + event->len;
      if ((event->mask & IN_Q_OVERFLOW) != 0) overflow = true;
      if (event->len == 0 || !absl::EndsWith(event->name, ".state")) continue;
      if (std::find(changed.begin(), changed.end(), event->name) ==
          changed.end()) {
        changed.emplace_back(event->name);
      }
    }
  }
  if (overflow) {
    // Events were lost: look at every watched file that is not running yet.
    absl::MutexLock lock(&mu_);
    for (const auto& [name, running] : running_) {
      if (!running) changed.push_back(name);
    }
  }
  for (const std::string& name : changed) Check(name);
}

void ContainerStartWatcher::Check(const std::string& name) {
  {
    absl::MutexLock lock(&mu_);
    auto it = running_.find(name);
    if (it == running_.end() || it->second.has_value()) return;
  }
  const absl::Time seen = absl::Now();
  std::string content;
  if (!ReadSmallFile(absl::StrCat(root_dir_, "/", name), &content).ok()) {
    return;
  }
  if (!StateSaysRunning(content)) return;  // e.g. a partial write
  absl::MutexLock lock(&mu_);
  auto it = running_.find(name);
  if (it != running_.end() && !it->second) it->second = seen;
}

WatchedContainer::WatchedContainer(ContainerStartWatcher& watcher,
                                   absl::string_view id)
    : watcher_(watcher), name_(RunscStateFileName(id)) {
  watcher_.Add(name_);
}

std::optional<absl::Time> WatchedContainer::Stop() {
  if (!stopped_) {
    stopped_ = true;
    running_time_ = watcher_.Remove(name_);
  }
  return running_time_;
}

std::optional<absl::Time> WatchedContainer::WaitRunning(
    absl::Time deadline) const {
  return stopped_ ? running_time_ : watcher_.WaitRunning(name_, deadline);
}

std::optional<absl::Time> WatchedContainer::running_time() const {
  return stopped_ ? running_time_ : watcher_.RunningTime(name_);
}

}  // namespace codeexec
