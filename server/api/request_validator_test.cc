#include "server/api/request_validator.h"

#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace codeexec {
namespace {

using ::codeexecutor::v1::ExecuteRequest;
using ::testing::HasSubstr;
using ::testing::StartsWith;

ValidatorOptions Options() {
  ValidatorOptions options;
  options.languages["python"] = {"main.py",
                                 {"python3", "main.py"},
                                 "python:3.11-slim",
                                 {{"PYTHONUNBUFFERED", "1"}},
                                 ""};
  options.languages["bash"] = {
      "main.sh", {"bash", "main.sh"}, "bash:5.2", {}, ""};
  return options;
}

ExecuteRequest Valid() {
  ExecuteRequest request;
  request.set_code("print(1)");
  return request;
}

// The INVALID_ARGUMENT message for `request`, which must start with `field`.
std::string ErrorFor(const ExecuteRequest& request) {
  absl::StatusOr<ExecutionSpec> spec =
      BuildExecutionSpec(request, Options(), std::nullopt);
  EXPECT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(spec.status().message());
}

TEST(RequestValidatorTest, DefaultsFollowAdkGkeCodeExecutor) {
  absl::StatusOr<ExecutionSpec> spec =
      BuildExecutionSpec(Valid(), Options(), std::nullopt);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->language_name, "python");
  EXPECT_EQ(spec->language.file_name, "main.py");
  EXPECT_EQ(spec->timeout, absl::Seconds(300));
  EXPECT_EQ(spec->resources.cpu_request_millis, 200);
  EXPECT_EQ(spec->resources.cpu_limit_millis, 500);
  EXPECT_EQ(spec->resources.memory_request_bytes, 256 << 20);
  EXPECT_EQ(spec->resources.memory_limit_bytes, 512 << 20);
  EXPECT_EQ(spec->env, (EnvVars{{"PYTHONUNBUFFERED", "1"}}));
}

TEST(RequestValidatorTest, ResolvesRequestFields) {
  ExecuteRequest request = Valid();
  request.set_language("bash");
  request.set_stdin("in");
  (*request.mutable_env())["B"] = "2";
  (*request.mutable_env())["A"] = "1";
  auto* file = request.add_files();
  file->set_path("data//./in.txt");
  file->set_content("x");
  request.mutable_limits()->set_timeout_seconds(5);
  request.mutable_limits()->set_cpu_limit("1");
  request.mutable_limits()->set_memory_limit("64Mi");
  request.mutable_limits()->set_max_output_bytes(1000);
  request.set_client_request_id("req-1");
  absl::StatusOr<ExecutionSpec> spec =
      BuildExecutionSpec(request, Options(), std::nullopt);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->language.file_name, "main.sh");
  EXPECT_EQ(spec->env, (EnvVars{{"A", "1"}, {"B", "2"}}));
  ASSERT_EQ(spec->input_files.size(), 1u);
  EXPECT_EQ(spec->input_files[0].path, "data/in.txt");
  EXPECT_EQ(spec->timeout, absl::Seconds(5));
  EXPECT_EQ(spec->resources.cpu_limit_millis, 1000);
  EXPECT_EQ(spec->resources.cpu_request_millis, 200);
  // Only a limit below the default request: the request follows it down.
  EXPECT_EQ(spec->resources.memory_limit_bytes, 64 << 20);
  EXPECT_EQ(spec->resources.memory_request_bytes, 64 << 20);
  EXPECT_EQ(spec->max_output_bytes, 1000);
  EXPECT_EQ(spec->client_request_id, "req-1");
}

TEST(RequestValidatorTest, DeadlineCapsTheTimeout) {
  absl::StatusOr<ExecutionSpec> spec =
      BuildExecutionSpec(Valid(), Options(), absl::Seconds(10));
  ASSERT_TRUE(spec.ok());
  EXPECT_LT(spec->timeout, absl::Seconds(10));
  EXPECT_GT(spec->timeout, absl::Seconds(9));
  EXPECT_EQ(BuildExecutionSpec(Valid(), Options(), absl::Milliseconds(100))
                .status()
                .code(),
            absl::StatusCode::kDeadlineExceeded);
}

