// What ADK's GkeCodeExecutor (job mode) asks of the apiserver, request by
// request as its Python client sends them: ConfigMap, Job (exactly as ADK
// builds it), a strategic-merge PATCH making the Job the ConfigMap's owner,
// a watch of the Job by field selector, a pod list with limit=1, the whole
// log; then the Job's TTL and the garbage collector clean everything up.
// Also PATCH, field selectors and list paging on their own.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fake_kube/fake_kube_apiserver.h"
#include "tests/fake_kube/fake_kube_test_client.h"

namespace codeexec::fake_kube {
namespace {

using json = nlohmann::json;
using ::codeexec::fake_kube::testing::ConfigMapBody;
using ::codeexec::fake_kube::testing::JobBody;
using ::codeexec::fake_kube::testing::kConfigMaps;
using ::codeexec::fake_kube::testing::kJobs;
using ::codeexec::fake_kube::testing::kPods;
using ::codeexec::fake_kube::testing::WaitUntil;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kStrategic[] = "application/strategic-merge-patch+json";
constexpr char kMerge[] = "application/merge-patch+json";

// The Job body google-adk 2.13's GkeCodeExecutor sends (kubernetes 37's
// sanitize_for_serialization of _create_job_manifest): no namespace, no pod
// template metadata, container-level runAsNonRoot with runAsUser 1001.
json AdkJob(const std::string& name, int ttl_seconds) {
  json job = json::parse(R"({"apiVersion": "batch/v1", "kind": "Job",
    "metadata": {"annotations": {"adk.agent.google.com/invocation-id":
                                 "e-1234"}, "name": "NAME"},
    "spec": {"backoffLimit": 0, "template": {"spec": {
      "automountServiceAccountToken": false,
      "containers": [{"command": ["python3", "/app/code.py"],
        "image": "python:3.11-slim", "name": "code-runner",
        "resources": {"limits": {"cpu": "500m", "memory": "512Mi"},
                      "requests": {"cpu": "200m", "memory": "256Mi"}},
        "securityContext": {"allowPrivilegeEscalation": false,
          "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": true,
          "runAsNonRoot": true, "runAsUser": 1001},
        "volumeMounts": [{"mountPath": "/app", "name": "code-volume"}]}],
      "restartPolicy": "Never", "runtimeClassName": "gvisor",
      "tolerations": [{"effect": "NoSchedule",
        "key": "sandbox.gke.io/runtime", "operator": "Equal",
        "value": "gvisor"}],
      "volumes": [{"configMap": {"name": "CONFIGMAP"},
                   "name": "code-volume"}]}},
    "ttlSecondsAfterFinished": 600}})");
  job["metadata"]["name"] = name;
  job["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"] =
      "code-src-" + name;
  job["spec"]["ttlSecondsAfterFinished"] = ttl_seconds;
  return job;
}

class FakeKubeAdkTest : public testing::FakeKubeTest {};

TEST_F(FakeKubeAdkTest, ServesGkeCodeExecutorsJobFlowAndCleansUp) {
  const std::string job_name = "adk-exec-0123456789";
  const std::string cm_name = "code-src-" + job_name;
  ASSERT_EQ(client_
                ->Post(kConfigMaps, {{"metadata", {{"name", cm_name}}},
                                     {"data", {{"code.py", "print(1)"}}}})
                .code,
            201);
  // Another Job the field-selected watch must not report.
  ASSERT_EQ(client_->Post(kJobs, AdkJob("adk-exec-other", 600)).code, 201);
  auto created = client_->Post(kJobs, AdkJob(job_name, 2));
  ASSERT_EQ(created.code, 201) << created.text;
  EXPECT_EQ(created.body["metadata"]["namespace"], "ns1");
  EXPECT_EQ(created.body["metadata"]["annotations"]
                        ["adk.agent.google.com/invocation-id"],
            "e-1234");
  const json owner = {{"apiVersion", created.body["apiVersion"]},
                      {"kind", created.body["kind"]},
                      {"name", job_name},
                      {"uid", created.body["metadata"]["uid"]},
                      {"controller", true}};
  auto patched = client_->Patch(
      absl::StrCat(kConfigMaps, "/", cm_name), kStrategic,
      {{"metadata", {{"ownerReferences", json::array({owner})}}}});
  ASSERT_EQ(patched.code, 200) << patched.text;
  EXPECT_EQ(patched.body["metadata"]["ownerReferences"], json::array({owner}));
  EXPECT_EQ(patched.body["data"]["code.py"], "print(1)");

  auto watch =
      client_->Stream(absl::StrCat(kJobs, "?fieldSelector=metadata.name%3D",
                                   job_name, "&timeoutSeconds=300&watch=True"));
  ASSERT_TRUE(WaitUntil([&] {
    for (const json& event : watch->JsonLines()) {
      if (event["object"]["status"].value("succeeded", 0) == 1) return true;
    }
    return false;
  }));
  for (const json& event : watch->JsonLines()) {
    EXPECT_EQ(event["object"]["metadata"]["name"], job_name);
  }
  auto pods = client_->Get(
      absl::StrCat(kPods, "?labelSelector=job-name%3D", job_name, "&limit=1"));
  ASSERT_EQ(pods.code, 200);
  ASSERT_EQ(pods.body["items"].size(), 1u);
  const json& pod = pods.body["items"][0];
  EXPECT_EQ(pod["status"]["phase"], "Succeeded");
  EXPECT_EQ(pod["status"]["containerStatuses"][0]["name"], "code-runner");
  EXPECT_EQ(
      pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"],
      0);
  EXPECT_EQ(pod["spec"]["tolerations"][0]["key"], "sandbox.gke.io/runtime");
  auto log = client_->Get(absl::StrCat(
      kPods, "/", pod["metadata"]["name"].get<std::string>(), "/log"));
  EXPECT_EQ(log.code, 200);
  EXPECT_THAT(log.headers["Content-Type"], HasSubstr("text/plain"));
  EXPECT_EQ(log.text, "@ce1 x 0\n");

  // ttlSecondsAfterFinished 2: the Job goes, its pod with it, and the
  // ConfigMap it owns by the garbage collector.
  ASSERT_TRUE(WaitUntil(
      [&] {
        return server_->ObjectNames("jobs", "ns1").size() == 1 &&
               server_->ObjectNames("configmaps", "ns1").empty() &&
               server_->ObjectNames("pods", "ns1", "job-name=" + job_name)
                   .empty();
      },
      absl::Seconds(10)));
  EXPECT_EQ(server_->RequestCount("patch", "configmaps"), 1);
  EXPECT_GE(server_->GarbageCollected(), 1);
}

TEST_F(FakeKubeAdkTest, PatchKeepsServerFieldsAndRefusesWhatTheApiserverDoes) {
  auto created = client_->Post(kConfigMaps,
                               ConfigMapBody("cm", {{"a", "1"}}, {{"k", "v"}}));
  ASSERT_EQ(created.code, 201);
  const std::string path = absl::StrCat(kConfigMaps, "/cm");
  const std::string rv = created.body["metadata"]["resourceVersion"];
  auto patched = client_->Patch(path, kMerge,
                                {{"metadata",
                                  {{"labels", {{"a", nullptr}, {"b", "2"}}},
                                   {"annotations", {{"note", "x"}}},
                                   {"uid", created.body["metadata"]["uid"]}}},
                                 {"data", {{"k", nullptr}, {"k2", "v2"}}}});
  ASSERT_EQ(patched.code, 200) << patched.text;
  EXPECT_EQ(patched.body["metadata"]["labels"], json({{"b", "2"}}));
  EXPECT_EQ(patched.body["metadata"]["annotations"]["note"], "x");
  EXPECT_EQ(patched.body["data"], json({{"k2", "v2"}}));
  EXPECT_EQ(patched.body["metadata"]["creationTimestamp"],
            created.body["metadata"]["creationTimestamp"]);
  EXPECT_NE(patched.body["metadata"]["resourceVersion"], rv);
  EXPECT_EQ(client_->Get(path).body, patched.body);
  // Nothing changes: no new resourceVersion.
  auto same = client_->Patch(path, kMerge, {{"data", {{"k2", "v2"}}}});
  EXPECT_EQ(same.body["metadata"]["resourceVersion"],
            patched.body["metadata"]["resourceVersion"]);

  auto unsupported = client_->Patch(path, "application/json", json::object());
  EXPECT_EQ(unsupported.code, 415);
  EXPECT_EQ(unsupported.body["reason"], "UnsupportedMediaType");
  EXPECT_THAT(unsupported.body["message"].get<std::string>(),
              HasSubstr("application/strategic-merge-patch+json"));
  EXPECT_EQ(
      client_->Patch(path, kMerge, {{"metadata", {{"resourceVersion", rv}}}})
          .code,
      409);
  EXPECT_EQ(
      client_->Patch(path, kMerge, {{"metadata", {{"name", "other"}}}}).code,
      400);
  EXPECT_EQ(client_->Patch(path, kMerge, {{"data", {{"a/b", "x"}}}}).code, 422);
  EXPECT_EQ(client_->Patch(absl::StrCat(kConfigMaps, "/nope"), kMerge, {}).code,
            404);
  EXPECT_EQ(client_->Patch(kConfigMaps, kMerge, json::object()).code, 405);

  ASSERT_EQ(
      client_->Post(kJobs, JobBody({.name = "j", .command = {"true"}})).code,
      201);
  auto job_path = absl::StrCat(kJobs, "/j");
  auto labelled = client_->Patch(
      job_path, kStrategic,
      {{"metadata", {{"labels", {{"x", "y"}}}}}, {"status", {{"failed", 9}}}});
  ASSERT_EQ(labelled.code, 200) << labelled.text;
  EXPECT_EQ(labelled.body["metadata"]["labels"]["x"], "y");
  EXPECT_NE(labelled.body["status"].value("failed", 0), 9);
  auto immutable = client_->Patch(
      job_path, kStrategic,
      {{"spec", {{"template", {{"spec", {{"restartPolicy", "OnFailure"}}}}}}}});
  EXPECT_EQ(immutable.code, 422);
  EXPECT_THAT(immutable.body["message"].get<std::string>(),
              HasSubstr("field is immutable"));
  EXPECT_EQ(server_->RequestCount("patch", "jobs"), 2);
}

TEST_F(FakeKubeAdkTest, FieldSelectorsOnListsWatchesAndDeleteCollection) {
  for (const char* name : {"a", "b", "c"}) {
    ASSERT_EQ(client_->Post(kConfigMaps, ConfigMapBody(name, {}, {})).code,
              201);
  }
  auto names = [&](const std::string& query) {
    auto listed = client_->Get(absl::StrCat(kConfigMaps, "?", query));
    EXPECT_EQ(listed.code, 200) << listed.text;
    std::vector<std::string> result;
    for (const json& item : listed.body["items"]) {
      result.push_back(item["metadata"]["name"]);
    }
    return result;
  };
  EXPECT_THAT(names("fieldSelector=metadata.name%3Db"), ElementsAre("b"));
  EXPECT_THAT(names("fieldSelector=metadata.name!%3Db"), ElementsAre("a", "c"));
  EXPECT_THAT(names("fieldSelector=metadata.namespace%3Dns1"),
              ElementsAre("a", "b", "c"));
  EXPECT_THAT(names("fieldSelector=metadata.namespace%3Dns2"), ElementsAre());
  auto unsupported = client_->Get(
      absl::StrCat(kConfigMaps, "?fieldSelector=status.phase%3Dx"));
  EXPECT_EQ(unsupported.code, 400);
  EXPECT_EQ(unsupported.body["message"],
            "field label not supported: status.phase");

  auto watch = client_->Stream(absl::StrCat(
      kConfigMaps,
      "?watch=1&fieldSelector=metadata.name%3Dd&timeoutSeconds=1"));
  ASSERT_EQ(client_->Post(kConfigMaps, ConfigMapBody("e", {}, {})).code, 201);
  ASSERT_EQ(client_->Post(kConfigMaps, ConfigMapBody("d", {}, {})).code, 201);
  ASSERT_TRUE(watch->WaitForEnd(absl::Seconds(5)));
  EXPECT_EQ(watch->error(), "");
  std::vector<json> events = watch->JsonLines();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["type"], "ADDED");
  EXPECT_EQ(events[0]["object"]["metadata"]["name"], "d");

