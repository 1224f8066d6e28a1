#include "server/launcher/frame_parser.h"

#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace codeexec {
namespace {

using Kind = LauncherEvent::Kind;

std::string B64(absl::string_view data) { return absl::Base64Escape(data); }

LauncherEvent Parse(absl::string_view line) {
  FrameParser parser;
  std::vector<LauncherEvent> events = parser.ParseLine(line);
  EXPECT_EQ(events.size(), 1u);
  return events.empty() ? LauncherEvent{} : events[0];
}

void ExpectForeign(absl::string_view line) {
  const LauncherEvent event = Parse(line);
  EXPECT_EQ(event.kind, Kind::kForeign) << line;
  EXPECT_EQ(event.data, line);
}

TEST(FrameParserTest, StdoutAndStderrChunks) {
  LauncherEvent out = Parse(absl::StrCat("@ce1 o ", B64("hello\n")));
  EXPECT_EQ(out.kind, Kind::kStdout);
  EXPECT_EQ(out.data, "hello\n");

  const std::string binary("\x00\xff\xfe partial", 11);
  LauncherEvent err = Parse(absl::StrCat("@ce1 e ", B64(binary)));
  EXPECT_EQ(err.kind, Kind::kStderr);
  EXPECT_EQ(err.data, binary);

  LauncherEvent empty = Parse("@ce1 o ");
  EXPECT_EQ(empty.kind, Kind::kStdout);
  EXPECT_EQ(empty.data, "");
}

TEST(FrameParserTest, FileFrames) {
  LauncherEvent file =
      Parse(absl::StrCat("@ce1 f ", B64("out/r.bin"), " ", B64("\x01\x02")));
  EXPECT_EQ(file.kind, Kind::kFile);
  EXPECT_EQ(file.path, "out/r.bin");
  EXPECT_EQ(file.data, "\x01\x02");

  LauncherEvent empty = Parse(absl::StrCat("@ce1 f ", B64("empty"), " "));
  EXPECT_EQ(empty.kind, Kind::kFile);
  EXPECT_EQ(empty.path, "empty");
  EXPECT_EQ(empty.data, "");
}

TEST(FrameParserTest, FilePathsMustStayInTheWorkspace) {
  for (absl::string_view path : std::vector<absl::string_view>{
           "", "/etc/passwd", "../x", "a/../../x", "a//b", "./a", "a/", "a/.",
           absl::string_view("a\0b", 3)}) {
    ExpectForeign(absl::StrCat("@ce1 f ", B64(path), " ", B64("x")));
  }
}

TEST(FrameParserTest, TruncatedAndExit) {
  EXPECT_EQ(Parse("@ce1 t").kind, Kind::kFilesTruncated);
  for (const auto& [text, code] : std::vector<std::pair<std::string, int>>{
           {"0", 0}, {"3", 3}, {"137", 137}, {"255", 255}}) {
    LauncherEvent exit = Parse(absl::StrCat("@ce1 x ", text));
    EXPECT_EQ(exit.kind, Kind::kExit) << text;
    EXPECT_EQ(exit.exit_code, code);
  }
}

TEST(FrameParserTest, MalformedFramesAreForeign) {
  ExpectForeign("@ce1 x");
  ExpectForeign("@ce1 x 256");
  ExpectForeign("@ce1 x -1");
  ExpectForeign("@ce1 x +3");
  ExpectForeign("@ce1 x 3 ");
  ExpectForeign("@ce1 x abc");
  ExpectForeign("@ce1 x 99999999999999999999");
  ExpectForeign("@ce1 t extra");
  ExpectForeign("@ce1 o");
  ExpectForeign(absl::StrCat("@ce1 o ", B64("a"), " ", B64("b")));
  ExpectForeign(absl::StrCat("@ce1 f ", B64("path")));
  ExpectForeign("@ce1  o aGk=");
  ExpectForeign("@ce1");
  ExpectForeign("@ce1 ");
}

TEST(FrameParserTest, InvalidBase64IsForeign) {
  ExpectForeign("@ce1 o aGk");       // missing padding
  ExpectForeign("@ce1 o aGk=\r");    // trailing CR
  ExpectForeign("@ce1 o a!k=");      // not in the alphabet
  ExpectForeign("@ce1 o aGl=");      // non-canonical trailing bits
  ExpectForeign("@ce1 o aG k=");     // space inside
  ExpectForeign("@ce1 o aGk=aGk=");  // padding in the middle
  ExpectForeign("@ce1 o aGk_");      // URL-safe alphabet
  ExpectForeign(absl::StrCat("@ce1 f ", "a!==", " ", B64("x")));
  ExpectForeign(absl::StrCat("@ce1 f ", B64("p"), " ", "a!=="));
}

TEST(FrameParserTest, UnknownTagsAndForeignLines) {
  ExpectForeign("@ce1 z aGk=");
  ExpectForeign("@ce1 O aGk=");
  ExpectForeign("@ce2 o aGk=");
  ExpectForeign(" @ce1 o aGk=");
  ExpectForeign("");
  ExpectForeign("exec /usr/bin/python3: exec format error");
  ExpectForeign("Traceback (most recent call last):");
  ExpectForeign(std::string("\xff\xfe\x00 binary", 10));
}

TEST(FrameParserTest, FeedSplitsLinesAcrossChunks) {
  const std::string log = absl::StrCat(
      "runtime says hi\n", "@ce1 o ", B64("out"), "\n", "@ce1 e ", B64("err"),
      "\n", "@ce1 f ", B64("a/b"), " ", B64("content"), "\n@ce1 t\n@ce1 x 7\n");
  // Every split point, including inside "@ce1" and inside base64.
  for (size_t split = 0; split <= log.size(); ++split) {
    FrameParser parser;
    std::vector<LauncherEvent> events = parser.Feed(log.substr(0, split));
    for (LauncherEvent& e : parser.Feed(log.substr(split))) {
      events.push_back(std::move(e));
    }
    EXPECT_TRUE(parser.Finish().empty());
    ASSERT_EQ(events.size(), 6u) << split;
    EXPECT_EQ(events[0].kind, Kind::kForeign);
    EXPECT_EQ(events[0].data, "runtime says hi");
    EXPECT_EQ(events[1].kind, Kind::kStdout);
    EXPECT_EQ(events[1].data, "out");
    EXPECT_EQ(events[2].kind, Kind::kStderr);
    EXPECT_EQ(events[2].data, "err");
    EXPECT_EQ(events[3].kind, Kind::kFile);
    EXPECT_EQ(events[3].path, "a/b");
    EXPECT_EQ(events[4].kind, Kind::kFilesTruncated);
    EXPECT_EQ(events[5].kind, Kind::kExit);
    EXPECT_EQ(events[5].exit_code, 7);
  }
}

TEST(FrameParserTest, FinishParsesAnUnterminatedLastLine) {
  FrameParser parser;
  EXPECT_TRUE(parser.Feed("@ce1 x 1").empty());
  std::vector<LauncherEvent> events = parser.Finish();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, Kind::kExit);
  EXPECT_EQ(events[0].exit_code, 1);
  EXPECT_TRUE(parser.Finish().empty());
}

