#include "server/launcher/launcher_output.h"

#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace codeexec {
namespace {

using Kind = LauncherEvent::Kind;

class RecordingSink : public OutputSink {
 public:
  void OnOutput(OutputStream stream, std::string_view data) override {
    chunks.emplace_back(stream, std::string(data));
  }
  std::vector<std::pair<OutputStream, std::string>> chunks;
};

LauncherEvent Event(Kind kind, std::string data = "", std::string path = "",
                    int exit_code = 0) {
  LauncherEvent event;
  event.kind = kind;
  event.data = std::move(data);
  event.path = std::move(path);
  event.exit_code = exit_code;
  return event;
}

class LauncherOutputTest : public testing::Test {
 protected:
  bool Feed(LauncherEvent event) { return output_.Consume(event); }

  ExecutionSpec spec_;
  RecordingSink sink_;
  LauncherOutput output_{spec_, sink_};
};

TEST_F(LauncherOutputTest, DeliversOutputInOrderAndKeepsTheExitRecord) {
  EXPECT_TRUE(Feed(Event(Kind::kStdout, "out")));
  EXPECT_TRUE(Feed(Event(Kind::kStderr, "err")));
  EXPECT_TRUE(Feed(Event(Kind::kExit, "", "", 3)));
  EXPECT_THAT(sink_.chunks,
              testing::ElementsAre(
                  std::make_pair(OutputStream::kStdout, std::string("out")),
                  std::make_pair(OutputStream::kStderr, std::string("err"))));
  EXPECT_EQ(output_.exit_code(), 3);
  EXPECT_EQ(output_.delivered_bytes(), 6);
}

TEST_F(LauncherOutputTest, DeliversExactlyTheCapThenRefuses) {
  spec_.max_output_bytes = 5;
  EXPECT_TRUE(Feed(Event(Kind::kStdout, "abc")));
  EXPECT_FALSE(Feed(Event(Kind::kStderr, "defg")));
  EXPECT_TRUE(output_.output_limit_reached());
  EXPECT_FALSE(Feed(Event(Kind::kStdout, "more")));
  ASSERT_EQ(sink_.chunks.size(), 2u);
  EXPECT_EQ(sink_.chunks[1].second, "de");
  EXPECT_EQ(output_.delivered_bytes(), 5);
}

TEST_F(LauncherOutputTest, OutputExactlyAtTheCapIsNotOverIt) {
  spec_.max_output_bytes = 3;
  EXPECT_TRUE(Feed(Event(Kind::kStdout, "abc")));
  EXPECT_FALSE(output_.output_limit_reached());
}

TEST_F(LauncherOutputTest, EnforcesTheFileCapsItself) {
  spec_.max_output_files = 2;
  spec_.max_output_file_bytes = 10;
  Feed(Event(Kind::kFile, "12345678", "a"));
  Feed(Event(Kind::kFile, "123", "big"));  // would pass 10 bytes
  Feed(Event(Kind::kFile, "12", "b"));
  Feed(Event(Kind::kFile, "1", "c"));   // a third file
  Feed(Event(Kind::kFile, "xx", "a"));  // a second "a" is ignored
  ExecutionResult result;
  output_.TakeFiles(result);
  ASSERT_EQ(result.output_files.size(), 2u);
  EXPECT_EQ(result.output_files[0].path, "a");
  EXPECT_EQ(result.output_files[0].content, "12345678");
  EXPECT_EQ(result.output_files[1].path, "b");
  EXPECT_TRUE(result.output_files_truncated);
}

TEST_F(LauncherOutputTest, LauncherTruncationFlagIsKept) {
  Feed(Event(Kind::kFilesTruncated));
  ExecutionResult result;
  output_.TakeFiles(result);
  EXPECT_TRUE(result.output_files_truncated);
}

TEST_F(LauncherOutputTest, NothingCountsAfterTheExitRecord) {
  Feed(Event(Kind::kExit, "", "", 0));
  Feed(Event(Kind::kStdout, "late"));
  Feed(Event(Kind::kExit, "", "", 9));
  Feed(Event(Kind::kFile, "x", "late.txt"));
  EXPECT_TRUE(sink_.chunks.empty());
  EXPECT_EQ(output_.exit_code(), 0);
  ExecutionResult result;
  output_.TakeFiles(result);
  EXPECT_TRUE(result.output_files.empty());
}

TEST_F(LauncherOutputTest, ForeignLinesBecomeBoundedDiagnostics) {
  Feed(Event(Kind::kForeign, "exec failed"));
  Feed(Event(Kind::kForeign, "second"));
  EXPECT_EQ(output_.diagnostics(), "exec failed\nsecond");
  Feed(Event(Kind::kForeign, std::string(10000, 'z')));
  EXPECT_LE(output_.diagnostics().size(), LauncherOutput::kMaxDiagnosticsBytes);
  EXPECT_TRUE(sink_.chunks.empty());
}

}  // namespace
}  // namespace codeexec
