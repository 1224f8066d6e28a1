// CheckPermissions against a loopback HTTP server answering
// SelfSubjectAccessReviews the way kube-apiserver does; RequiredPermissions
// against every copy of the RBAC rules in the repository.
#include "server/kube/permission_check.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/kube/client/rest_client_test_server.h"
#include "server/kube/client/rest_client_test_util.h"
#include "tests/source_file.h"
#include "yaml-cpp/yaml.h"

namespace codeexec::kube {
namespace {

using ::testing::HasSubstr;
using testing::MakeClient;
using testing::TestConnection;
using testing::TestHttpServer;
using testing::TestRequest;
using testing_util::ReadSourceFile;

// Allows everything except `denied` ("verb resource[/sub]"), recording the
// reviews it was asked.
class ReviewServer {
 public:
  explicit ReviewServer(std::set<std::string> denied)
      : denied_(std::move(denied)),
        http_([this](const TestRequest& request, TestConnection& c) {
          nlohmann::json review = nlohmann::json::parse(request.body);
          const auto& attributes = review["spec"]["resourceAttributes"];
          std::string key = attributes.value("verb", "") + " " +
                            attributes.value("resource", "");
          if (attributes.contains("subresource")) {
            key += "/" + attributes["subresource"].get<std::string>();
          }
          {
            std::lock_guard<std::mutex> lock(mu_);
            asked_.push_back({request.target, review});
          }
          review["status"] = {{"allowed", !denied_.contains(key)}};
          c.Respond(201, review.dump());
        }) {}
  std::string url() const { return http_.url(); }
  std::vector<std::pair<std::string, nlohmann::json>> asked() {
    std::lock_guard<std::mutex> lock(mu_);
    return asked_;
  }

