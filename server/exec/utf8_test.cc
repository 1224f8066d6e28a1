#include "server/exec/utf8.h"

#include <optional>
#include <string>

#include "gtest/gtest.h"

namespace codeexec {
namespace {

TEST(Utf8Test, ValidTextIsValid) {
  for (std::string_view text :
       {std::string_view(""), std::string_view("plain ascii"),
        std::string_view("\0nul", 4), std::string_view("caf\xC3\xA9"),
        std::string_view("\xE2\x82\xAC euro"),
        std::string_view("\xF0\x9F\x98\x80 emoji"),
        std::string_view("\xED\x9F\xBF"),         // U+D7FF
        std::string_view("\xEE\x80\x80"),         // U+E000
        std::string_view("\xF4\x8F\xBF\xBF")}) {  // U+10FFFF
    EXPECT_EQ(FirstInvalidUtf8Byte(text), std::nullopt) << text;
    EXPECT_TRUE(IsValidUtf8(text));
    EXPECT_EQ(ToValidUtf8(text), text);
  }
}

TEST(Utf8Test, FirstInvalidByteIsItsOffset) {
  EXPECT_EQ(FirstInvalidUtf8Byte("bad\xFF\xFE.txt"), 3u);
  EXPECT_EQ(FirstInvalidUtf8Byte("\x80"), 0u);              // lone cont.
  EXPECT_EQ(FirstInvalidUtf8Byte("ab\xC3"), 2u);            // truncated
  EXPECT_EQ(FirstInvalidUtf8Byte("\xC0\xAF"), 0u);          // overlong
  EXPECT_EQ(FirstInvalidUtf8Byte("x\xE0\x80\xAF"), 1u);     // overlong
  EXPECT_EQ(FirstInvalidUtf8Byte("\xED\xA0\x80"), 0u);      // surrogate
  EXPECT_EQ(FirstInvalidUtf8Byte("\xF4\x90\x80\x80"), 0u);  // > 10FFFF
  EXPECT_EQ(FirstInvalidUtf8Byte("\xF5\x80\x80\x80"), 0u);
  EXPECT_EQ(FirstInvalidUtf8Byte("\xC3\xA9\xE2\x82"), 2u);
  EXPECT_FALSE(IsValidUtf8("\xFF"));
}

TEST(Utf8Test, EachMaximalIllFormedSubsequenceBecomesOneReplacement) {
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(ToValidUtf8("bad\xFF\xFE.txt"), "bad" + r + r + ".txt");
  // A truncated sequence is one replacement; the byte that broke it is
  // decoded on its own.
  EXPECT_EQ(ToValidUtf8("\xE2\x82"
                        "A"),
            r + "A");
  EXPECT_EQ(ToValidUtf8("\xF0\x9F\x98"), r);
  EXPECT_EQ(ToValidUtf8("\xE2\x82\xC3\xA9"), r + "\xC3\xA9");
  // Bytes that can never start or continue a valid sequence: one each.
  EXPECT_EQ(ToValidUtf8("\xC0\xAF"), r + r);
  EXPECT_EQ(ToValidUtf8("\xED\xA0\x80"), r + r + r);
  EXPECT_EQ(ToValidUtf8("\xF4\x90\x80\x80"), r + r + r + r);
  EXPECT_EQ(ToValidUtf8(std::string_view("a\0\x80", 3)),
            std::string("a\0", 2) + r);
  EXPECT_TRUE(IsValidUtf8(ToValidUtf8("\xFF\xFE\xFD\xC3")));
}

}  // namespace
}  // namespace codeexec
