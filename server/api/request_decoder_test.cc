#include "server/api/request_decoder.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/stubs/logging.h>

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/api/execute_request_wire.pb.h"

namespace codeexec {
namespace {

using ::codeexec::wire::ExecuteRequestWire;
using ::codeexecutor::v1::ExecuteRequest;
using ::google::protobuf::Descriptor;
using ::google::protobuf::FieldDescriptor;
using ::testing::HasSubstr;

// Collects what libprotobuf logs while alive.
class LogCapture {
 public:
  LogCapture() {
    lines_ = new std::vector<std::string>;
    previous_ = google::protobuf::SetLogHandler(&Handle);
  }
  ~LogCapture() {
    google::protobuf::SetLogHandler(previous_);
    delete lines_;
    lines_ = nullptr;
  }
  const std::vector<std::string>& lines() const { return *lines_; }

 private:
  static void Handle(google::protobuf::LogLevel, const char*, int,
                     const std::string& message) {
    if (lines_ != nullptr) lines_->push_back(message);
  }
  static inline std::vector<std::string>* lines_ = nullptr;
  google::protobuf::LogHandler* previous_;
};

// The twin mirrors the public message: same names, numbers and labels;
// `bytes` where the public one has `string`; maps as their entry messages.
void ExpectMirrors(const Descriptor& real, const Descriptor& twin) {
  SCOPED_TRACE(real.full_name());
  ASSERT_EQ(real.field_count(), twin.field_count());
  for (int i = 0; i < real.field_count(); ++i) {
    const FieldDescriptor& a = *real.field(i);
    const FieldDescriptor* b = twin.FindFieldByNumber(a.number());
    ASSERT_NE(b, nullptr) << a.name();
    EXPECT_EQ(a.name(), b->name());
    EXPECT_EQ(a.is_repeated(), b->is_repeated()) << a.name();
    if (a.type() == FieldDescriptor::TYPE_STRING) {
      EXPECT_EQ(b->type(), FieldDescriptor::TYPE_BYTES) << a.name();
    } else {
      EXPECT_EQ(a.type(), b->type()) << a.name();
    }
    if (a.type() == FieldDescriptor::TYPE_MESSAGE) {
      ExpectMirrors(*a.message_type(), *b->message_type());
    }
  }
}

TEST(RequestDecoderTest, WireTwinMirrorsExecuteRequest) {
  ExpectMirrors(*ExecuteRequest::descriptor(),
                *ExecuteRequestWire::descriptor());
}

TEST(RequestDecoderTest, DecodesAValidRequestUnchanged) {
  ExecuteRequest request;
  request.set_code("print('h\xC3\xA9')");
  request.set_language("python");
  request.set_stdin(std::string("\xFF\x00", 2));
  (*request.mutable_env())["A"] = "\xE2\x82\xAC";
  auto* file = request.add_files();
  file->set_path("d/\xC3\xA9.txt");
  file->set_content("\xFF");
  request.mutable_limits()->set_timeout_seconds(5);
  request.mutable_limits()->set_cpu_limit("1");
  request.mutable_limits()->set_memory_limit("1Gi");
  request.mutable_limits()->set_max_output_bytes(7);
  request.set_client_request_id("req-1");
  absl::StatusOr<ExecuteRequest> decoded =
      DecodeExecuteRequest(request.SerializeAsString());
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->SerializeAsString(), request.SerializeAsString());
}

// Each string field holding invalid UTF-8 is named; nothing is logged.
TEST(RequestDecoderTest, InvalidUtf8IsInvalidArgumentNamingTheField) {
  const std::string bad = "ok\xFF\xFE";
  struct Case {
    std::string expected;
    void (*fill)(ExecuteRequestWire&, const std::string&);
  };
  const Case cases[] = {
      {"code: not valid UTF-8 (byte 2: 0xff)",
       [](ExecuteRequestWire& r, const std::string& b) { r.set_code(b); }},
      {"language: not valid UTF-8 (byte 2: 0xff)",
       [](ExecuteRequestWire& r, const std::string& b) { r.set_language(b); }},
      {"env[\"ok\\xff\\xfe\"]: name is not valid UTF-8 (byte 2: 0xff)",
       [](ExecuteRequestWire& r, const std::string& b) {
         r.add_env()->set_key(b);
       }},
      {"env[\"X\"]: value is not valid UTF-8 (byte 2: 0xff)",
       [](ExecuteRequestWire& r, const std::string& b) {
         auto* e = r.add_env();
         e->set_key("X");
         e->set_value(b);
       }},
      {"files[2].path: not valid UTF-8 (byte 2: 0xff)",
       [](ExecuteRequestWire& r, const std::string& b) {
         r.add_files()->set_path("a");
         r.add_files()->set_path("b");
         r.add_files()->set_path(b);
       }},
      {"limits.cpu_requested: not valid UTF-8",
       [](ExecuteRequestWire& r, const std::string& b) {
         r.mutable_limits()->set_cpu_requested(b);
       }},
      {"limits.cpu_limit: not valid UTF-8",
       [](ExecuteRequestWire& r, const std::string& b) {
         r.mutable_limits()->set_cpu_limit(b);
       }},
      {"limits.memory_requested: not valid UTF-8",
       [](ExecuteRequestWire& r, const std::string& b) {
         r.mutable_limits()->set_memory_requested(b);
       }},
      {"limits.memory_limit: not valid UTF-8",
       [](ExecuteRequestWire& r, const std::string& b) {
         r.mutable_limits()->set_memory_limit(b);
       }},
      {"client_request_id: not valid UTF-8",
       [](ExecuteRequestWire& r, const std::string& b) {
         r.set_client_request_id(b);
       }},
  };
  LogCapture log;
  for (const Case& c : cases) {
    ExecuteRequestWire raw;
    raw.set_code("print(1)");
    c.fill(raw, bad);
    absl::StatusOr<ExecuteRequest> decoded =
        DecodeExecuteRequest(raw.SerializeAsString());
    ASSERT_FALSE(decoded.ok()) << c.expected;
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(decoded.status().message()), HasSubstr(c.expected));
  }
  EXPECT_THAT(log.lines(), ::testing::IsEmpty());
}

