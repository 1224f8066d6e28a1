#include "server/kube/objects/warm_objects.h"

#include <set>
#include <string>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace codeexec::kube {
namespace {

using nlohmann::json;

class WarmObjectsTest : public testing::Test {
 protected:
  WarmObjectsTest() {
    options_.namespace_name = "sandboxes";
    shape_.execution_id = "cw-0123456789ab";
    shape_.language_name = "python";
    shape_.language = {
        "main.py", {"python3", "main.py"}, "python:3.11-slim", {}, ""};
    shape_.timeout = absl::Seconds(300);
    context_ = {&options_, "executor-0", OwnerPod{"executor-0", "uid-1"},
                "\x7f"
                "ELF launcher bytes"};
  }

  KubernetesOptions options_;
  ExecutionSpec shape_;
  ObjectContext context_;
};

TEST_F(WarmObjectsTest, JobDiffersFromAnExecutionsOnlyWhereItWaits) {
  const json cold = BuildJob(shape_, context_);
  const json warm = BuildWarmJob(shape_, context_, absl::Minutes(20));
  // Every other field (image, limits, securityContext, RuntimeClass,
  // volumes, labels, owner) is the execution Job's.
  std::set<std::string> changed;
  for (const json& op : json::diff(cold, warm)) {
    changed.insert(op["op"].get<std::string>() + " " +
                   op["path"].get<std::string>());
  }
  EXPECT_THAT(changed,
              testing::UnorderedElementsAre(
                  "replace /spec/activeDeadlineSeconds",
                  "replace /spec/template/spec/containers/0/command/1",
                  "add /spec/template/spec/containers/0/stdin",
                  "add /spec/template/spec/containers/0/stdinOnce",
                  "replace /spec/template/spec/volumes/0/configMap/name",
                  "remove /spec/template/spec/volumes/0/configMap/items/1"));
  const json& container = warm["spec"]["template"]["spec"]["containers"][0];
  EXPECT_EQ(container["command"],
            json::array({"/opt/code-executor/launcher", "--wait"}));
  EXPECT_EQ(container["stdin"], true);
  EXPECT_EQ(container["stdinOnce"], true);
  const json& bundle = warm["spec"]["template"]["spec"]["volumes"][0];
  EXPECT_EQ(bundle["configMap"]["name"], WarmLauncherConfigMapName(context_));
  EXPECT_EQ(
      bundle["configMap"]["items"],
      json::parse(R"([{"key":"launcher","path":"launcher","mode":365}])"));
  EXPECT_EQ(warm["spec"]["activeDeadlineSeconds"],
            JobActiveDeadlineSeconds(absl::Minutes(20)));
}

TEST_F(WarmObjectsTest, LauncherConfigMapHoldsTheLauncherOnly) {
  const json configmap = BuildWarmLauncherConfigMap(context_);
  const std::string name = WarmLauncherConfigMapName(context_);
  EXPECT_THAT(name, testing::MatchesRegex("ce-launcher-[0-9a-f]{8}"));
  EXPECT_EQ(configmap["metadata"]["name"], name);
  EXPECT_EQ(configmap["metadata"]["labels"][kExecutionIdLabel], name);
  EXPECT_EQ(configmap["metadata"]["labels"][kReplicaLabel], "executor-0");
  EXPECT_EQ(configmap["metadata"]["ownerReferences"][0]["uid"], "uid-1");
  EXPECT_EQ(configmap["immutable"], true);
  ASSERT_EQ(configmap["binaryData"].size(), 1u);
  std::string launcher;
  ASSERT_TRUE(absl::Base64Unescape(
      configmap["binaryData"]["launcher"].get<std::string>(), &launcher));
  EXPECT_EQ(launcher, context_.launcher_source);
}

TEST_F(WarmObjectsTest, LauncherConfigMapNameIsPerReplicaAndStable) {
  ObjectContext other = context_;
  other.replica = "executor-1";
  EXPECT_NE(WarmLauncherConfigMapName(other),
            WarmLauncherConfigMapName(context_));
  EXPECT_EQ(WarmLauncherConfigMapName(context_),
            WarmLauncherConfigMapName(ObjectContext(context_)));
}

}  // namespace
}  // namespace codeexec::kube
