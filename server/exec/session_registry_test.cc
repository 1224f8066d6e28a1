// SessionRegistry with a backend whose sessions only count themselves (what
// a real sandbox does is session_server_test's): slots, one cell at a time,
// files owed to the first cell, idle expiry and max lifetime, closing a
// busy session, shutdown, and that every closed session's sandbox is
// destroyed.
#include "server/exec/session_registry.h"

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace codeexec {
namespace {

using ::testing::MatchesRegex;

// A session that is only a count of live sandboxes.
class CountedSession : public SandboxSession {
 public:
  CountedSession(std::string name, std::atomic<int>& alive)
      : name_(std::move(name)), alive_(alive) {
    ++alive_;
  }
  ~CountedSession() override { --alive_; }
  std::string_view sandbox_name() const override { return name_; }
  absl::StatusOr<ExecutionResult> RunCell(const ExecutionSpec&, OutputSink&,
                                          const Cancellation&) override {
    return ExecutionResult();
  }

 private:
  const std::string name_;
  std::atomic<int>& alive_;
};

class SessionsBackend : public Backend {
 public:
  std::string_view Name() const override { return "fake"; }
  absl::StatusOr<ExecutionResult> Run(const ExecutionSpec&, OutputSink&,
                                      const Cancellation&) override {
    return absl::UnimplementedError("runs are not this fake's");
  }
  absl::StatusOr<std::unique_ptr<SandboxSession>> StartSession(
      const ExecutionSpec&, std::string_view id, absl::Duration) override {
    if (fail_next.exchange(false)) {
      return absl::UnavailableError("the sandbox did not start");
    }
    return std::make_unique<CountedSession>(std::string(id), alive);
  }
  std::atomic<int> alive{0};
  std::atomic<bool> fail_next{false};
};

SessionOptions AtMost(int sessions) {
  SessionOptions options;
  options.max_sessions = sessions;
  return options;
}

struct Closed {
  SessionCloseReason reason;
  int cells;
};

class SessionRegistryTest : public ::testing::Test {
 protected:
  void Make(SessionOptions options = {}) {
    SessionHooks hooks;
    hooks.on_closed = [this](SessionCloseReason reason, int cells) {
      absl::MutexLock lock(&mu_);
      closed_.push_back({reason, cells});
    };
    registry_ = std::make_unique<SessionRegistry>(options, backend_, hooks);
  }
  std::shared_ptr<OpenSession> Open(absl::Duration idle = absl::Minutes(10),
                                    absl::Duration lifetime = absl::Hours(1),
                                    std::vector<WorkspaceFile> files = {}) {
    absl::StatusOr<std::string> id = registry_->Reserve();
    EXPECT_TRUE(id.ok()) << id.status();
    if (!id.ok()) return nullptr;
    auto session = registry_->Start(*id, ExecutionSpec(), std::move(files),
                                    idle, lifetime);
    EXPECT_TRUE(session.ok()) << session.status();
    return session.ok() ? *session : nullptr;
  }
  // Until `alive` sandboxes are left (the closer thread destroys them).
  bool WaitAlive(int alive) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (backend_.alive != alive) {
      if (absl::Now() > deadline) return false;
      absl::SleepFor(absl::Milliseconds(10));
    }
    return true;
  }
  std::vector<Closed> closed() {
    absl::MutexLock lock(&mu_);
    return closed_;
  }

  // Declared before the registry, whose closer thread reports into them
  // until it is destroyed.
  SessionsBackend backend_;
  absl::Mutex mu_;
  std::vector<Closed> closed_;
  std::unique_ptr<SessionRegistry> registry_;
};

TEST_F(SessionRegistryTest, IdsAreUnguessableAndSlotsAreBounded) {
  Make(AtMost(2));
  auto a = Open();
  auto b = Open();
  ASSERT_TRUE(a && b);
  EXPECT_THAT(a->id, MatchesRegex("cs-[0-9a-f]{24}"));
  EXPECT_NE(a->id, b->id);
  EXPECT_EQ(registry_->Reserve().status().code(),
            absl::StatusCode::kResourceExhausted);
  ASSERT_TRUE(registry_->Close(a->id).ok());
  absl::StatusOr<std::string> again = registry_->Reserve();
  EXPECT_TRUE(again.ok());
  registry_->Unreserve(*again);
  EXPECT_TRUE(WaitAlive(1));
}

TEST_F(SessionRegistryTest, SessionsOffAndAFailedStartFreeTheirSlot) {
  Make(AtMost(0));
  EXPECT_EQ(registry_->Reserve().status().code(),
            absl::StatusCode::kFailedPrecondition);
  Make(AtMost(1));
  backend_.fail_next = true;
  absl::StatusOr<std::string> id = registry_->Reserve();
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(
      registry_
          ->Start(*id, ExecutionSpec(), {}, absl::Minutes(1), absl::Minutes(1))
          .status()
          .code(),
      absl::StatusCode::kUnavailable);
  absl::StatusOr<std::string> again = registry_->Reserve();
  ASSERT_TRUE(again.ok());  // the slot is free again
  registry_->Unreserve(*again);
}

TEST_F(SessionRegistryTest, OneCellAtATimeAndFilesGoWithTheFirstCellThatRan) {
  Make();
  auto session = Open(absl::Minutes(10), absl::Hours(1), {{"in.txt", "data"}});
  ASSERT_TRUE(session);
  EXPECT_EQ(registry_->Acquire("cs-000000000000000000000000", nullptr)
                .status()
                .code(),
            absl::StatusCode::kNotFound);
  auto first = registry_->Acquire(session->id, nullptr);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->pending_files.size(), 1u);
  EXPECT_EQ(registry_->Acquire(session->id, nullptr).status().code(),
            absl::StatusCode::kFailedPrecondition);
  // That cell never reached the sandbox: the files are owed again.
  registry_->Release(session, false, false, std::move(first->pending_files));
  auto second = registry_->Acquire(session->id, nullptr);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->pending_files.size(), 1u);
  registry_->Release(session, false, true);
  auto third = registry_->Acquire(session->id, nullptr);
  ASSERT_TRUE(third.ok());
  EXPECT_TRUE(third->pending_files.empty());
  registry_->Release(session, false, true);
  absl::StatusOr<int> cells = registry_->Close(session->id);
  ASSERT_TRUE(cells.ok());
  EXPECT_EQ(*cells, 2);
}