 private:
  const std::set<std::string> denied_;
  std::mutex mu_;
  std::vector<std::pair<std::string, nlohmann::json>> asked_;
  TestHttpServer http_;
};

TEST(PermissionCheckTest, AllAllowedIsOkAndAsksEachOnceInTheNamespace) {
  ReviewServer server({});
  auto client = MakeClient(server.url());
  EXPECT_TRUE(CheckPermissions(*client, "ns1", RequiredPermissions()).ok());
  const auto asked = server.asked();
  ASSERT_EQ(asked.size(), RequiredPermissions().size());
  EXPECT_EQ(asked[0].first,
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews");
  EXPECT_EQ(asked[0].second["kind"], "SelfSubjectAccessReview");
  for (const auto& [target, review] : asked) {
    EXPECT_EQ(review["spec"]["resourceAttributes"]["namespace"], "ns1");
  }
}

TEST(PermissionCheckTest, NamesEveryMissingVerb) {
  ReviewServer server({"watch pods", "get pods/log", "delete jobs"});
  auto client = MakeClient(server.url());
  absl::Status checked =
      CheckPermissions(*client, "ns1", RequiredPermissions());
  EXPECT_EQ(checked.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(checked.message(), HasSubstr("\"ns1\""));
  EXPECT_THAT(checked.message(), HasSubstr("watch pods"));
  EXPECT_THAT(checked.message(), HasSubstr("get pods/log"));
  EXPECT_THAT(checked.message(), HasSubstr("delete jobs.batch"));
  EXPECT_THAT(checked.message(), ::testing::Not(HasSubstr("create jobs")));
}

TEST(PermissionCheckTest, ServerWithoutTheAuthorizationApiIsNotChecked) {
  TestHttpServer server([](const TestRequest&, TestConnection& c) {
    c.Respond(404, R"({"kind":"Status","code":404,"reason":"NotFound"})");
  });
  auto client = MakeClient(server.url());
  EXPECT_TRUE(CheckPermissions(*client, "ns1", RequiredPermissions()).ok());
}

// RequiredPermissions() is the one list of RBAC rules; each copy of it
// (the chart's Role, k8s/rbac.yaml rendered from it, tests/deploy's expected
// rules and the README) is compared with it here.

// "verb resource[/subresource][.group]" of every rule of a Role, as
// Permission::ToString spells it.
std::set<std::string> RulesOfRole(const YAML::Node& role) {
  std::set<std::string> rules;
  for (const YAML::Node& rule : role["rules"]) {
    for (const YAML::Node& group : rule["apiGroups"]) {
      for (const YAML::Node& resource : rule["resources"]) {
        for (const YAML::Node& verb : rule["verbs"]) {
          const std::string g = group.as<std::string>();
          rules.insert(absl::StrCat(verb.as<std::string>(), " ",
                                    resource.as<std::string>(),
                                    g.empty() ? "" : ".", g));
        }
      }
    }
  }
  return rules;
}

std::set<std::string> Required(bool warm_pool = false) {
  std::set<std::string> required;
  for (const Permission& p : RequiredPermissions(warm_pool)) {
    required.insert(p.ToString());
  }
  return required;
}

// The Role documents of a multi-document YAML text.
std::vector<YAML::Node> Roles(const std::string& text) {
  std::vector<YAML::Node> roles;
  for (const YAML::Node& doc : YAML::LoadAll(text)) {
    if (doc.IsMap() && doc["kind"] && doc["kind"].as<std::string>() == "Role") {
      roles.push_back(doc);
    }
  }
  return roles;
}

TEST(RequiredPermissionsTest, K8sManifestsRoleIsExactlyTheRequiredPermissions) {
  const std::vector<YAML::Node> roles = Roles(ReadSourceFile("k8s/rbac.yaml"));
  ASSERT_EQ(roles.size(), 1u);
  EXPECT_EQ(RulesOfRole(roles[0]), Required());
}

// The chart's Role rendered with `extra_args` (e.g. --set ...).
std::string RenderChartRbac(const std::string& extra_args) {
  std::string helm =
      absl::StrCat(std::getenv("HOME") ? std::getenv("HOME") : "",
                   "/.cache/code-executor/bin/helm");
  if (const char* env = std::getenv("HELM"); env != nullptr) helm = env;
  if (access(helm.c_str(), X_OK) != 0) return "";
  const std::string command =
      absl::StrCat(helm, " template code-executor ", CODEEXEC_SOURCE_DIR,
                   "/charts/code-executor --namespace agent-sandbox "
                   "--show-only templates/rbac.yaml ",
                   extra_args);
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return "";
  std::string rendered;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
    rendered.append(buffer, n);
  }
  return pclose(pipe) == 0 ? rendered : "";
}

TEST(RequiredPermissionsTest, WithAWarmPoolTheChartAddsExactlyTheAttachRules) {
  const std::string rendered =
      RenderChartRbac("--set config.kubernetes.warmPool.size=2");
  if (rendered.empty()) {
    if (std::getenv("CI") != nullptr) FAIL() << "helm template failed";
    GTEST_SKIP() << "no helm (scripts/install-helm)";
  }
  const std::vector<YAML::Node> roles = Roles(rendered);
  ASSERT_EQ(roles.size(), 1u) << rendered;
  EXPECT_EQ(RulesOfRole(roles[0]), Required(/*warm_pool=*/true));
  std::set<std::string> added = Required(true);
  for (const std::string& rule : Required(false)) added.erase(rule);
  EXPECT_EQ(added,
            (std::set<std::string>{"get pods/attach", "create pods/attach"}));
}

TEST(RequiredPermissionsTest,
     TheRenderedChartsRoleIsExactlyTheRequiredPermissions) {
  std::string helm =
      absl::StrCat(std::getenv("HOME") ? std::getenv("HOME") : "",
                   "/.cache/code-executor/bin/helm");
  if (const char* env = std::getenv("HELM"); env != nullptr) helm = env;
  if (access(helm.c_str(), X_OK) != 0) {
    if (std::getenv("CI") != nullptr) FAIL() << "no helm at " << helm;
    GTEST_SKIP() << "no helm at " << helm << " (scripts/install-helm)";
  }
  const std::string command =
      absl::StrCat(helm, " template code-executor ", CODEEXEC_SOURCE_DIR,
                   "/charts/code-executor --namespace agent-sandbox "
                   "--show-only templates/rbac.yaml");
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string rendered;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
    rendered.append(buffer, n);
  }
  ASSERT_EQ(pclose(pipe), 0) << command;
  const std::vector<YAML::Node> roles = Roles(rendered);
  ASSERT_EQ(roles.size(), 1u) << rendered;
  EXPECT_EQ(RulesOfRole(roles[0]), Required());
}

TEST(RequiredPermissionsTest, DeployChecksExpectExactlyTheRequiredPermissions) {
  // tests/deploy/manifest_checks.py: EXPECTED_RULES = {("group", "resource"):
  // {"verb", ...}, ...}.
  const std::string script = ReadSourceFile("tests/deploy/manifest_checks.py");
  const size_t start = script.find("EXPECTED_RULES = {");
  ASSERT_NE(start, std::string::npos);
  const std::string block =
      script.substr(start, script.find("\n}", start) - start);
  std::set<std::string> expected;
  for (absl::string_view line : absl::StrSplit(block, '\n')) {
    std::vector<std::string> quoted;
    for (absl::string_view part : absl::StrSplit(line, '"')) {
      quoted.emplace_back(part);
    }
    // ("g", "r"): {"v1", "v2"} splits into 2 + 2 * (2 + verbs) parts.
    if (quoted.size() < 7) continue;
    const std::string& group = quoted[1];
    const std::string& resource = quoted[3];
    for (size_t i = 5; i < quoted.size(); i += 2) {
      expected.insert(absl::StrCat(quoted[i], " ", resource,
                                   group.empty() ? "" : ".", group));
    }
  }
  EXPECT_EQ(expected, Required());
  // WARM_POOL_RULES = {("", "pods/attach"): {"get", "create"}}: what a warm
  // pool adds.
  const size_t warm = script.find("WARM_POOL_RULES = {");
  ASSERT_NE(warm, std::string::npos);
  std::set<std::string> warm_expected;
  for (absl::string_view line : absl::StrSplit(
           script.substr(warm, script.find("\n}", warm) - warm), '\n')) {
    std::vector<std::string> quoted;
    for (absl::string_view part : absl::StrSplit(line, '"')) {
      quoted.emplace_back(part);
    }
    if (quoted.size() < 7) continue;
    for (size_t i = 5; i < quoted.size(); i += 2) {
      warm_expected.insert(absl::StrCat(
          quoted[i], " ", quoted[3], quoted[1].empty() ? "" : ".", quoted[1]));
    }
  }
  std::set<std::string> added = Required(true);
  for (const std::string& rule : Required(false)) added.erase(rule);
  EXPECT_EQ(warm_expected, added);
}

TEST(RequiredPermissionsTest, TheReadmeListsExactlyTheRequiredPermissions) {
  // "configmaps create/get/list/delete; ...; pods/log get" in the order of
  // RequiredPermissions().
  std::vector<std::pair<std::string, std::vector<std::string>>> by_resource;
  for (const Permission& p : RequiredPermissions()) {
    const std::string resource = absl::StrCat(
        p.resource, p.subresource.empty() ? "" : "/", p.subresource);
    if (by_resource.empty() || by_resource.back().first != resource) {
      by_resource.push_back({resource, {}});
    }
    by_resource.back().second.push_back(p.verb);
  }
  std::vector<std::string> parts;
  for (const auto& [resource, verbs] : by_resource) {
    parts.push_back(absl::StrCat(resource, " ", absl::StrJoin(verbs, "/")));
  }
  const std::string readme =
      absl::StrJoin(absl::StrSplit(ReadSourceFile("README.md"),
                                   absl::ByAnyChar(" \n"), absl::SkipEmpty()),
                    " ");
  EXPECT_THAT(readme, HasSubstr(absl::StrCat(absl::StrJoin(parts, "; "),
                                             " — nothing cluster-wide")));
}

}  // namespace
}  // namespace codeexec::kube
