// The open sessions of this replica (CreateSession, Execute with a
// session_id, CloseSession): each a backend's SandboxSession with its shape,
// its expiry and whether a cell runs in it. Sessions start on a worker of
// the Dispatcher (a sandbox's boot, bounded like a run); cells run there too
// (Dispatcher::Submit with the session); a session's sandbox is destroyed
// on the registry's own closer thread, so no caller waits for it. A reaper
// closes sessions idle past their idle timeout, and cancels the cell of one
// past its max lifetime. Sessions live in this process only: a replica's
// restart ends them (their sandboxes go with it, as a run's do).
#ifndef CODEEXEC_SERVER_EXEC_SESSION_REGISTRY_H_
#define CODEEXEC_SERVER_EXEC_SESSION_REGISTRY_H_

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/exec/backend.h"
#include "server/exec/cancellation.h"
#include "server/exec/execution_spec.h"
#include "server/exec/session_options.h"

namespace codeexec {

// Why a session was closed: a metrics label and the log's word.
enum class SessionCloseReason {
  kClient,    // CloseSession
  kIdle,      // its idle timeout
  kLifetime,  // its max lifetime
  kEnded,     // it ended with a cell (interpreter exited, sandbox died)
  kShutdown,  // the server stopped
};
std::string_view SessionCloseReasonName(SessionCloseReason reason);

// What the registry reports (SessionMetrics fills these in); each may be
// empty. Called without the registry's lock.
struct SessionHooks {
  std::function<void(int open)> on_open_count;
  std::function<void()> on_created;
  std::function<void(SessionCloseReason reason, int cells)> on_closed;
};

// One open session. The fields are fixed once it is open; what changes is
// the registry's (under its lock).
struct OpenSession {
  std::string id;
  // The runs of its cells: language, env, limits, output caps, default
  // timeout (code and files come with each cell).
  ExecutionSpec shape;
  absl::Duration idle_timeout;
  absl::Duration max_lifetime;
  absl::Time created;
  std::unique_ptr<SandboxSession> sandbox;
  // Who created it (server.auth's caller identity; "" when auth is off):
  // only the same caller finds it.
  std::string owner;
};

class SessionRegistry {
 public:
  // `backend` must outlive the registry.
  SessionRegistry(SessionOptions options, Backend& backend,
                  SessionHooks hooks = {});
  // Closes every session (their sandboxes destroyed before it returns).
  ~SessionRegistry();

  const SessionOptions& options() const { return options_; }

  // A new session id with a slot held for it, for `owner`:
  // RESOURCE_EXHAUSTED when max_sessions are open or starting, or when
  // `max_per_owner` (> 0; server.quotas.openSessions) of `owner`'s are;
  // UNAVAILABLE once closing for shutdown, FAILED_PRECONDITION when
  // sessions are off.
  absl::StatusOr<std::string> Reserve(std::string_view owner = "",
                                      int max_per_owner = 0);
  // Gives the slot back (the start could not be queued).
  void Unreserve(const std::string& id);
  // Starts the reserved session's sandbox (blocks: call it from a worker)
  // and opens it; `files` go into the workspace with its first cell. On
  // failure the slot is free again.
  absl::StatusOr<std::shared_ptr<OpenSession>> Start(
      const std::string& id, ExecutionSpec shape,
      std::vector<WorkspaceFile> files, absl::Duration idle_timeout,
      absl::Duration max_lifetime, std::string owner = "");

  // For a cell: the session, now busy, and the files it still owes its
  // first cell (moved out). NOT_FOUND if it is not open; FAILED_PRECONDITION
  // while a cell of it runs. `cancel` is the cell's (CloseSession and the
  // max lifetime cancel it).
  struct Acquired {
    std::shared_ptr<OpenSession> session;
    std::vector<WorkspaceFile> pending_files;
  };
  // A session of another owner than `caller` is NOT_FOUND too.
  absl::StatusOr<Acquired> Acquire(std::string_view id,
                                   std::shared_ptr<Cancellation> cancel,
                                   std::string_view caller = "");
  // After the cell (exactly once per Acquire): idle again, or closed if the
  // session ended with it or was closed meanwhile. `ran` is false when the
  // cell never reached the sandbox (its files are owed again).
  void Release(const std::shared_ptr<OpenSession>& session, bool ended,
               bool ran, std::vector<WorkspaceFile> unsent_files = {});

  // CloseSession: NOT_FOUND if not open; a running cell is cancelled and
  // the session closes when it returns. The number of cells it ran.
  absl::StatusOr<int> Close(std::string_view id, std::string_view caller = "");
  // Shutdown: closes every session, cancelling running cells; new ones are
  // refused from now on.
  void CloseAll();

  int open() const;

 private:
  struct Entry {
    std::shared_ptr<OpenSession> session;
    std::vector<WorkspaceFile> pending_files;
    absl::Time last_used;
    int cells = 0;
    bool busy = false;
    std::shared_ptr<Cancellation> running;
    // Set while busy: close when the cell returns, for this reason.
    std::optional<SessionCloseReason> closing;
  };

  // Moves the entry's sandbox to the closer (the entry is erased).
  void CloseLocked(std::map<std::string, Entry>::iterator it,
                   SessionCloseReason reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReaperLoop();
  void CloserLoop();
  void ReportOpenCount();

  const SessionOptions options_;
  Backend& backend_;
  const SessionHooks hooks_;
  mutable absl::Mutex mu_;
  std::map<std::string, Entry> open_ ABSL_GUARDED_BY(mu_);
  // Reserved ids (their sessions starting) and their owners, until Start or
  // Unreserve.
  std::map<std::string, std::string, std::less<>> reserved_
      ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  struct Closing {
    std::shared_ptr<OpenSession> session;
    SessionCloseReason reason;
    int cells;
  };
  std::deque<Closing> to_close_ ABSL_GUARDED_BY(mu_);
  bool closer_done_ ABSL_GUARDED_BY(mu_) = false;
  std::thread reaper_;
  std::thread closer_;
};

// "cs-" + 24 hex digits from a CSPRNG-seeded generator.
std::string NewSessionId();

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_EXEC_SESSION_REGISTRY_H_
