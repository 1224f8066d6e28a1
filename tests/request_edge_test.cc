// Whole-binary tests of the request/response edge: what a hostile client
// sends is INVALID_ARGUMENT naming the field (before queueing, without
// libprotobuf noise in the log), and whatever a program names its files or
// writes, Finished arrives as valid protobuf.
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/unknown_field_set.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/raw_call.h"
#include "tests/server_process.h"
#include "tests/shared_server_test.h"

namespace codeexec::testing {
namespace {

using ::codeexecutor::v1::ExecuteRequest;
using ::codeexecutor::v1::ExecuteResponse;
using ::codeexecutor::v1::Finished;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kExecute[] = "/codeexecutor.v1.CodeExecutor/Execute";

// Hand-encoded ExecuteRequest fields (field numbers of the public proto).
std::string Code(std::string_view code) { return LengthDelimited(1, code); }
std::string Env(std::string_view name, std::string_view value) {
  return LengthDelimited(4,
                         LengthDelimited(1, name) + LengthDelimited(2, value));
}
std::string InputFile(std::string_view path) {
  return LengthDelimited(5, LengthDelimited(1, path) + LengthDelimited(2, "x"));
}

bool ValidUtf8(const std::string& text) {
  // Round trip through a proto3 string field, which parses strictly.
  codeexecutor::v1::Started started;
  started.set_execution_id(text);
  codeexecutor::v1::Started parsed;
  return parsed.ParseFromString(started.SerializeAsString()) &&
         parsed.execution_id() == text;
}

class RequestEdgeTest : public SharedServerTest {};

TEST_F(RequestEdgeTest, InvalidUtf8InEachStringFieldIsNamed) {
  const std::string bad = "ok\xFF\xFE";
  const std::string limits_bad = LengthDelimited(6, LengthDelimited(3, bad));
  const std::pair<std::string, std::string> cases[] = {
      {Code(bad), "code: not valid UTF-8 (byte 2: 0xff)"},
      {Code("print(1)") + LengthDelimited(2, bad),
       "language: not valid UTF-8 (byte 2: 0xff)"},
      {Code("print(1)") + Env("X", bad),
       "env[\"X\"]: value is not valid UTF-8 (byte 2: 0xff)"},
      {Code("print(1)") + Env(bad, "v"),
       "env[\"ok\\xff\\xfe\"]: name is not valid UTF-8"},
      {Code("print(1)") + InputFile("a") + InputFile("b") + InputFile(bad),
       "files[2].path: not valid UTF-8 (byte 2: 0xff)"},
      {Code("print(1)") + limits_bad, "limits.cpu_limit: not valid UTF-8"},
      {Code("print(1)") + LengthDelimited(6, LengthDelimited(4, bad)),
       "limits.memory_requested: not valid UTF-8"},
      {Code("print(1)") + LengthDelimited(7, bad),
       "client_request_id: not valid UTF-8"},
      {"\x0a\x10short", "request: not a valid ExecuteRequest"},
      {Code("print(1)") + LengthDelimited(5, LengthDelimited(1, "f") +
                                                 LengthDelimited(3, bad)),
       "files[0].raw_path: only output files carry it"},
  };
  for (const auto& [wire, expected] : cases) {
    RawCallResult result = RawCall(server_->target(), kExecute, {wire});
    EXPECT_EQ(result.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << expected << ": " << result.status.error_message();
    EXPECT_THAT(result.status.error_message(), StartsWith(expected));
    EXPECT_TRUE(result.responses.empty()) << expected;
  }
  const std::string log = server_->Log();
  EXPECT_THAT(log, ::testing::Not(HasSubstr("libprotobuf")));
  // Nothing was queued, so nothing finished.
  EXPECT_THAT(log, ::testing::Not(HasSubstr("execution_finished")));
}

// The raw edge still runs ordinary requests, non-ASCII text included.
TEST_F(RequestEdgeTest, AHandEncodedRequestRuns) {
  RawCallResult result = RawCall(
      server_->target(), kExecute,
      {Code("import os; print(os.environ['G'], open('d/\xC3\xA9').read())") +
       Env("G", "gr\xC3\xBC\xC3\x9F") + InputFile("d/\xC3\xA9")});
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  std::string stdout_text;
  bool finished_ok = false;
  for (const std::string& bytes : result.responses) {
    ExecuteResponse response;
    ASSERT_TRUE(response.ParseFromString(bytes));
    if (response.has_output()) stdout_text += response.output().data();
    if (response.has_finished()) {
      finished_ok = response.finished().outcome() == Finished::OK;
    }
  }
  EXPECT_TRUE(finished_ok);
  EXPECT_EQ(stdout_text, "gr\xC3\xBC\xC3\x9F x\n");
}

TEST_F(RequestEdgeTest, PathsAFilesystemWouldRefuseAreNamed) {
  auto stub = server_->NewStub();
  ExecuteRequest request = MakeRequest("print(1)");
  request.add_files()->set_path("d/" + std::string(256, 'n'));
  ExecuteOutcome run = Execute(*stub, request);
  EXPECT_EQ(run.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(run.status.error_message(),
              StartsWith("files[0].path: the name \"nnnn"));
  EXPECT_THAT(run.status.error_message(), HasSubstr("longer than 255 bytes"));
  EXPECT_FALSE(run.has_started);

  request = MakeRequest("print(1)");
  request.add_files()->set_path("a");
  request.add_files()->set_path("a/b");
  run = Execute(*stub, request);
  EXPECT_EQ(run.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(run.status.error_message(),
              StartsWith("files[1].path: \"a/b\" is below \"a\""));

  request = MakeRequest("print(1)");
  (*request.mutable_env())["BIG"] = std::string(200 << 10, 'v');
  run = Execute(*stub, request);
  EXPECT_EQ(run.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(run.status.error_message(), StartsWith("env[\"BIG\"]: "));

  // A hostile length comes back as a short, complete status.
  request = MakeRequest("print(1)");
  request.set_language(std::string(200 << 10, 'l'));
  run = Execute(*stub, request);
  EXPECT_EQ(run.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(run.status.error_message(), StartsWith("language: unknown"));
}

// A file named with invalid UTF-8 and invalid UTF-8 on stderr: Finished
// still arrives (the generated client parses it strictly), with the exact
// name in raw_path and the exact content.
TEST_F(RequestEdgeTest, NonUtf8FileNamesAndStderrStillFinish) {
  std::string content;
  for (int i = 0; i < 4 * 256; ++i) content.push_back(static_cast<char>(i));
  content += "end";
  auto stub = server_->NewStub();
  ExecuteOutcome run = Execute(*stub, MakeRequest(R"(
import sys
with open(b"bad\xff\xfe.txt", "wb") as f:
    f.write(bytes(range(256)) * 4 + b"end")
with open("good.txt", "w") as f:
    f.write("fine")
sys.stderr.buffer.write(b"oops \xff\xfe\n")
sys.stderr.flush()
sys.exit(3)
)"));
  ASSERT_TRUE(run.status.ok()) << run.status.error_message();
  ASSERT_TRUE(run.has_finished);
  EXPECT_EQ(run.finished.outcome(), Finished::NONZERO_EXIT);
  EXPECT_EQ(run.finished.exit_code(), 3);
  EXPECT_EQ(run.stderr_text, "oops \xFF\xFE\n");
  EXPECT_TRUE(ValidUtf8(run.finished.message()));
  const codeexecutor::v1::File* bad = nullptr;
  const codeexecutor::v1::File* good = nullptr;
  for (const auto& file : run.finished.output_files()) {
    if (file.path() == "good.txt") good = &file;
    if (file.path() == "bad\xEF\xBF\xBD\xEF\xBF\xBD.txt") bad = &file;
  }
  ASSERT_NE(bad, nullptr) << run.finished.DebugString();
  EXPECT_EQ(bad->raw_path(), "bad\xFF\xFE.txt");
  EXPECT_EQ(bad->content().size(), content.size());
  EXPECT_TRUE(bad->content() == content);
  ASSERT_NE(good, nullptr);
  EXPECT_EQ(good->raw_path(), "");  // only for names that are not UTF-8
  EXPECT_EQ(good->content(), "fine");
  EXPECT_THAT(server_->Log(), ::testing::Not(HasSubstr("libprotobuf")));
}

// Stderr that looks like a runsc error is reported in Finished.message (the
// local backend's way of telling sandbox failures): it too must stay valid
// UTF-8, and the bytes must reach the client one way or the other.
TEST_F(RequestEdgeTest, NonUtf8StderrInTheMessageStaysValid) {
  auto stub = server_->NewStub();
  ExecuteOutcome run = Execute(*stub, MakeRequest(R"(
import sys
sys.stderr.buffer.write(b"running container: bad \xff\xfe\n")
sys.stderr.flush()
sys.exit(1)
)"));
  ASSERT_TRUE(run.status.ok()) << run.status.error_message();
  ASSERT_TRUE(run.has_finished);
  EXPECT_TRUE(ValidUtf8(run.finished.message()));
  const bool in_message =
      absl::StrContains(run.finished.message(), "bad \xEF\xBF\xBD\xEF\xBF\xBD");
  const bool in_stderr = absl::StrContains(run.stderr_text, "bad \xFF\xFE");
  EXPECT_TRUE(in_message || in_stderr)
      << run.finished.message() << " / " << run.stderr_text;
}

// Reflection still describes the public proto (string fields, raw_path).
TEST_F(RequestEdgeTest, ReflectionDescribesThePublicProto) {
  RawCallResult result =
      RawCall(server_->target(),
              "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
              {LengthDelimited(4, "codeexecutor.v1.CodeExecutor")});
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  ASSERT_EQ(result.responses.size(), 1u);
  google::protobuf::UnknownFieldSet response;
  ASSERT_TRUE(response.ParseFromString(result.responses[0]));
  std::vector<google::protobuf::FileDescriptorProto> files;
  for (int i = 0; i < response.field_count(); ++i) {
    if (response.field(i).number() != 4) continue;  // file_descriptor_response
    google::protobuf::UnknownFieldSet descriptors;
    ASSERT_TRUE(
        descriptors.ParseFromString(response.field(i).length_delimited()));
    for (int j = 0; j < descriptors.field_count(); ++j) {
      files.emplace_back();
      ASSERT_TRUE(files.back().ParseFromString(
          descriptors.field(j).length_delimited()));
    }
  }
  const google::protobuf::FileDescriptorProto* ours = nullptr;
  for (const auto& file : files) {
    if (file.name() == "codeexecutor/v1/code_executor.proto") ours = &file;
  }
  ASSERT_NE(ours, nullptr);
  ASSERT_EQ(ours->service_size(), 1);
  EXPECT_EQ(ours->service(0).method(0).input_type(),
            ".codeexecutor.v1.ExecuteRequest");
  std::string kinds;
  for (const auto& message : ours->message_type()) {
    for (const auto& field : message.field()) {
      if (message.name() == "ExecuteRequest" && field.name() == "code") {
        kinds += "code:" + std::to_string(field.type()) + " ";
      }
      if (message.name() == "File" && field.name() == "raw_path") {
        kinds += "raw_path:" + std::to_string(field.type());
      }
    }
  }
  EXPECT_EQ(
      kinds,
      absl::StrCat(
          "code:", google::protobuf::FieldDescriptorProto::TYPE_STRING,
          " raw_path:", google::protobuf::FieldDescriptorProto::TYPE_BYTES));
}

}  // namespace
}  // namespace codeexec::testing
