// The fake apiserver's REST semantics: CRUD, Status bodies, lists, watches,
// the Job controller and garbage collection, with the instant kubelet.
#include "tests/fake_kube/fake_kube_apiserver.h"

#include <memory>
#include <regex>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fake_kube/fake_kube_test_client.h"

namespace codeexec::fake_kube {
namespace {

using json = nlohmann::json;
using ::codeexec::fake_kube::testing::ConfigMapBody;
using ::codeexec::fake_kube::testing::JobBody;
using ::codeexec::fake_kube::testing::JobPodsPath;
using ::codeexec::fake_kube::testing::JobSpec;
using ::codeexec::fake_kube::testing::kConfigMaps;
using ::codeexec::fake_kube::testing::kJobs;
using ::codeexec::fake_kube::testing::kPods;
using ::codeexec::fake_kube::testing::TestClient;
using ::codeexec::fake_kube::testing::WaitUntil;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class FakeKubeApiTest : public testing::FakeKubeTest {
 protected:
  // Creates a Job and waits until the fake has finished it.
  json RunJob(const std::string& name, int64_t* pods = nullptr) {
    JobSpec spec{.name = name, .labels = {{"app", "t"}}, .command = {"true"}};
    EXPECT_EQ(client_->Post(kJobs, JobBody(spec)).code, 201);
    json job;
    EXPECT_TRUE(WaitUntil([&] {
      job = client_->Get(absl::StrCat(kJobs, "/", name)).body;
      return job["status"].contains("completionTime") ||
             job["status"].contains("conditions");
    }));
    return job;
  }
};

TEST_F(FakeKubeApiTest, ConfigMapCreateGetDeleteWithRealShapes) {
  auto created = client_->Post(
      kConfigMaps, ConfigMapBody("cm1", {{"a", "1"}}, {{"code", "print(1)"}}));
  ASSERT_EQ(created.code, 201) << created.text;
  const json& metadata = created.body["metadata"];
  EXPECT_EQ(created.body["kind"], "ConfigMap");
  EXPECT_EQ(metadata["namespace"], "ns1");
  EXPECT_TRUE(std::regex_match(
      metadata["uid"].get<std::string>(),
      std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-"
                 "[0-9a-f]{12}")));
  EXPECT_TRUE(std::regex_match(metadata["resourceVersion"].get<std::string>(),
                               std::regex("[0-9]+")));
  EXPECT_TRUE(std::regex_match(
      metadata["creationTimestamp"].get<std::string>(),
      std::regex("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ")));

  auto fetched = client_->Get(absl::StrCat(kConfigMaps, "/cm1"));
  EXPECT_EQ(fetched.code, 200);
  EXPECT_EQ(fetched.body["metadata"]["uid"], metadata["uid"]);
  EXPECT_EQ(fetched.body["data"]["code"], "print(1)");

  auto duplicate = client_->Post(kConfigMaps, ConfigMapBody("cm1", {}, {}));
  EXPECT_EQ(duplicate.code, 409);
  EXPECT_EQ(duplicate.body,
            json::parse(R"({"kind":"Status","apiVersion":"v1","metadata":{},
              "status":"Failure","message":"configmaps \"cm1\" already exists",
              "reason":"AlreadyExists","details":{"name":"cm1",
              "kind":"configmaps"},"code":409})"));

