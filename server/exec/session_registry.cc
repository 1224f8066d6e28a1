#include "server/exec/session_registry.h"

#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "server/exec/json_log.h"
#include "server/exec/quota_status.h"

namespace codeexec {
namespace {

// How often the reaper looks for expired sessions.
constexpr absl::Duration kReapInterval = absl::Milliseconds(250);

}  // namespace

std::string_view SessionCloseReasonName(SessionCloseReason reason) {
  switch (reason) {
    case SessionCloseReason::kClient:
      return "client";
    case SessionCloseReason::kIdle:
      return "idle";
    case SessionCloseReason::kLifetime:
      return "lifetime";
    case SessionCloseReason::kEnded:
      return "ended";
    case SessionCloseReason::kShutdown:
      return "shutdown";
  }
  return "unknown";
}

std::string NewSessionId() {
  static absl::Mutex mu(absl::kConstInit);
  static absl::BitGen* bitgen = new absl::BitGen();  // seeded by the OS
  absl::MutexLock lock(&mu);
  const uint64_t high = absl::Uniform<uint64_t>(*bitgen) & 0xffffffffULL;
  const uint64_t low = absl::Uniform<uint64_t>(*bitgen);
  return absl::StrFormat("cs-%08x%016x", high, low);
}

SessionRegistry::SessionRegistry(SessionOptions options, Backend& backend,
                                 SessionHooks hooks)
    : options_(options), backend_(backend), hooks_(std::move(hooks)) {
  reaper_ = std::thread([this] { ReaperLoop(); });
  closer_ = std::thread([this] { CloserLoop(); });
}

SessionRegistry::~SessionRegistry() {
  CloseAll();
  {
    // Busy sessions close as their cells return (the dispatcher, gone
    // before the registry, has ended them).
    absl::MutexLock lock(&mu_);
    auto drained = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return open_.empty() && reserved_.empty();
    };
    mu_.Await(absl::Condition(&drained));
    closer_done_ = true;
  }
  closer_.join();
  reaper_.join();
}

absl::StatusOr<std::string> SessionRegistry::Reserve(std::string_view owner,
                                                     int max_per_owner) {
  absl::MutexLock lock(&mu_);
  if (options_.max_sessions <= 0) {
    return absl::FailedPreconditionError(
        "sessions are off on this server (sessions.maxSessions is 0)");
  }
  if (stopping_) {
    return absl::UnavailableError(
        "server is shutting down; retry on another replica");
  }
  const int held = static_cast<int>(open_.size() + reserved_.size());
  if (held >= options_.max_sessions) {
    return absl::ResourceExhaustedError(absl::StrCat(
        held,
        " sessions are open or starting, the maximum of this replica "
        "(sessions.maxSessions); close one or retry later"));
  }
  if (max_per_owner > 0) {
    int owned = 0;
    for (const auto& [id, entry] : open_)
      owned += entry.session->owner == owner;
    for (const auto& [id, reserver] : reserved_) owned += reserver == owner;
    if (owned >= max_per_owner) {
      return QuotaExceededError(absl::StrCat(
          "caller ",
          owner.empty() ? "anonymous"
                        : absl::StrCat("\"", std::string(owner), "\""),
          " has ", owned,
          " sessions open or starting, its quota "
          "(server.quotas.openSessions ",
          max_per_owner, "); close one first"));
    }
  }
  std::string id = NewSessionId();
  reserved_.emplace(id, owner);
  return id;
}

void SessionRegistry::Unreserve(const std::string& id) {
  absl::MutexLock lock(&mu_);
  reserved_.erase(id);
}

absl::StatusOr<std::shared_ptr<OpenSession>> SessionRegistry::Start(
    const std::string& id, ExecutionSpec shape,
    std::vector<WorkspaceFile> files, absl::Duration idle_timeout,
    absl::Duration max_lifetime, std::string owner) {
  absl::StatusOr<std::unique_ptr<SandboxSession>> sandbox =
      backend_.StartSession(shape, id, max_lifetime);
  auto session = std::make_shared<OpenSession>();
  session->id = id;
  session->shape = std::move(shape);
  session->idle_timeout = idle_timeout;
  session->max_lifetime = max_lifetime;
  session->created = absl::Now();
  session->owner = std::move(owner);
  {
    absl::MutexLock lock(&mu_);
    reserved_.erase(id);
    if (!sandbox.ok()) return sandbox.status();
    session->sandbox = *std::move(sandbox);
    if (stopping_) {
      to_close_.push_back({session, SessionCloseReason::kShutdown, 0});
      return absl::UnavailableError(
          "server is shutting down; retry on another replica");
    }
    Entry& entry = open_[id];
    entry.session = session;
    entry.pending_files = std::move(files);
    entry.last_used = session->created;
  }
  if (hooks_.on_created) hooks_.on_created();
  ReportOpenCount();
  LogEvent(LogLevel::kInfo, "session_started",
           {{"session_id", id},
            {"language", session->shape.language_name},
            {"sandbox", std::string(session->sandbox->sandbox_name())},
            {"idle_timeout_s", absl::ToDoubleSeconds(idle_timeout)},
            {"max_lifetime_s", absl::ToDoubleSeconds(max_lifetime)}});
  return session;
}

