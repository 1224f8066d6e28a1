// FieldSelector: the fields kube-apiserver supports per resource, the three
// operators, and its error messages.
#include "tests/fake_kube/field_selector.h"

#include "gtest/gtest.h"

namespace codeexec::fake_kube {
namespace {

using json = nlohmann::json;

const json kPod = json::parse(R"({
  "metadata": {"name": "p1", "namespace": "ns1"},
  "spec": {"nodeName": "fake-node-1", "restartPolicy": "Never"},
  "status": {"phase": "Running", "podIP": "10.0.0.5"}})");

bool Matches(const std::string& text, const ResourceKind& kind,
             const json& object) {
  absl::StatusOr<FieldSelector> selector = FieldSelector::Parse(text, kind);
  EXPECT_TRUE(selector.ok()) << text << ": " << selector.status();
  return selector.ok() && selector->MatchesObject(object);
}

TEST(FieldSelectorTest, NameAndNamespaceWithEveryOperator) {
  EXPECT_TRUE(Matches("", kPods, kPod));
  EXPECT_TRUE(Matches("metadata.name=p1", kPods, kPod));
  EXPECT_TRUE(Matches("metadata.name==p1", kPods, kPod));
  EXPECT_FALSE(Matches("metadata.name=p2", kPods, kPod));
  EXPECT_TRUE(Matches("metadata.name!=p2", kPods, kPod));
  EXPECT_FALSE(Matches("metadata.name!=p1", kPods, kPod));
  EXPECT_TRUE(Matches("metadata.name=p1,metadata.namespace=ns1", kPods, kPod));
  EXPECT_FALSE(Matches("metadata.name=p1,metadata.namespace=ns2", kPods, kPod));
  EXPECT_TRUE(Matches("metadata.name=p1", kConfigMaps, kPod));
}

TEST(FieldSelectorTest, KindSpecificFields) {
  EXPECT_TRUE(
      Matches("status.phase=Running,spec.nodeName=fake-node-1", kPods, kPod));
  EXPECT_FALSE(Matches("status.phase=Succeeded", kPods, kPod));
  EXPECT_TRUE(Matches("status.podIP=10.0.0.5", kPods, kPod));
  const json job = {{"metadata", {{"name", "j"}}},
                    {"status", {{"succeeded", 1}}}};
  EXPECT_TRUE(Matches("status.successful=1", kJobs, job));
  EXPECT_TRUE(Matches("status.successful=0", kJobs,
                      json{{"metadata", {{"name", "j"}}}}));
}

TEST(FieldSelectorTest, UnsupportedFieldsAndSyntaxAreBadRequests) {
  absl::StatusOr<FieldSelector> unsupported =
      FieldSelector::Parse("status.phase=Running", kJobs);
  EXPECT_TRUE(absl::IsFailedPrecondition(unsupported.status()));
  EXPECT_EQ(unsupported.status().message(),
            "field label not supported: status.phase");
  EXPECT_TRUE(absl::IsFailedPrecondition(
      FieldSelector::Parse("spec.foo=1", kConfigMaps).status()));
  absl::StatusOr<FieldSelector> garbled =
      FieldSelector::Parse("metadata.name", kPods);
  EXPECT_TRUE(absl::IsFailedPrecondition(garbled.status()));
  EXPECT_EQ(garbled.status().message(),
            "invalid selector: 'metadata.name'; can't understand "
            "'metadata.name'");
}

}  // namespace
}  // namespace codeexec::fake_kube