  auto deleted = client_->Delete(absl::StrCat(kConfigMaps, "/cm1"));
  EXPECT_EQ(deleted.code, 200);
  EXPECT_EQ(deleted.body["status"], "Success");
  EXPECT_EQ(deleted.body["details"]["uid"], metadata["uid"]);
  auto missing = client_->Get(absl::StrCat(kConfigMaps, "/cm1"));
  EXPECT_EQ(missing.code, 404);
  EXPECT_EQ(missing.body["message"], "configmaps \"cm1\" not found");
  EXPECT_EQ(missing.body["reason"], "NotFound");
  EXPECT_EQ(client_->Delete(absl::StrCat(kConfigMaps, "/cm1")).code, 404);
  EXPECT_TRUE(server_->HoldsNoObjects("ns1"));
}

TEST_F(FakeKubeApiTest, NotFoundNamesTheApiGroup) {
  auto missing = client_->Get(absl::StrCat(kJobs, "/nope"));
  EXPECT_EQ(missing.code, 404);
  EXPECT_EQ(missing.body["message"], "jobs.batch \"nope\" not found");
  EXPECT_EQ(missing.body["details"],
            json({{"name", "nope"}, {"group", "batch"}, {"kind", "jobs"}}));
  EXPECT_EQ(client_->Get("/api/v1/namespaces/ns1/secrets").code, 404);
  EXPECT_EQ(client_->Send("PUT", absl::StrCat(kConfigMaps, "/x"), "{}").code,
            405);
  EXPECT_EQ(client_->Get("/version").body["major"], "1");
}

TEST_F(FakeKubeApiTest, RejectsWhatTheApiserverRejects) {
  auto too_big = client_->Post(
      kConfigMaps,
      ConfigMapBody("big", {}, {{"code", std::string((1 << 20) + 1, 'x')}}));
  EXPECT_EQ(too_big.code, 422);
  EXPECT_EQ(too_big.body["message"],
            "ConfigMap \"big\" is invalid: []: Too long: must have at most "
            "1048576 bytes");
  auto bad_key =
      client_->Post(kConfigMaps, ConfigMapBody("k", {}, {{"a/b.py", "x"}}));
  EXPECT_EQ(bad_key.code, 422);
  EXPECT_THAT(bad_key.body["message"].get<std::string>(),
              HasSubstr("a valid config key must consist of"));
  EXPECT_EQ(client_->Post(kConfigMaps, ConfigMapBody("Bad_Name", {}, {})).code,
            422);
  EXPECT_EQ(client_
                ->Post(kConfigMaps,
                       ConfigMapBody("l", {{"x", std::string(64, 'a')}}, {}))
                .code,
            422);
  EXPECT_EQ(client_
                ->Post(kConfigMaps,
                       ConfigMapBody("b", {}, nullptr, {{"f", "not base64!"}}))
                .code,
            400);
  json job = JobBody({.name = "j", .command = {"true"}});
  job["spec"]["template"]["spec"].erase("restartPolicy");
  auto no_restart_policy = client_->Post(kJobs, job);
  EXPECT_EQ(no_restart_policy.code, 422);
  EXPECT_EQ(no_restart_policy.body["message"],
            "Job.batch \"j\" is invalid: spec.template.spec.restartPolicy: "
            "Required value: valid values: \"OnFailure\", \"Never\"");
  EXPECT_EQ(no_restart_policy.body["details"]["kind"], "Job");
  json wrong_type = JobBody({.name = "t", .command = {"true"}});
  wrong_type["spec"]["template"]["spec"]["containers"][0]["image"] = 5;
  EXPECT_EQ(client_->Post(kJobs, wrong_type).code, 400);
  EXPECT_EQ(client_->Send("POST", kJobs, "{not json").code, 400);
  EXPECT_TRUE(server_->HoldsNoObjects("ns1"));
}

TEST_F(FakeKubeApiTest, ListsFilterByLabelSelector) {
  for (const auto& [name, labels] :
       std::vector<std::pair<std::string, std::map<std::string, std::string>>>{
           {"c1", {{"a", "1"}, {"b", "2"}}},
           {"c2", {{"a", "1"}}},
           {"c3", {{"a", "3"}}},
           {"c4", {}}}) {
    ASSERT_EQ(client_->Post(kConfigMaps, ConfigMapBody(name, labels, {})).code,
              201);
  }
  auto names = [&](const std::string& selector) {
    auto listed =
        client_->Get(absl::StrCat(kConfigMaps, "?labelSelector=", selector));
    EXPECT_EQ(listed.code, 200) << listed.text;
    std::vector<std::string> result;
    for (const json& item : listed.body["items"]) {
      EXPECT_FALSE(item.contains("kind"));
      result.push_back(item["metadata"]["name"]);
    }
    return result;
  };
  EXPECT_THAT(names("a%3D1"), ElementsAre("c1", "c2"));
  EXPECT_THAT(names("a%3D1,b%3D2"), ElementsAre("c1"));
  EXPECT_THAT(names("a%21%3D1"), ElementsAre("c3", "c4"));
  EXPECT_THAT(names("a"), ElementsAre("c1", "c2", "c3"));
  EXPECT_THAT(names("%21a"), ElementsAre("c4"));
  EXPECT_THAT(names("a+in+(1,3),b+notin+(2)"), ElementsAre("c2", "c3"));
  auto listed = client_->Get(kConfigMaps);
  EXPECT_EQ(listed.body["kind"], "ConfigMapList");
  EXPECT_EQ(listed.body["metadata"]["resourceVersion"],
            absl::StrCat(server_->resource_version()));
  EXPECT_EQ(
      client_->Get(absl::StrCat(kConfigMaps, "?labelSelector=a+in+1")).code,
      400);
  EXPECT_THAT(server_->ObjectNames("configmaps", "ns1", "b=2"),
              ElementsAre("c1"));
}

TEST_F(FakeKubeApiTest, JobControllerMakesALabelledOwnedPodAndCompletes) {
  json job = RunJob("job-a");
  EXPECT_EQ(job["status"]["succeeded"], 1);
  EXPECT_EQ(job["status"]["active"], 0);
  EXPECT_EQ(job["status"]["conditions"].back()["type"], "Complete");
  const std::string uid = job["metadata"]["uid"];
  EXPECT_EQ(job["spec"]["selector"]["matchLabels"]
               ["batch.kubernetes.io/controller-uid"],
            uid);
  auto pods = client_->Get(JobPodsPath("ns1", "job-a"));
  ASSERT_EQ(pods.body["items"].size(), 1u);
  const json& pod = pods.body["items"][0];
  EXPECT_TRUE(std::regex_match(pod["metadata"]["name"].get<std::string>(),
                               std::regex("job-a-[a-z0-9]{5}")));
  const json& labels = pod["metadata"]["labels"];
  EXPECT_EQ(labels["app"], "t");
  EXPECT_EQ(labels["job-name"], "job-a");
  EXPECT_EQ(labels["controller-uid"], uid);
  EXPECT_EQ(labels["batch.kubernetes.io/controller-uid"], uid);
  const json& owner = pod["metadata"]["ownerReferences"][0];
  EXPECT_EQ(owner["kind"], "Job");
  EXPECT_EQ(owner["uid"], uid);
  EXPECT_EQ(owner["controller"], true);
  EXPECT_EQ(pod["status"]["phase"], "Succeeded");
  const json& terminated =
      pod["status"]["containerStatuses"][0]["state"]["terminated"];
  EXPECT_EQ(terminated["exitCode"], 0);
  EXPECT_EQ(terminated["reason"], "Completed");
  auto log = client_->Get(
      absl::StrCat(kPods, "/", pod["metadata"]["name"].get<std::string>(),
                   "/log?container=main"));
  EXPECT_EQ(log.code, 200);
  EXPECT_EQ(log.text, "@ce1 x 0\n");
  auto wrong_container = client_->Get(
      absl::StrCat(kPods, "/", pod["metadata"]["name"].get<std::string>(),
                   "/log?container=x"));
  EXPECT_EQ(wrong_container.code, 400);
  EXPECT_EQ(server_->LastCreated("jobs").value()["metadata"]["uid"], uid);
}

TEST_F(FakeKubeApiTest, BackoffLimitRetriesThenFails) {
  FakeKubeOptions options;
  options.kubelet.instant_exit_code = 3;
  StartServer(options);
  JobSpec spec{.name = "flaky", .command = {"false"}, .backoff_limit = 1};
  ASSERT_EQ(client_->Post(kJobs, JobBody(spec)).code, 201);
  json job;
  ASSERT_TRUE(WaitUntil([&] {
    job = client_->Get(absl::StrCat(kJobs, "/flaky")).body;
    return job["status"].contains("conditions");
  }));
  EXPECT_EQ(job["status"]["failed"], 2);
  EXPECT_EQ(job["status"]["conditions"].back()["reason"],
            "BackoffLimitExceeded");
  EXPECT_EQ(client_->Get(JobPodsPath("ns1", "flaky")).body["items"].size(), 2u);
}

TEST_F(FakeKubeApiTest, DeletePropagationPolicies) {
  RunJob("orphaned");
  RunJob("background");
  RunJob("foreground");
  // batch/v1's default is Orphan: the pod stays, without its owner.
  EXPECT_EQ(client_->Delete(absl::StrCat(kJobs, "/orphaned")).code, 200);
  auto orphans = client_->Get(JobPodsPath("ns1", "orphaned")).body["items"];
  ASSERT_EQ(orphans.size(), 1u);
  EXPECT_FALSE(orphans[0]["metadata"].contains("ownerReferences"));

  auto background = client_->Delete(
      absl::StrCat(kJobs, "/background?propagationPolicy=Background"));
  EXPECT_EQ(background.code, 200);
  EXPECT_EQ(background.body["details"]["group"], "batch");
  EXPECT_TRUE(
      server_->ObjectNames("pods", "ns1", "job-name=background").empty());

  auto foreground = client_->Delete(absl::StrCat(kJobs, "/foreground"),
                                    {{"kind", "DeleteOptions"},
                                     {"apiVersion", "v1"},
                                     {"propagationPolicy", "Foreground"}});
  EXPECT_EQ(foreground.code, 200);
  EXPECT_TRUE(foreground.body["metadata"].contains("deletionTimestamp"));
  EXPECT_THAT(foreground.body["metadata"]["finalizers"],
              ElementsAre("foregroundDeletion"));
  EXPECT_TRUE(WaitUntil([&] {
    return server_->ObjectNames("jobs", "ns1").empty() &&
           server_->ObjectNames("pods", "ns1", "job-name=foreground").empty();
  }));
  EXPECT_EQ(
      client_->Delete(absl::StrCat(kJobs, "/x?propagationPolicy=All")).code,
      422);
}

TEST_F(FakeKubeApiTest, TtlAfterFinishedDeletesTheJobAndItsPods) {
  json body = JobBody({.name = "ttl", .command = {"true"}});
  body["spec"]["ttlSecondsAfterFinished"] = 1;
  ASSERT_EQ(client_->Post(kJobs, body).code, 201);
  EXPECT_TRUE(WaitUntil([&] { return server_->HoldsNoObjects("ns1"); },
                        absl::Seconds(5)));
}

TEST_F(FakeKubeApiTest, InstantDeadlineFailsTheJobAndDeletesThePod) {
  FakeKubeOptions options;
  options.kubelet.instant_run_time = absl::Seconds(30);
  StartServer(options);
  auto watch = client_->Stream(
      absl::StrCat(kPods, "?watch=1&labelSelector=job-name%3Dslow"));
  JobSpec spec{
      .name = "slow", .command = {"sleep", "30"}, .active_deadline_seconds = 1};
  ASSERT_EQ(client_->Post(kJobs, JobBody(spec)).code, 201);
  json job;
  ASSERT_TRUE(WaitUntil([&] {
    job = client_->Get(absl::StrCat(kJobs, "/slow")).body;
    return job["status"].contains("conditions");
  }));
  EXPECT_EQ(job["status"]["conditions"].back()["type"], "Failed");
  EXPECT_EQ(job["status"]["conditions"].back()["reason"], "DeadlineExceeded");
  EXPECT_TRUE(
      WaitUntil([&] { return server_->ObjectNames("pods", "ns1").empty(); }));
  ASSERT_TRUE(WaitUntil([&] {
    auto events = watch->JsonLines();
    return !events.empty() && events.back()["type"] == "DELETED";
  }));
  bool saw_deadline = false;
  for (const json& event : watch->JsonLines()) {
    saw_deadline |=
        event["object"]["status"].value("reason", "") == "DeadlineExceeded" &&
        event["object"]["status"]["phase"] == "Failed";
  }
  EXPECT_TRUE(saw_deadline);
}

}  // namespace
}  // namespace codeexec::fake_kube
