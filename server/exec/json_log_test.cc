#include "server/exec/json_log.h"

#include <string>

#include "gtest/gtest.h"

namespace codeexec {
namespace {

TEST(JsonLogTest, OneParsableLineWithTimeLevelEventAndFields) {
  const std::string line = FormatLogLine(
      LogLevel::kWarning, "warning",
      {{"component", "kubernetes"}, {"message", "cannot delete"}});
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  const nlohmann::json parsed = nlohmann::json::parse(line);
  EXPECT_EQ(parsed["level"], "warning");
  EXPECT_EQ(parsed["event"], "warning");
  EXPECT_EQ(parsed["component"], "kubernetes");
  EXPECT_EQ(parsed["message"], "cannot delete");
  const std::string ts = parsed["ts"];
  EXPECT_TRUE(ts.ends_with("+00:00")) << ts;  // UTC
}

TEST(JsonLogTest, InvalidUtf8AndNewlinesStayOnOneLine) {
  const std::string line =
      FormatLogLine(LogLevel::kInfo, "execution_finished",
                    {{"message", std::string("a\nb\xff")}});
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  EXPECT_EQ(nlohmann::json::parse(line)["message"], "a\nb\xEF\xBF\xBD");
}

}  // namespace
}  // namespace codeexec
