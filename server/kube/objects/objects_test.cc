#include "server/kube/objects/objects.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace codeexec::kube {
namespace {

using nlohmann::json;
using testing::HasSubstr;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Compares with testdata/<name>; UPDATE_GOLDEN=1 rewrites the file instead.
void ExpectGolden(const json& got, const std::string& name) {
  const std::string path = absl::StrCat(CODEEXEC_KUBE_TESTDATA_DIR, "/", name);
  const char* update = std::getenv("UPDATE_GOLDEN");
  if (update != nullptr && std::string(update) == "1") {
    std::ofstream(path, std::ios::binary | std::ios::trunc)
        << got.dump(2) << "\n";
    return;
  }
  const std::string text = ReadFile(path);
  ASSERT_FALSE(text.empty()) << path << " missing; run with UPDATE_GOLDEN=1";
  const json want = json::parse(text);
  EXPECT_EQ(got, want) << name << " differs (JSON patch from golden to got):\n"
                       << json::diff(want, got).dump(2)
                       << "\nrerun with UPDATE_GOLDEN=1 if intended";
}

class ObjectsTest : public testing::Test {
 protected:
  ObjectsTest() {
    options_.namespace_name = "sandboxes";
    options_.node_selector = {{"pool", "sandbox"}};
    options_.tolerations = {{"dedicated", "Equal", "sandbox", "NoSchedule"}};
    options_.image_pull_secrets = {"regcred"};

    spec_.execution_id = "ce-0123456789ab";
    spec_.client_request_id = "req-1";
    spec_.language_name = "python";
    spec_.language = {"main.py",
                      {"python3", "main.py"},
                      "python:3.11-slim",
                      {{"LANG", "C.UTF-8"}},
                      ""};
    spec_.code = "print('hi')\n";
    spec_.stdin_data = "abc\n";
    spec_.env = {{"LANG", "C.UTF-8"}, {"A", "1"}};
    spec_.input_files = {{"data/in.csv", "a,b\n1,2\n"},
                         {"bin/x.bin", std::string("\x00\xff", 2)}};
    spec_.timeout = absl::Milliseconds(10500);
    spec_.resources = {250, 1500, int64_t{256} << 20, int64_t{1} << 30};

    context_.options = &options_;
    context_.replica = "code-executor-7d9c8-abcde";
    context_.owner = OwnerPod{"code-executor-7d9c8-abcde", "0b8e-uid"};
    context_.launcher_source =
        "\x7f"
        "ELF launcher stand-in";
  }

  json ConfigMap() {
    absl::StatusOr<json> config_map = BuildConfigMap(spec_, context_);
    EXPECT_TRUE(config_map.ok()) << config_map.status();
    return config_map.ok() ? *config_map : json();
  }
  json PodSpec() {
    return BuildJob(spec_, context_)["spec"]["template"]["spec"];
  }

  KubernetesOptions options_;
  ExecutionSpec spec_;
  ObjectContext context_;
};

TEST_F(ObjectsTest, ConfigMapGolden) {
  ExpectGolden(ConfigMap(), "configmap.golden.json");
}

TEST_F(ObjectsTest, JobGolden) {
  ExpectGolden(BuildJob(spec_, context_), "job.golden.json");
}

TEST_F(ObjectsTest, ConfigMapCarriesTheLauncherAndTheRequest) {
  const json config_map = ConfigMap();
  EXPECT_FALSE(config_map.contains("data"));
  EXPECT_EQ(config_map["binaryData"]["launcher"],
            absl::Base64Escape(context_.launcher_source));
  absl::StatusOr<std::string> request = BuildRequest(spec_);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(config_map["binaryData"]["request"], absl::Base64Escape(*request));
  EXPECT_EQ(config_map["binaryData"].size(), 2u);
}

TEST_F(ObjectsTest, TheLauncherIsMountedExecutableTheRequestReadOnly) {
  const json pod = PodSpec();
  const json& volume = pod["volumes"][0];
  ASSERT_EQ(volume["name"], "bundle");
  EXPECT_EQ(volume["configMap"]["items"],
            json::parse(R"([{"key": "launcher", "path": "launcher",
                             "mode": 365},
                            {"key": "request", "path": "request",
                             "mode": 292}])"));
  EXPECT_EQ(
      pod["containers"][0]["command"],
      json({"/opt/code-executor/launcher", "/opt/code-executor/request"}));
}

TEST_F(ObjectsTest, NonUtf8CodeAndEnvStillSerialise) {
  spec_.code = "print('\xff')";
  spec_.env.push_back({"B", "\xfe"});
  const json config_map = ConfigMap();
  EXPECT_NO_THROW(config_map.dump());
  absl::StatusOr<std::string> request = BuildRequest(spec_);
  ASSERT_TRUE(request.ok());
  EXPECT_EQ(config_map["binaryData"]["request"], absl::Base64Escape(*request));
}

TEST_F(ObjectsTest, WhatTheRequestCannotCarryIsInvalidArgument) {
  spec_.env.push_back({"A=B", "1"});
  absl::StatusOr<json> refused = BuildConfigMap(spec_, context_);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument)
      << refused.status();
}

TEST_F(ObjectsTest, OwnerReferencesOnlyWithAnOwner) {
  context_.owner.reset();
  EXPECT_FALSE(ConfigMap()["metadata"].contains("ownerReferences"));
  EXPECT_FALSE(
      BuildJob(spec_, context_)["metadata"].contains("ownerReferences"));
  context_.owner = OwnerPod{"", "uid"};
  EXPECT_FALSE(ConfigMap()["metadata"].contains("ownerReferences"));
}

