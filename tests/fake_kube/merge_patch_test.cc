// ApplyPatch: the three patch media types kube-apiserver takes for built-in
// resources, and the 415 / 400 / 422 answers to the rest.
#include "tests/fake_kube/merge_patch.h"

#include "gtest/gtest.h"

namespace codeexec::fake_kube {
namespace {

using json = nlohmann::json;

const json kConfigMap = json::parse(R"json({
  "kind": "ConfigMap", "apiVersion": "v1",
  "metadata": {"name": "cm", "labels": {"a": "1", "b": "2"},
               "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job",
                                    "name": "j1", "uid": "u1"}],
               "finalizers": ["x"]},
  "data": {"code.py": "print(1)", "old": "y"}})json");

TEST(MergePatchTest, MergePatchReplacesListsAndNullDeletes) {
  absl::StatusOr<json> patched =
      ApplyPatch(kConfigMap, "application/merge-patch+json",
                 R"({"metadata": {"labels": {"b": null, "c": "3"},
                       "annotations": {"n": "v"},
                       "ownerReferences": [{"apiVersion": "batch/v1",
                         "kind": "Job", "name": "j2", "uid": "u2"}]},
          "data": {"old": null}})");
  ASSERT_TRUE(patched.ok()) << patched.status();
  EXPECT_EQ((*patched)["metadata"]["labels"], json({{"a", "1"}, {"c", "3"}}));
  EXPECT_EQ((*patched)["metadata"]["annotations"]["n"], "v");
  ASSERT_EQ((*patched)["metadata"]["ownerReferences"].size(), 1u);
  EXPECT_EQ((*patched)["metadata"]["ownerReferences"][0]["uid"], "u2");
  EXPECT_EQ((*patched)["data"], json({{"code.py", "print(1)"}}));
}

TEST(MergePatchTest, StrategicMergeMergesOwnerReferencesByUid) {
  absl::StatusOr<json> patched =
      ApplyPatch(kConfigMap, "application/strategic-merge-patch+json",
                 R"({"metadata": {"ownerReferences": [
                       {"apiVersion": "batch/v1", "kind": "Job", "name": "j1",
                        "uid": "u1", "controller": true},
                       {"apiVersion": "batch/v1", "kind": "Job", "name": "j2",
                        "uid": "u2"}],
                     "finalizers": ["y", "x"]}})");
  ASSERT_TRUE(patched.ok()) << patched.status();
  const json& owners = (*patched)["metadata"]["ownerReferences"];
  ASSERT_EQ(owners.size(), 2u);
  EXPECT_EQ(owners[0]["uid"], "u1");
  EXPECT_EQ(owners[0]["controller"], true);
  EXPECT_EQ(owners[1]["uid"], "u2");
  EXPECT_EQ((*patched)["metadata"]["finalizers"], json({"x", "y"}));

  absl::StatusOr<json> removed = ApplyPatch(
      *patched, "application/strategic-merge-patch+json; charset=utf-8",
      R"({"metadata": {"ownerReferences": [{"$patch": "delete",
                                            "uid": "u1"}]}})");
  ASSERT_TRUE(removed.ok()) << removed.status();
  ASSERT_EQ((*removed)["metadata"]["ownerReferences"].size(), 1u);
  EXPECT_EQ((*removed)["metadata"]["ownerReferences"][0]["uid"], "u2");
}

TEST(MergePatchTest, JsonPatchOperations) {
  absl::StatusOr<json> patched =
      ApplyPatch(kConfigMap, "application/json-patch+json",
                 R"([{"op": "add", "path": "/data/new", "value": "z"},
                     {"op": "remove", "path": "/metadata/labels/a"}])");
  ASSERT_TRUE(patched.ok()) << patched.status();
  EXPECT_EQ((*patched)["data"]["new"], "z");
  EXPECT_EQ((*patched)["metadata"]["labels"], json({{"b", "2"}}));
  absl::StatusOr<json> bad =
      ApplyPatch(kConfigMap, "application/json-patch+json",
                 R"([{"op": "remove", "path": "/nope/x"}])");
  EXPECT_TRUE(absl::IsInvalidArgument(bad.status())) << bad.status();
  EXPECT_TRUE(absl::IsFailedPrecondition(
      ApplyPatch(kConfigMap, "application/json-patch+json", "{}").status()));
}

TEST(MergePatchTest, OtherMediaTypesAndBadBodiesAreRefused) {
  for (const char* type :
       {"application/json", "application/apply-patch+yaml", "text/plain", ""}) {
    absl::StatusOr<json> refused = ApplyPatch(kConfigMap, type, "{}");
    EXPECT_TRUE(absl::IsUnimplemented(refused.status())) << type;
    EXPECT_NE(refused.status().message().find(kPatchMediaTypes),
              std::string::npos);
  }
  EXPECT_TRUE(absl::IsFailedPrecondition(
      ApplyPatch(kConfigMap, "application/merge-patch+json", "{nope")
          .status()));
  EXPECT_TRUE(absl::IsFailedPrecondition(
      ApplyPatch(kConfigMap, "application/merge-patch+json", "[1]").status()));
}

}  // namespace
}  // namespace codeexec::fake_kube
