#include "server/kube/client/api_paths.h"

#include "gtest/gtest.h"

namespace codeexec::kube {
namespace {

TEST(ApiPathsTest, JobsAreInTheBatchGroupEverythingElseInTheCoreGroup) {
  EXPECT_EQ(CollectionPath("ns1", "jobs"),
            "/apis/batch/v1/namespaces/ns1/jobs");
  EXPECT_EQ(CollectionPath("ns1", "configmaps"),
            "/api/v1/namespaces/ns1/configmaps");
  EXPECT_EQ(CollectionPath("ns1", "pods"), "/api/v1/namespaces/ns1/pods");
}

TEST(ApiPathsTest, ObjectAndLogPaths) {
  EXPECT_EQ(ObjectPath("ns", "jobs", "ce-1"),
            "/apis/batch/v1/namespaces/ns/jobs/ce-1");
  EXPECT_EQ(PodLogPath("ns", "ce-1-abcde"),
            "/api/v1/namespaces/ns/pods/ce-1-abcde/log");
}

}  // namespace
}  // namespace codeexec::kube
