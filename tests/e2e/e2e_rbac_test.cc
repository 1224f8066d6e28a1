// The executor's RBAC on a real API server: its token can do exactly what the
// project's Role (k8s/rbac.yaml) grants, every verb of that Role is needed
// (taking one away makes the executor fail in a way that names it), and every
// manifest the project ships passes `kubectl apply --dry-run=server`.
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/cluster_access.h"
#include "tests/server_process.h"

namespace codeexec::e2e {
namespace {

using ::codeexec::testing::Execute;
using ::codeexec::testing::ExecuteOutcome;
using ::codeexec::testing::MakeRequest;
using ::codeexec::testing::ServerProcess;
using ::codeexecutor::v1::Finished;
using ::testing::HasSubstr;

// (API group, resource incl. subresource, verb).
using Permission = std::tuple<std::string, std::string, std::string>;

std::string Describe(const Permission& p) {
  return absl::StrCat(std::get<2>(p), " ", std::get<1>(p),
                      std::get<0>(p).empty() ? "" : "." + std::get<0>(p));
}

class E2eRbacTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cluster = Cluster::FromEnvFile();
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::move(*cluster);
    auto role =
        cluster_.GetJson({"-n", cluster_.ns(), "role", "code-executor"});
    ASSERT_TRUE(role.ok()) << role.status();
    role_ = std::move(*role);
    for (const auto& rule : role_["rules"]) {
      for (const std::string group : rule["apiGroups"]) {
        for (const std::string resource : rule["resources"]) {
          for (const std::string verb : rule["verbs"]) {
            granted_.insert({group, resource, verb});
          }
        }
      }
    }
  }
  void TearDown() override {
    ApplyRole(role_);  // whatever a test removed
    absl::Status none_left = cluster_.WaitNoneLeft(absl::Seconds(30));
    EXPECT_TRUE(none_left.ok()) << none_left;
  }

  // `kubectl auth can-i` as the executor's token.
  bool ExecutorCan(const Permission& p, const std::string& ns) {
    const auto& [group, resource, verb] = p;
    const size_t slash = resource.find('/');
    std::vector<std::string> args = {
        "auth", "can-i",
        verb,   resource.substr(0, slash) + (group.empty() ? "" : "." + group),
        "-n",   ns};
    if (slash != std::string::npos) {
      args.push_back("--subresource=" + resource.substr(slash + 1));
    }
    CommandResult can =
        cluster_.KubectlAs(cluster_.executor_kubeconfig(), args);
    EXPECT_TRUE(can.exit_code == 0 || can.exit_code == 1) << can.err;
    return can.exit_code == 0;
  }
  void ApplyRole(const nlohmann::json& role) {
    nlohmann::json body = {{"apiVersion", "rbac.authorization.k8s.io/v1"},
                           {"kind", "Role"},
                           {"metadata",
                            {{"name", role["metadata"]["name"]},
                             {"namespace", role["metadata"]["namespace"]},
                             {"labels", role["metadata"]["labels"]}}},
                           {"rules", role["rules"]}};
    CommandResult applied = cluster_.Kubectl({"apply", "-f", "-"}, body.dump());
    ASSERT_EQ(applied.exit_code, 0) << applied.err;
  }
  // The Role minus one verb; waits until the executor's token lost it.
  void RemoveFromRole(const Permission& p) {
    nlohmann::json role = role_;
    for (auto& rule : role["rules"]) {
      const auto& groups = rule["apiGroups"];
      const auto& resources = rule["resources"];
      if (std::find(groups.begin(), groups.end(), std::get<0>(p)) ==
              groups.end() ||
          std::find(resources.begin(), resources.end(), std::get<1>(p)) ==
              resources.end()) {
        continue;
      }
      nlohmann::json verbs = nlohmann::json::array();
      for (const std::string verb : rule["verbs"]) {
        if (verb != std::get<2>(p)) verbs.push_back(verb);
      }
      rule["verbs"] = verbs;
    }
    // A rule left without verbs is invalid: drop it.
    nlohmann::json rules = nlohmann::json::array();
    for (const auto& rule : role["rules"]) {
      if (!rule["verbs"].empty()) rules.push_back(rule);
    }
    role["rules"] = rules;
    ApplyRole(role);
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (ExecutorCan(p, cluster_.ns()) && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(100));
    }
    ASSERT_FALSE(ExecutorCan(p, cluster_.ns())) << Describe(p);
  }

  Cluster cluster_;
  nlohmann::json role_;
  std::set<Permission> granted_;
};

