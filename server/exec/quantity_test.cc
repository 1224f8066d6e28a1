#include "server/exec/quantity.h"

#include <cstdint>
#include <limits>
#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace codeexec {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

struct ParseCase {
  std::string text;
  int64_t expected;
};

void PrintTo(const ParseCase& test_case, std::ostream* os) {
  *os << '"' << test_case.text << '"';
}

class ParseCpuMillisTest : public testing::TestWithParam<ParseCase> {};

TEST_P(ParseCpuMillisTest, Parses) {
  absl::StatusOr<int64_t> millis = ParseCpuMillis(GetParam().text);
  ASSERT_TRUE(millis.ok()) << millis.status();
  EXPECT_EQ(*millis, GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(
    Quantities, ParseCpuMillisTest,
    testing::Values(
        ParseCase{"0", 0}, ParseCase{"0m", 0}, ParseCase{"0.0", 0},
        ParseCase{"1", 1000}, ParseCase{"2", 2000}, ParseCase{"+1", 1000},
        ParseCase{"0.1", 100}, ParseCase{"0.5", 500}, ParseCase{".5", 500},
        ParseCase{"1.", 1000}, ParseCase{"1.5", 1500}, ParseCase{"0.001", 1},
        // Rounded up to whole millicores.
        ParseCase{"0.0001", 1}, ParseCase{"0.1001", 101}, ParseCase{"1u", 1},
        ParseCase{"1n", 1}, ParseCase{"1500u", 2}, ParseCase{"250m", 250},
        ParseCase{"1000m", 1000}, ParseCase{"0.5m", 1},
        ParseCase{"1k", 1000000}, ParseCase{"1e3", 1000000},
        ParseCase{"1E3", 1000000}, ParseCase{"1e-3", 1},
        ParseCase{"1e+2", 100000}, ParseCase{"25e-2", 250},
        ParseCase{"1Ki", 1024000},
        ParseCase{"0.000000000000000000000000001", 1},
        ParseCase{"1.000000000000000000000000000", 1000},
        ParseCase{"00000000000000000000000000002", 2000},
        ParseCase{"9223372036854775807m", kInt64Max},
        ParseCase{"9223372036854775.807", kInt64Max}));

class ParseBytesTest : public testing::TestWithParam<ParseCase> {};

TEST_P(ParseBytesTest, Parses) {
  absl::StatusOr<int64_t> bytes = ParseBytes(GetParam().text);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(*bytes, GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(
    Quantities, ParseBytesTest,
    testing::Values(
        ParseCase{"0", 0}, ParseCase{"0Gi", 0}, ParseCase{"100", 100},
        ParseCase{"1Ki", 1024}, ParseCase{"256Mi", 268435456},
        ParseCase{"1Gi", 1073741824}, ParseCase{"1.5Gi", 1610612736},
        ParseCase{"0.5Ki", 512}, ParseCase{"1Ti", int64_t{1} << 40},
        ParseCase{"1Pi", int64_t{1} << 50}, ParseCase{"1Ei", int64_t{1} << 60},
        ParseCase{"7Ei", int64_t{7} << 60}, ParseCase{"1k", 1000},
        ParseCase{"1M", 1000000}, ParseCase{"1G", 1000000000},
        ParseCase{"1T", 1000000000000}, ParseCase{"1P", 1000000000000000},
        ParseCase{"1E", 1000000000000000000}, ParseCase{"1e6", 1000000},
        ParseCase{"1.5e3", 1500}, ParseCase{"128974848", 128974848},
        ParseCase{"129e6", 129000000}, ParseCase{"123Mi", 128974848},
        // Fractions of a byte round up.
        ParseCase{"100m", 1}, ParseCase{"1500m", 2}, ParseCase{"0.1", 1},
        ParseCase{"1.0001Ki", 1025}, ParseCase{"1e-30", 1}, ParseCase{"1n", 1},
        ParseCase{"1.5", 2}, ParseCase{"9223372036854775807", kInt64Max},
        ParseCase{"9223372036854775806.5", kInt64Max},
        ParseCase{"0009223372036854775807", kInt64Max},
        ParseCase{"7.999999999999999999Ei", kInt64Max}));

struct ErrorCase {
  std::string text;
  std::string reason;  // expected in the message after the quoted text
};

void PrintTo(const ErrorCase& test_case, std::ostream* os) {
  *os << '"' << test_case.text << '"';
}

class InvalidQuantityTest : public testing::TestWithParam<ErrorCase> {};

TEST_P(InvalidQuantityTest, ParseBytesRejectsNamingTheText) {
  absl::StatusOr<int64_t> bytes = ParseBytes(GetParam().text);
  ASSERT_FALSE(bytes.ok()) << *bytes;
  EXPECT_EQ(bytes.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bytes.status().message(),
              HasSubstr("invalid quantity \"" + GetParam().text + "\""));
  EXPECT_THAT(bytes.status().message(), HasSubstr(GetParam().reason));
}

TEST_P(InvalidQuantityTest, ParseCpuMillisRejectsNamingTheText) {
  absl::StatusOr<int64_t> millis = ParseCpuMillis(GetParam().text);
  ASSERT_FALSE(millis.ok()) << *millis;
  EXPECT_EQ(millis.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(millis.status().message(),
              HasSubstr("invalid quantity \"" + GetParam().text + "\""));
  EXPECT_THAT(millis.status().message(), HasSubstr(GetParam().reason));
}

INSTANTIATE_TEST_SUITE_P(
    Malformed, InvalidQuantityTest,
    testing::Values(
        ErrorCase{"", "empty"}, ErrorCase{"abc", "a number"},
        ErrorCase{"-1", "negative"}, ErrorCase{"-0.5", "negative"},
        ErrorCase{"1.5.3Gi", "more than one decimal point"},
        ErrorCase{"1Gb", "unknown suffix \"Gb\""},
        ErrorCase{"1K", "unknown suffix \"K\""},
        ErrorCase{"1ki", "unknown suffix"}, ErrorCase{"1GiB", "unknown suffix"},
        ErrorCase{"1e", "unknown suffix \"e\""},
        ErrorCase{"1ex", "invalid exponent"},
        ErrorCase{"1e+", "invalid exponent"},
        ErrorCase{"1e1.5", "invalid exponent"},
        ErrorCase{"1e1234567", "invalid exponent"},
        ErrorCase{"1e3Mi", "invalid exponent"}, ErrorCase{".", "a number"},
        ErrorCase{"+", "a number"}, ErrorCase{"Gi", "a number"},
        ErrorCase{"--1", "negative"}, ErrorCase{"+-1", "a number"},
        ErrorCase{"1 Gi", "whitespace"}, ErrorCase{" 1", "whitespace"},
        ErrorCase{"1 ", "whitespace"}, ErrorCase{"1,5", "unknown suffix"},
        ErrorCase{"0x10", "unknown suffix"}));

TEST(InvalidQuantityTest, EscapesControlCharactersInTheMessage) {
  absl::StatusOr<int64_t> bytes = ParseBytes("1\n");
  ASSERT_FALSE(bytes.ok());
  EXPECT_THAT(bytes.status().message(), HasSubstr("\"1\\n\""));
}

TEST(OverflowTest, BytesAboveInt64Fail) {
  for (const std::string text :
       {"9223372036854775808", "8Ei", "9999999999999999999",
        "10000000000000000000", "1e19", "1e999999", "9223372036854775807.1",
        "100000000000000000000000000000Ki"}) {
    absl::StatusOr<int64_t> bytes = ParseBytes(text);
    ASSERT_FALSE(bytes.ok()) << text << " -> " << *bytes;
    EXPECT_EQ(bytes.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(bytes.status().message(),
              "invalid quantity \"" + text + "\": too large");
  }
}

TEST(OverflowTest, CpuMillisAboveInt64Fail) {
  for (const std::string text : {"9223372036854776", "9223372036854775808m",
                                 "1E", "1e16", "9223372036854775.8071"}) {
    absl::StatusOr<int64_t> millis = ParseCpuMillis(text);
    ASSERT_FALSE(millis.ok()) << text << " -> " << *millis;
    EXPECT_THAT(millis.status().message(), HasSubstr("too large"));
  }
}

TEST(ExactArithmeticTest, NoBinaryFloatingPointRounding) {
  // 0.1 + 0.2 style inputs that a double would not hold exactly.
  EXPECT_EQ(*ParseCpuMillis("0.3"), 300);
  EXPECT_EQ(*ParseCpuMillis("0.7"), 700);
  EXPECT_EQ(*ParseCpuMillis("2.675"), 2675);
  EXPECT_EQ(*ParseBytes("0.1Ki"), 103);       // 102.4 rounded up
  EXPECT_EQ(*ParseBytes("4.35Mi"), 4561306);  // 4561305.6 rounded up
  EXPECT_EQ(*ParseBytes("1.1e1"), 11);
}

struct FormatCase {
  int64_t value;
  std::string expected;
};

class FormatCpuMillisTest : public testing::TestWithParam<FormatCase> {};

TEST_P(FormatCpuMillisTest, FormatsAndParsesBack) {
  EXPECT_EQ(FormatCpuMillis(GetParam().value), GetParam().expected);
  EXPECT_EQ(*ParseCpuMillis(GetParam().expected), GetParam().value);
}

INSTANTIATE_TEST_SUITE_P(
    Values, FormatCpuMillisTest,
    testing::Values(FormatCase{0, "0"}, FormatCase{1, "1m"},
                    FormatCase{500, "500m"}, FormatCase{1000, "1"},
                    FormatCase{1500, "1500m"}, FormatCase{2000, "2"},
                    FormatCase{64000, "64"}));

class FormatBytesTest : public testing::TestWithParam<FormatCase> {};

TEST_P(FormatBytesTest, FormatsAndParsesBack) {
  EXPECT_EQ(FormatBytes(GetParam().value), GetParam().expected);
  EXPECT_EQ(*ParseBytes(GetParam().expected), GetParam().value);
}

INSTANTIATE_TEST_SUITE_P(
    Values, FormatBytesTest,
    testing::Values(FormatCase{0, "0"}, FormatCase{1, "1"},
                    FormatCase{1000, "1000"}, FormatCase{1024, "1Ki"},
                    FormatCase{1536, "1536"}, FormatCase{3072, "3Ki"},
                    FormatCase{268435456, "256Mi"},
                    FormatCase{1073741824, "1Gi"},
                    FormatCase{int64_t{1536} << 20, "1536Mi"},
                    FormatCase{int64_t{1} << 40, "1Ti"},
                    FormatCase{int64_t{1} << 50, "1Pi"},
                    FormatCase{int64_t{7} << 60, "7Ei"},
                    FormatCase{kInt64Max, "9223372036854775807"}));

}  // namespace
}  // namespace codeexec