  auto deleted = client_->Delete(
      absl::StrCat(kConfigMaps, "?fieldSelector=metadata.name%3Da"));
  EXPECT_EQ(deleted.code, 200);
  EXPECT_THAT(server_->ObjectNames("configmaps", "ns1"),
              ElementsAre("b", "c", "d", "e"));
}

TEST_F(FakeKubeAdkTest, LimitAndContinuePageThroughAList) {
  for (const char* name : {"p1", "p2", "p3", "p4", "p5"}) {
    ASSERT_EQ(
        client_->Post(kConfigMaps, ConfigMapBody(name, {{"x", "1"}}, {})).code,
        201);
  }
  auto first = client_->Get(absl::StrCat(kConfigMaps, "?limit=2"));
  ASSERT_EQ(first.code, 200);
  ASSERT_EQ(first.body["items"].size(), 2u);
  EXPECT_EQ(first.body["metadata"]["remainingItemCount"], 3);
  std::vector<std::string> seen;
  std::string token = first.body["metadata"]["continue"];
  for (const json& item : first.body["items"])
    seen.push_back(item["metadata"]["name"]);
  while (!token.empty()) {
    auto page =
        client_->Get(absl::StrCat(kConfigMaps, "?limit=2&continue=", token));
    ASSERT_EQ(page.code, 200) << page.text;
    EXPECT_EQ(page.body["metadata"]["resourceVersion"],
              first.body["metadata"]["resourceVersion"]);
    for (const json& item : page.body["items"]) {
      seen.push_back(item["metadata"]["name"]);
    }
    token = page.body["metadata"].value("continue", "");
  }
  EXPECT_THAT(seen, ElementsAre("p1", "p2", "p3", "p4", "p5"));
  auto selected =
      client_->Get(absl::StrCat(kConfigMaps, "?labelSelector=x%3D1&limit=1"));
  EXPECT_EQ(selected.body["items"].size(), 1u);
  EXPECT_TRUE(selected.body["metadata"].contains("continue"));
  EXPECT_FALSE(selected.body["metadata"].contains("remainingItemCount"));
  EXPECT_FALSE(client_->Get(absl::StrCat(kConfigMaps, "?limit=5"))
                   .body["metadata"]
                   .contains("continue"));
  EXPECT_EQ(client_->Get(absl::StrCat(kConfigMaps, "?continue=garbage")).code,
            400);
  EXPECT_EQ(client_->Get(absl::StrCat(kConfigMaps, "?limit=-1")).code, 400);
}

}  // namespace
}  // namespace codeexec::fake_kube