absl::StatusOr<SessionRegistry::Acquired> SessionRegistry::Acquire(
    std::string_view id, std::shared_ptr<Cancellation> cancel,
    std::string_view caller) {
  absl::MutexLock lock(&mu_);
  auto it = open_.find(std::string(id));
  if (it == open_.end() || it->second.session->owner != caller) {
    return absl::NotFoundError(absl::StrCat(
        "session ", std::string(id),
        " is not open (never created here, closed, expired, or ended with "
        "an earlier cell)"));
  }
  Entry& entry = it->second;
  if (entry.busy) {
    return absl::FailedPreconditionError(
        absl::StrCat("a cell of session ", std::string(id),
                     " is running; a session runs one cell at a time"));
  }
  entry.busy = true;
  entry.running = std::move(cancel);
  return Acquired{entry.session, std::move(entry.pending_files)};
}

void SessionRegistry::Release(const std::shared_ptr<OpenSession>& session,
                              bool ended, bool ran,
                              std::vector<WorkspaceFile> unsent_files) {
  {
    absl::MutexLock lock(&mu_);
    auto it = open_.find(session->id);
    if (it == open_.end()) return;
    Entry& entry = it->second;
    entry.busy = false;
    entry.running = nullptr;
    entry.last_used = absl::Now();
    if (ran) {
      ++entry.cells;
    } else {
      entry.pending_files = std::move(unsent_files);
    }
    if (ended) {
      CloseLocked(it, SessionCloseReason::kEnded);
    } else if (entry.closing.has_value()) {
      CloseLocked(it, *entry.closing);
    }
  }
  ReportOpenCount();
}

absl::StatusOr<int> SessionRegistry::Close(std::string_view id,
                                           std::string_view caller) {
  std::shared_ptr<Cancellation> running;
  int cells = 0;
  {
    absl::MutexLock lock(&mu_);
    auto it = open_.find(std::string(id));
    if (it == open_.end() || it->second.session->owner != caller) {
      return absl::NotFoundError(
          absl::StrCat("session ", std::string(id), " is not open"));
    }
    cells = it->second.cells;
    if (it->second.busy) {
      it->second.closing = SessionCloseReason::kClient;
      running = it->second.running;
    } else {
      CloseLocked(it, SessionCloseReason::kClient);
    }
  }
  if (running != nullptr) running->Cancel("the session was closed");
  ReportOpenCount();
  return cells;
}

void SessionRegistry::CloseAll() {
  std::vector<std::shared_ptr<Cancellation>> running;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    for (auto it = open_.begin(); it != open_.end();) {
      auto next = std::next(it);
      if (it->second.busy) {
        it->second.closing = SessionCloseReason::kShutdown;
        if (it->second.running != nullptr)
          running.push_back(it->second.running);
      } else {
        CloseLocked(it, SessionCloseReason::kShutdown);
      }
      it = next;
    }
  }
  for (auto& cancel : running) cancel->Cancel("server is shutting down");
  ReportOpenCount();
}

int SessionRegistry::open() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(open_.size());
}

void SessionRegistry::CloseLocked(std::map<std::string, Entry>::iterator it,
                                  SessionCloseReason reason) {
  to_close_.push_back({it->second.session, reason, it->second.cells});
  open_.erase(it);
}

void SessionRegistry::ReportOpenCount() {
  if (!hooks_.on_open_count) return;
  hooks_.on_open_count(open());
}

void SessionRegistry::ReaperLoop() {
  absl::MutexLock lock(&mu_);
  while (!closer_done_) {
    auto done = [this]()
                    ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return closer_done_; };
    mu_.AwaitWithTimeout(absl::Condition(&done), kReapInterval);
    const absl::Time now = absl::Now();
    std::vector<std::shared_ptr<Cancellation>> over_lifetime;
    bool closed = false;
    for (auto it = open_.begin(); it != open_.end();) {
      auto next = std::next(it);
      Entry& entry = it->second;
      const OpenSession& session = *entry.session;
      if (now - session.created >= session.max_lifetime) {
        if (!entry.busy) {
          CloseLocked(it, SessionCloseReason::kLifetime);
          closed = true;
        } else if (!entry.closing.has_value()) {
          entry.closing = SessionCloseReason::kLifetime;
          over_lifetime.push_back(entry.running);
        }
      } else if (!entry.busy && now - entry.last_used >= session.idle_timeout) {
        CloseLocked(it, SessionCloseReason::kIdle);
        closed = true;
      }
      it = next;
    }
    if (over_lifetime.empty() && !closed) continue;
    mu_.Unlock();
    for (auto& cancel : over_lifetime) {
      if (cancel != nullptr) {
        cancel->Cancel("the session reached its max lifetime");
      }
    }
    ReportOpenCount();
    mu_.Lock();
  }
}

void SessionRegistry::CloserLoop() {
  while (true) {
    Closing item;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !to_close_.empty() || closer_done_;
      };
      mu_.Await(absl::Condition(&ready));
      if (to_close_.empty()) return;
      item = std::move(to_close_.front());
      to_close_.pop_front();
    }
    const std::string sandbox(item.session->sandbox->sandbox_name());
    item.session->sandbox.reset();  // ends the sandbox, removes its parts
    if (hooks_.on_closed) hooks_.on_closed(item.reason, item.cells);
    LogEvent(LogLevel::kInfo, "session_closed",
             {{"session_id", item.session->id},
              {"reason", std::string(SessionCloseReasonName(item.reason))},
              {"cells", item.cells},
              {"sandbox", sandbox}});
  }
}

}  // namespace codeexec