TEST(RequestValidatorTest, EachBadFieldIsNamed) {
  ExecuteRequest r = Valid();
  r.clear_code();
  EXPECT_THAT(ErrorFor(r), StartsWith("code: must not be empty"));

  r = Valid();
  r.set_code(std::string((512 << 10) + 1, 'x'));
  EXPECT_THAT(ErrorFor(r), StartsWith("code: 524289 bytes exceeds"));

  r = Valid();
  r.set_language("cobol");
  EXPECT_THAT(ErrorFor(r), StartsWith("language: unknown language \"cobol\""));

  for (const char* bad : {"abc", "-1", "1.5.3Gi"}) {
    r = Valid();
    r.mutable_limits()->set_memory_limit(bad);
    EXPECT_THAT(ErrorFor(r), StartsWith("limits.memory_limit:")) << bad;
    EXPECT_THAT(ErrorFor(r), HasSubstr(bad));
    r = Valid();
    r.mutable_limits()->set_cpu_requested(bad);
    EXPECT_THAT(ErrorFor(r), StartsWith("limits.cpu_requested:")) << bad;
  }

  r = Valid();
  r.mutable_limits()->set_memory_limit("64Gi");
  EXPECT_THAT(ErrorFor(r), StartsWith("limits.memory_limit: 64Gi exceeds "
                                      "the maximum of 4Gi"));
  r = Valid();
  r.mutable_limits()->set_cpu_limit("8");
  EXPECT_THAT(ErrorFor(r), StartsWith("limits.cpu_limit:"));
  r = Valid();
  r.mutable_limits()->set_cpu_requested("2");
  r.mutable_limits()->set_cpu_limit("1");
  EXPECT_THAT(ErrorFor(r), StartsWith("limits.cpu_requested: 2 exceeds "
                                      "limits.cpu_limit 1"));
  r = Valid();
  r.mutable_limits()->set_timeout_seconds(7200);
  EXPECT_THAT(ErrorFor(r), StartsWith("limits.timeout_seconds: 7200 exceeds"));
  r = Valid();
  r.mutable_limits()->set_max_output_bytes(uint64_t{1} << 40);
  EXPECT_THAT(ErrorFor(r), StartsWith("limits.max_output_bytes:"));

  for (const char* name : {"1ABC", "A-B", "", "A B", "X=Y"}) {
    r = Valid();
    (*r.mutable_env())[name] = "v";
    EXPECT_THAT(ErrorFor(r), StartsWith("env[\"")) << name;
    EXPECT_THAT(ErrorFor(r), HasSubstr("invalid name")) << name;
  }

  for (const char* path : {"/etc/passwd", "../x", "a/../../x", "", "./"}) {
    r = Valid();
    r.add_files()->set_path(path);
    EXPECT_THAT(ErrorFor(r), StartsWith("files[0].path:")) << path;
  }
  r = Valid();
  r.add_files()->set_path("main.py");
  EXPECT_THAT(ErrorFor(r), StartsWith("files[0].path:"));
  r = Valid();
  r.add_files()->set_path("a.txt");
  r.add_files()->set_path("./a.txt");
  EXPECT_THAT(ErrorFor(r), StartsWith("files[1].path:"));

  r = Valid();
  for (int i = 0; i < 65; ++i) r.add_files()->set_path(std::to_string(i));
  EXPECT_THAT(ErrorFor(r), StartsWith("files: 65 files exceed"));
  r = Valid();
  r.add_files()->set_path("big");
  r.mutable_files(0)->set_content(std::string((8 << 20) + 1, 'x'));
  EXPECT_THAT(ErrorFor(r), StartsWith("files: 8388609 bytes"));

  r = Valid();
  r.set_client_request_id("bad\nid");
  EXPECT_THAT(ErrorFor(r), StartsWith("client_request_id:"));
}

// What a filesystem or execve would refuse at run time (a SANDBOX_ERROR) is
// refused before queueing, naming the field.
TEST(RequestValidatorTest, WhatTheSandboxWouldRefuseIsNamed) {
  ExecuteRequest r = Valid();
  r.add_files()->set_path("d/" + std::string(256, 'n'));
  EXPECT_THAT(ErrorFor(r), StartsWith("files[0].path: the name \"nnn"));
  EXPECT_THAT(ErrorFor(r), HasSubstr("is longer than 255 bytes"));
  r = Valid();
  r.add_files()->set_path("d/" + std::string(255, 'n'));
  EXPECT_TRUE(BuildExecutionSpec(r, Options(), std::nullopt).ok());
  r = Valid();
  r.add_files()->set_path(std::string(4 * 256, 'p') + "/x");
  EXPECT_THAT(ErrorFor(r), StartsWith("files[0].path: 1026 bytes is longer"));

  // A file where another needs a directory, in either order.
  const std::pair<std::vector<std::string>, std::string> clashes[] = {
      {{"a", "a/b"}, "files[1].path: \"a/b\" is below \"a\", which is a file"},
      {{"a-x", "a/b", "a"}, "files[2].path: \"a\" is a directory of \"a/b\""},
      {{"main.py/x"}, "files[0].path: \"main.py/x\" is below \"main.py\""},
  };
  for (const auto& [paths, expected] : clashes) {
    r = Valid();
    for (const std::string& path : paths) r.add_files()->set_path(path);
    EXPECT_THAT(ErrorFor(r), StartsWith(expected));
  }

  r = Valid();
  (*r.mutable_env())["V"] = std::string("a\0b", 3);
  EXPECT_THAT(ErrorFor(r),
              StartsWith("env[\"V\"]: value must not contain NUL"));
  r = Valid();
  (*r.mutable_env())["V"] = std::string((128 << 10) - 2, 'v');
  EXPECT_THAT(ErrorFor(r), StartsWith("env[\"V\"]: NAME=value is 131072 "
                                      "bytes; the maximum is 131071"));
  r = Valid();
  (*r.mutable_env())["V"] = std::string((128 << 10) - 3, 'v');
  EXPECT_TRUE(BuildExecutionSpec(r, Options(), std::nullopt).ok());
  r = Valid();
  for (int i = 0; i < 64; ++i) {
    (*r.mutable_env())["V" + std::to_string(i)] = std::string(17000, 'v');
  }
  EXPECT_THAT(ErrorFor(r), StartsWith("env: the variables exceed 1048576"));
  r = Valid();
  (*r.mutable_env())[std::string(200000, 'N')] = "v";
  EXPECT_THAT(ErrorFor(r), StartsWith("env[\"NNN"));
  EXPECT_LT(ErrorFor(r).size(), 300u);

  // Hostile lengths are quoted short: a status travels in trailers.
  r = Valid();
  r.set_language(std::string(100000, 'l'));
  EXPECT_THAT(ErrorFor(r), StartsWith("language: unknown language \"lll"));
  EXPECT_LT(ErrorFor(r).size(), 300u);
  r = Valid();
  r.mutable_limits()->set_cpu_limit(std::string(1000, '1'));
  EXPECT_THAT(ErrorFor(r),
              StartsWith("limits.cpu_limit: 1000 bytes is longer than any "
                         "quantity"));
  r = Valid();
  r.add_files()->set_path("../" + std::string(1000, 'x'));
  EXPECT_LT(ErrorFor(r).size(), 300u);
}

}  // namespace
}  // namespace codeexec
