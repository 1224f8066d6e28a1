#include "server/kube/client/kube_status.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace codeexec::kube {
namespace {

using ::testing::HasSubstr;

const RequestDescription kCreateJobs{"create", "jobs", "sandbox"};

std::string Status(int code, const std::string& reason,
                   const std::string& message) {
  return nlohmann::json{{"kind", "Status"},    {"apiVersion", "v1"},
                        {"status", "Failure"}, {"reason", reason},
                        {"message", message},  {"code", code}}
      .dump();
}

TEST(KubeStatusTest, NamespaceFromPath) {
  EXPECT_EQ(NamespaceFromPath("/api/v1/namespaces/a/pods/p/log?follow=true"),
            "a");
  EXPECT_EQ(NamespaceFromPath("/apis/batch/v1/namespaces/b/jobs"), "b");
  EXPECT_EQ(NamespaceFromPath("/api/v1/pods?labelSelector=namespaces"), "");
  EXPECT_EQ(NamespaceFromPath("/api/v1/namespaces"), "");
}

TEST(KubeStatusTest, ForbiddenNamesVerbResourceNamespace) {
  const absl::Status status = StatusFromResponse(
      403, Status(403, "Forbidden", "jobs.batch is forbidden"), kCreateJobs);
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(status.message(),
            "kubernetes denied \"create\" on \"jobs\" in namespace "
            "\"sandbox\": jobs.batch is forbidden");
  EXPECT_EQ(HttpCodeOf(status), 403);
  EXPECT_EQ(KubeReasonOf(status), "Forbidden");
}

TEST(KubeStatusTest, MapsCodes) {
  const struct {
    int http_code;
    std::string reason;
    absl::StatusCode expected;
  } cases[] = {
      {400, "BadRequest", absl::StatusCode::kInvalidArgument},
      {401, "Unauthorized", absl::StatusCode::kUnauthenticated},
      {404, "NotFound", absl::StatusCode::kNotFound},
      {409, "AlreadyExists", absl::StatusCode::kAlreadyExists},
      {409, "Conflict", absl::StatusCode::kAborted},
      {410, "Expired", absl::StatusCode::kFailedPrecondition},
      {422, "Invalid", absl::StatusCode::kInvalidArgument},
      {429, "TooManyRequests", absl::StatusCode::kResourceExhausted},
      {500, "InternalError", absl::StatusCode::kUnavailable},
      {504, "Timeout", absl::StatusCode::kUnavailable},
      {405, "MethodNotAllowed", absl::StatusCode::kFailedPrecondition},
  };
  for (const auto& c : cases) {
    const absl::Status status = StatusFromResponse(
        c.http_code, Status(c.http_code, c.reason, "server says why"),
        kCreateJobs);
    EXPECT_EQ(status.code(), c.expected) << c.http_code << " " << c.reason;
    EXPECT_THAT(std::string(status.message()), HasSubstr("server says why"));
    EXPECT_THAT(std::string(status.message()), HasSubstr("\"jobs\""));
  }
}

TEST(KubeStatusTest, GoneSaysExpired) {
  const absl::Status status =
      StatusFromResponse(410, Status(410, "Expired", "too old"), kCreateJobs);
  EXPECT_THAT(std::string(status.message()), HasSubstr("Gone"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("expired"));
}

TEST(KubeStatusTest, NonStatusBodyIsQuotedAndBounded) {
  const absl::Status status = StatusFromResponse(
      502, "<html>" + std::string(1000, 'x') + "</html>", kCreateJobs);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(status.message()), HasSubstr("<html>xxx"));
  EXPECT_LT(status.message().size(), 400u);
  EXPECT_EQ(KubeReasonOf(status), "");
  EXPECT_THAT(std::string(StatusFromResponse(503, "", kCreateJobs).message()),
              HasSubstr("HTTP 503"));
}

TEST(KubeStatusTest, WatchErrorEventStatus) {
  const absl::Status status = StatusFromStatusObject(
      nlohmann::json::parse(Status(410, "Expired", "too old resource version")),
      {"watch", "pods", "ns"});
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(HttpCodeOf(status), 410);
  EXPECT_FALSE(HttpCodeOf(absl::NotFoundError("x")).has_value());
}

}  // namespace
}  // namespace codeexec::kube