TEST_F(E2eRbacTest, ExecutorTokenCanDoExactlyWhatTheRoleGrants) {
  const std::vector<std::pair<std::string, std::string>> resources = {
      {"", "configmaps"},
      {"batch", "jobs"},
      {"", "pods"},
      {"", "pods/log"},
      {"", "pods/exec"},
      {"", "secrets"},
      {"", "services"},
      {"apps", "deployments"},
      {"rbac.authorization.k8s.io", "roles"}};
  const std::vector<std::string> verbs = {
      "get",    "list",  "watch",  "create",
      "update", "patch", "delete", "deletecollection"};
  std::vector<std::string> wrong;
  for (const auto& [group, resource] : resources) {
    for (const std::string& verb : verbs) {
      const Permission p{group, resource, verb};
      if (ExecutorCan(p, cluster_.ns()) != granted_.contains(p)) {
        wrong.push_back(absl::StrCat(
            Describe(p), granted_.contains(p) ? " (granted, denied)"
                                              : " (not granted, allowed)"));
      }
      // Nothing at all outside its namespace.
      if (ExecutorCan(p, "default")) {
        wrong.push_back(Describe(p) + " in namespace default");
      }
    }
  }
  EXPECT_THAT(wrong, ::testing::IsEmpty());
  EXPECT_FALSE(granted_.empty());
}

// Where a verb of the Role is used while the server runs, and so how losing
// it mid-flight shows (beyond the start-up check, which names any verb).
enum class Use {
  kRun,      // on every run's path: the call ends PERMISSION_DENIED naming it
  kCleanup,  // deleting a run's objects: logged; the janitor retries later
  kJanitor,  // listing leftovers: the janitor logs the denial
  kOther     // the open pod watch (authorized when it opened); the get after
             // a retried create's 409 (the fake's kube_backend_test covers it)
};
Use UseOf(const Permission& p) {
  const auto& [group, resource, verb] = p;
  if (verb == "create" || resource == "pods/log") return Use::kRun;
  if (verb == "delete") return Use::kCleanup;
  if (verb == "list" && resource != "pods") return Use::kJanitor;
  return Use::kOther;
}

// Whether the server's JSON log has a warning line whose message contains
// `text` (messages are JSON-escaped in the log, so parse each line).
bool LogHasWarningContaining(const std::string& log, absl::string_view text) {
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    const nlohmann::json entry = nlohmann::json::parse(line, nullptr, false);
    if (entry.is_object() && entry.value("level", "") == "warning" &&
        absl::StrContains(entry.value("message", ""), text)) {
      return true;
    }
  }
  return false;
}

TEST_F(E2eRbacTest, EveryVerbOfTheRoleIsNeeded) {
  std::vector<std::string> args = cluster_.ExecutorArgs();
  args.insert(args.end(), {"--set", "kubernetes.janitorInterval=1s"});
  for (const Permission& p : granted_) {
    SCOPED_TRACE(Describe(p));
    const auto& [group, resource, verb] = p;
    // A server started with the whole Role, then the verb is taken away.
    auto running = ServerProcess::Start(args);
    ASSERT_TRUE(running.ok()) << running.status();
    RemoveFromRole(p);
    auto stub = (*running)->NewStub();
    ExecuteOutcome run =
        Execute(*stub, MakeRequest("print('hi')"), absl::Seconds(90));
    absl::SleepFor(absl::Seconds(2));  // a janitor pass
    const std::string log = (*running)->Log();
    const std::string denial =
        absl::StrCat("cannot ", verb, " resource \"", resource, "\"");
    switch (UseOf(p)) {
      case Use::kRun:
        EXPECT_EQ(run.status.error_code(), grpc::StatusCode::PERMISSION_DENIED)
            << run.status.error_message() << " / " << run.stdout_text;
        EXPECT_THAT(run.status.error_message(), HasSubstr(denial));
        break;
      case Use::kCleanup:
      case Use::kJanitor:
        EXPECT_TRUE(run.status.ok()) << run.status.error_message();
        EXPECT_EQ(run.stdout_text, "hi\n");
        EXPECT_TRUE(LogHasWarningContaining(log, denial)) << log;
        break;
      case Use::kOther:
        EXPECT_TRUE(run.status.ok()) << run.status.error_message();
        break;
    }
    // A server starting without it refuses to, naming it.
    auto refused = ServerProcess::Start(args);
    ASSERT_FALSE(refused.ok());
    EXPECT_THAT(refused.status().message(),
                HasSubstr("missing RBAC permissions"));
    EXPECT_THAT(refused.status().message(), HasSubstr(Describe(p)));
    std::printf("without %s: call %s; start-up: %s\n", Describe(p).c_str(),
                run.status.ok()
                    ? Finished::Outcome_Name(run.finished.outcome()).c_str()
                    : "PERMISSION_DENIED",
                std::string(refused.status().message()).c_str());
    // Back to the whole Role: the running server's janitor (every second)
    // deletes whatever the missing verb left behind.
    ApplyRole(role_);
    absl::Status none_left = cluster_.WaitNoneLeft(absl::Seconds(30));
    EXPECT_TRUE(none_left.ok()) << none_left;
  }
}

}  // namespace
}  // namespace codeexec::e2e