TEST_F(SessionRegistryTest, AnIdleSessionIsClosedAndItsSandboxDestroyed) {
  Make();
  auto session = Open(absl::Milliseconds(300));
  ASSERT_TRUE(session);
  EXPECT_EQ(backend_.alive, 1);
  EXPECT_TRUE(WaitAlive(0));
  EXPECT_EQ(registry_->Acquire(session->id, nullptr).status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_EQ(closed().size(), 1u);
  EXPECT_EQ(closed()[0].reason, SessionCloseReason::kIdle);
}

TEST_F(SessionRegistryTest, ABusySessionIsNotIdle) {
  Make();
  auto session = Open(absl::Milliseconds(300));
  ASSERT_TRUE(session);
  auto cancel = std::make_shared<Cancellation>();
  ASSERT_TRUE(registry_->Acquire(session->id, cancel).ok());
  absl::SleepFor(absl::Seconds(1));
  EXPECT_EQ(backend_.alive, 1);
  EXPECT_FALSE(cancel->IsCancelled());
  registry_->Release(session, false, true);
  EXPECT_TRUE(WaitAlive(0));
}

TEST_F(SessionRegistryTest, MaxLifetimeCancelsTheRunningCellThenCloses) {
  Make();
  auto session = Open(absl::Minutes(10), absl::Milliseconds(300));
  ASSERT_TRUE(session);
  auto cancel = std::make_shared<Cancellation>();
  ASSERT_TRUE(registry_->Acquire(session->id, cancel).ok());
  EXPECT_TRUE(cancel->WaitFor(absl::Seconds(5)));
  EXPECT_EQ(cancel->Reason(), "the session reached its max lifetime");
  EXPECT_EQ(backend_.alive, 1);  // not while the cell still runs
  registry_->Release(session, false, true);
  EXPECT_TRUE(WaitAlive(0));
  ASSERT_EQ(closed().size(), 1u);
  EXPECT_EQ(closed()[0].reason, SessionCloseReason::kLifetime);
  EXPECT_EQ(closed()[0].cells, 1);
}

TEST_F(SessionRegistryTest, ClosingABusySessionCancelsItsCell) {
  Make();
  auto session = Open();
  ASSERT_TRUE(session);
  auto cancel = std::make_shared<Cancellation>();
  ASSERT_TRUE(registry_->Acquire(session->id, cancel).ok());
  ASSERT_TRUE(registry_->Close(session->id).ok());
  EXPECT_TRUE(cancel->IsCancelled());
  EXPECT_EQ(backend_.alive, 1);
  registry_->Release(session, false, true);
  EXPECT_TRUE(WaitAlive(0));
  EXPECT_EQ(closed()[0].reason, SessionCloseReason::kClient);
}

TEST_F(SessionRegistryTest, ACellThatEndedTheSessionClosesIt) {
  Make();
  auto session = Open();
  ASSERT_TRUE(session);
  ASSERT_TRUE(registry_->Acquire(session->id, nullptr).ok());
  registry_->Release(session, /*ended=*/true, true);
  EXPECT_EQ(registry_->Acquire(session->id, nullptr).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(WaitAlive(0));
  EXPECT_EQ(closed()[0].reason, SessionCloseReason::kEnded);
}

TEST_F(SessionRegistryTest, ShutdownClosesEverySessionAndRefusesNewOnes) {
  Make();
  ASSERT_TRUE(Open() && Open());
  registry_->CloseAll();
  EXPECT_EQ(registry_->Reserve().status().code(),
            absl::StatusCode::kUnavailable);
  registry_.reset();  // returns once every sandbox is destroyed
  EXPECT_EQ(backend_.alive, 0);
  ASSERT_EQ(closed().size(), 2u);
  EXPECT_EQ(closed()[1].reason, SessionCloseReason::kShutdown);
}

}  // namespace
}  // namespace codeexec