TEST(FrameParserTest, EmptyLinesAreForeign) {
  FrameParser parser;
  std::vector<LauncherEvent> events = parser.Feed("\n\n");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind, Kind::kForeign);
  EXPECT_EQ(events[0].data, "");
}

TEST(FrameParserTest, OverlongLineIsDroppedAndParsingResumes) {
  FrameParser parser(/*max_line_bytes=*/16);
  std::vector<LauncherEvent> events = parser.Feed(std::string(10, 'a'));
  EXPECT_TRUE(events.empty());
  events = parser.Feed(std::string(10, 'a'));
  EXPECT_TRUE(events.empty());
  events = parser.Feed(absl::StrCat("aaa\n@ce1 x 0\n"));
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind, Kind::kForeign);
  EXPECT_THAT(events[0].data, testing::HasSubstr("longer than 16 bytes"));
  EXPECT_EQ(events[1].kind, Kind::kExit);

  // A line of exactly the maximum is kept.
  events = parser.Feed(absl::StrCat("@ce1 o ", B64("abcdef"), "\n"));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, Kind::kStdout);
}

TEST(FrameParserTest, IsSafeRelativePath) {
  EXPECT_TRUE(IsSafeRelativePath("a"));
  EXPECT_TRUE(IsSafeRelativePath("a/b.c/d"));
  EXPECT_TRUE(IsSafeRelativePath("..a/b.."));
  EXPECT_FALSE(IsSafeRelativePath(""));
  EXPECT_FALSE(IsSafeRelativePath("/a"));
  EXPECT_FALSE(IsSafeRelativePath("a/../b"));
}

}  // namespace
}  // namespace codeexec