TEST_F(ObjectsTest, PodsCarryTheLabels) {
  const json job = BuildJob(spec_, context_);
  EXPECT_EQ(job["spec"]["template"]["metadata"]["labels"],
            job["metadata"]["labels"]);
  EXPECT_EQ(job["metadata"]["labels"][kReplicaLabel], context_.replica);
  EXPECT_EQ(job["metadata"]["labels"][kExecutionIdLabel], spec_.execution_id);
}

TEST_F(ObjectsTest, NoRuntimeClassMeansNoGvisorToleration) {
  options_.runtime_class_name.clear();
  options_.tolerations.clear();
  const json pod = PodSpec();
  EXPECT_FALSE(pod.contains("runtimeClassName"));
  EXPECT_FALSE(pod.contains("tolerations"));
}

TEST_F(ObjectsTest, GvisorTolerationIsNotDuplicated) {
  options_.tolerations = {
      {"sandbox.gke.io/runtime", "Equal", "gvisor", "NoSchedule"}};
  EXPECT_EQ(PodSpec()["tolerations"].size(), 1u);
  options_.tolerations = {{"", "Exists", "", ""}};
  const json tolerations = PodSpec()["tolerations"];
  ASSERT_EQ(tolerations.size(), 2u);
  EXPECT_EQ(tolerations[0], json({{"operator", "Exists"}}));
}

TEST_F(ObjectsTest, ImageFallsBackToTheDefault) {
  spec_.language.image.clear();
  options_.default_image = "registry.example/py:3.12";
  EXPECT_EQ(PodSpec()["containers"][0]["image"], "registry.example/py:3.12");
}

TEST_F(ObjectsTest, ConfigMapSizeLimit) {
  spec_.input_files.clear();
  spec_.stdin_data.clear();
  spec_.code.clear();
  const int64_t overhead = static_cast<int64_t>(
      context_.launcher_source.size() + BuildRequest(spec_)->size());
  spec_.code.assign(kConfigMapMaxBytes - overhead, 'x');
  EXPECT_TRUE(BuildConfigMap(spec_, context_).ok());

  spec_.code.push_back('x');
  absl::StatusOr<json> too_big = BuildConfigMap(spec_, context_);
  EXPECT_EQ(too_big.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(too_big.status().message(),
              HasSubstr("exceeds the 1 MiB ConfigMap limit"));
  EXPECT_TRUE(absl::StartsWith(too_big.status().message(), "code: "))
      << too_big.status();
}

TEST_F(ObjectsTest, ConfigMapSizeErrorNamesTheLargestField) {
  spec_.input_files = {{"a", std::string(600 << 10, 'a')},
                       {"b", std::string(600 << 10, 'b')}};
  absl::StatusOr<json> too_big = BuildConfigMap(spec_, context_);
  EXPECT_TRUE(absl::StartsWith(too_big.status().message(), "files: "))
      << too_big.status();

  spec_.input_files.clear();
  spec_.stdin_data.assign(2 << 20, 's');
  too_big = BuildConfigMap(spec_, context_);
  EXPECT_TRUE(absl::StartsWith(too_big.status().message(), "stdin: "))
      << too_big.status();
}

TEST(JobDeadlineTest, RoundsUpAndAddsGrace) {
  EXPECT_EQ(JobActiveDeadlineSeconds(absl::Seconds(10)), 13);
  EXPECT_EQ(JobActiveDeadlineSeconds(absl::Milliseconds(10001)), 14);
  EXPECT_EQ(JobActiveDeadlineSeconds(absl::ZeroDuration()), 4);
}

TEST(LabelSelectorTest, SelectorsAndUrlEncoding) {
  EXPECT_EQ(LabelSelectorForReplica("r-1"),
            "app.kubernetes.io/managed-by=code-executor,"
            "code-executor.dev/replica=r-1");
  EXPECT_EQ(LabelSelectorForExecution("ce-0123456789ab"),
            "app.kubernetes.io/managed-by=code-executor,"
            "code-executor.dev/execution-id=ce-0123456789ab");
  EXPECT_EQ(UrlEncode(LabelSelectorForReplica("r-1")),
            "app.kubernetes.io%2Fmanaged-by%3Dcode-executor%2C"
            "code-executor.dev%2Freplica%3Dr-1");
  EXPECT_EQ(UrlEncode("a b~\xff"), "a%20b~%FF");
}

TEST(ReplicaLabelValueTest, ValidNamesAreKept) {
  EXPECT_EQ(ReplicaLabelValue("code-executor-7d9c8-abcde"),
            "code-executor-7d9c8-abcde");
  EXPECT_EQ(ReplicaLabelValue("host.example_1"), "host.example_1");
  EXPECT_EQ(ReplicaLabelValue(""), "");
}

TEST(ReplicaLabelValueTest, InvalidNamesAreRepaired) {
  EXPECT_EQ(ReplicaLabelValue("a:b"), "a-b");
  EXPECT_EQ(ReplicaLabelValue("-x-"), "x");
  const std::string long_name(100, 'n');
  const std::string value = ReplicaLabelValue(long_name);
  EXPECT_EQ(value.size(), 63u);
  EXPECT_EQ(value, ReplicaLabelValue(long_name));  // stable
  EXPECT_NE(value, ReplicaLabelValue(long_name + "x"));
  EXPECT_EQ(value.substr(0, 55), std::string(54, 'n') + "-");
}

}  // namespace
}  // namespace codeexec::kube