TEST(RequestDecoderTest, MalformedBytesAreInvalidArgument) {
  absl::StatusOr<ExecuteRequest> decoded =
      DecodeExecuteRequest("\x0a\x10short");  // length past the end
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(decoded.status().message()),
              HasSubstr("request: not a valid ExecuteRequest"));
}

TEST(RequestDecoderTest, RawPathInARequestIsRejected) {
  ExecuteRequestWire raw;
  raw.set_code("print(1)");
  raw.add_files()->set_raw_path("x");
  absl::StatusOr<ExecuteRequest> decoded =
      DecodeExecuteRequest(raw.SerializeAsString());
  ASSERT_FALSE(decoded.ok());
  EXPECT_THAT(std::string(decoded.status().message()),
              HasSubstr("files[0].raw_path: only output files carry it"));
}

TEST(RequestDecoderTest, AHugeEnvNameIsQuotedShort) {
  ExecuteRequestWire raw;
  raw.set_code("print(1)");
  raw.add_env()->set_key(std::string(100000, 'A') + "\xFF");
  absl::StatusOr<ExecuteRequest> decoded =
      DecodeExecuteRequest(raw.SerializeAsString());
  ASSERT_FALSE(decoded.ok());
  EXPECT_LT(decoded.status().message().size(), 300u);
  EXPECT_THAT(std::string(decoded.status().message()),
              HasSubstr("(100001 bytes)]: name is not valid UTF-8"));
}

// A field given twice keeps its last value, as in any protobuf parser; an
// invalid earlier value neither fails the request nor gets logged.
TEST(RequestDecoderTest, AFieldGivenTwiceKeepsTheLastValue) {
  ExecuteRequestWire first, second;
  first.set_code("\xFF");
  second.set_code("print(2)");
  LogCapture log;
  absl::StatusOr<ExecuteRequest> decoded = DecodeExecuteRequest(
      first.SerializeAsString() + second.SerializeAsString());
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->code(), "print(2)");
  EXPECT_THAT(log.lines(), ::testing::IsEmpty());
}

}  // namespace
}  // namespace codeexec
