#include "server/api/caller_quotas.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "server/api/caller_auth.h"
#include "server/exec/quota_status.h"

namespace codeexec {
namespace {

TEST(CallerQuotasTest, ConcurrentExecutionsAreCountedPerCallerUntilReleased) {
  auto quotas = CallerQuotas::Create({.concurrent_executions = 2,
                                      .executions_per_minute = 0,
                                      .open_sessions = 0});
  auto a1 = quotas->Admit("a");
  auto a2 = quotas->Admit("a");
  ASSERT_TRUE(a1.ok() && a2.ok());
  absl::StatusOr<std::unique_ptr<CallerQuotas::Lease>> a3 = quotas->Admit("a");
  ASSERT_TRUE(absl::IsResourceExhausted(a3.status()));
  EXPECT_TRUE(IsQuotaExceeded(a3.status()));
  EXPECT_NE(a3.status().message().find("server.quotas.concurrentExecutions 2"),
            std::string::npos)
      << a3.status();
  EXPECT_NE(a3.status().message().find("\"a\""), std::string::npos);
  EXPECT_TRUE(quotas->Admit("b").ok());  // another caller's own quota
  a1->reset();
  EXPECT_TRUE(quotas->Admit("a").ok());
  a2->reset();
  EXPECT_EQ(quotas->tracked_callers(), 0);
}

TEST(CallerQuotasTest, ExecutionsPerMinuteCountStartsNotRunningOnes) {
  auto quotas = CallerQuotas::Create({.concurrent_executions = 0,
                                      .executions_per_minute = 3,
                                      .open_sessions = 0});
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(quotas->Admit("a").ok());  // ended
  absl::StatusOr<std::unique_ptr<CallerQuotas::Lease>> fourth =
      quotas->Admit("a");
  ASSERT_TRUE(absl::IsResourceExhausted(fourth.status()));
  EXPECT_NE(
      fourth.status().message().find("server.quotas.executionsPerMinute 3"),
      std::string::npos)
      << fourth.status();
  EXPECT_NE(fourth.status().message().find("retry in"), std::string::npos);
  EXPECT_TRUE(quotas->Admit("").ok());      // the anonymous caller is another
  EXPECT_EQ(quotas->tracked_callers(), 2);  // their minute has not passed
}

TEST(CallerQuotasTest, NoQuotaAdmitsEverything) {
  auto quotas = CallerQuotas::Create({});
  std::vector<std::unique_ptr<CallerQuotas::Lease>> leases;
  for (int i = 0; i < 1000; ++i) leases.push_back(*quotas->Admit("a"));
  leases.clear();
  EXPECT_EQ(quotas->tracked_callers(), 0);
}

TEST(IdentityAllowedTest, ExactEntriesAndPrefixesEndingInAStar) {
  const std::vector<std::string> allowed = {"system:serviceaccount:team-a:*",
                                            "system:serviceaccount:ops:runner",
                                            "spiffe://corp/agents/*"};
  EXPECT_TRUE(IdentityAllowed(allowed, "system:serviceaccount:team-a:x"));
  EXPECT_TRUE(IdentityAllowed(allowed, "system:serviceaccount:ops:runner"));
  EXPECT_TRUE(IdentityAllowed(allowed, "spiffe://corp/agents/a1"));
  EXPECT_FALSE(IdentityAllowed(allowed, "system:serviceaccount:team-ab:x"));
  EXPECT_FALSE(IdentityAllowed(allowed, "system:serviceaccount:team-a:"));
  EXPECT_FALSE(IdentityAllowed(allowed, "system:serviceaccount:ops:runner2"));
  EXPECT_FALSE(IdentityAllowed(allowed, "spiffe://corp/agents"));
  EXPECT_FALSE(IdentityAllowed(allowed, ""));
}

}  // namespace
}  // namespace codeexec
