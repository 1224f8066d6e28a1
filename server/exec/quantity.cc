#include "server/exec/quantity.h"

#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace codeexec {
namespace {

// Debian's abseil is built without ABSL_OPTION_USE_STD_STRING_VIEW, so
// absl::string_view is its own type; this file works in it internally.
absl::string_view ToAbsl(std::string_view text) {
  return absl::string_view(text.data(), text.size());
}

// A parsed quantity, exactly: digits * 10^exponent10 * 2^binary_shift.
struct DecimalQuantity {
  std::string digits;  // decimal digits of the mantissa, point removed
  int64_t exponent10 = 0;
  int binary_shift = 0;
};

struct Suffix {
  absl::string_view name;
  int exponent10;
  int binary_shift;
};

constexpr std::array<Suffix, 15> kSuffixes = {{
    {"Ki", 0, 10},
    {"Mi", 0, 20},
    {"Gi", 0, 30},
    {"Ti", 0, 40},
    {"Pi", 0, 50},
    {"Ei", 0, 60},
    {"n", -9, 0},
    {"u", -6, 0},
    {"m", -3, 0},
    {"k", 3, 0},
    {"M", 6, 0},
    {"G", 9, 0},
    {"T", 12, 0},
    {"P", 15, 0},
    {"E", 18, 0},
}};

// Longest exponent accepted after e/E ("1e123456" is far out of range
// anyway); keeps the exponent arithmetic clear of int64 overflow.
constexpr size_t kMaxExponentDigits = 6;

absl::Status InvalidQuantity(absl::string_view text, absl::string_view reason) {
  return absl::InvalidArgumentError(absl::StrCat(
      "invalid quantity \"", absl::CHexEscape(text), "\": ", reason));
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Parses the exponent after "e"/"E": an optional sign and 1..6 digits.
bool ParseExponent(absl::string_view text, int64_t& exponent) {
  bool negative = false;
  if (!text.empty() && (text.front() == '+' || text.front() == '-')) {
    negative = text.front() == '-';
    text.remove_prefix(1);
  }
  if (text.empty() || text.size() > kMaxExponentDigits) return false;
  for (char c : text) {
    if (!IsDigit(c)) return false;
  }
  int64_t value = 0;
  if (!absl::SimpleAtoi(text, &value)) return false;
  exponent = negative ? -value : value;
  return true;
}

absl::StatusOr<DecimalQuantity> ParseDecimalQuantity(absl::string_view text) {
  if (text.empty()) return InvalidQuantity(text, "empty");
  for (char c : text) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c))) {
      return InvalidQuantity(text, "must not contain whitespace");
    }
  }
  size_t pos = 0;
  if (text[pos] == '-') return InvalidQuantity(text, "must not be negative");
  if (text[pos] == '+') ++pos;

  std::string integer_digits;
  std::string fraction_digits;
  bool seen_point = false;
  for (; pos < text.size(); ++pos) {
    const char c = text[pos];
    if (IsDigit(c)) {
      (seen_point ? fraction_digits : integer_digits).push_back(c);
    } else if (c == '.') {
      if (seen_point) {
        return InvalidQuantity(text, "more than one decimal point");
      }
      seen_point = true;
    } else {
      break;
    }
  }
  if (integer_digits.empty() && fraction_digits.empty()) {
    return InvalidQuantity(text, "expected a number");
  }

  DecimalQuantity quantity;
  quantity.digits = integer_digits + fraction_digits;
  quantity.exponent10 = -static_cast<int64_t>(fraction_digits.size());

  const absl::string_view suffix = text.substr(pos);
  if (suffix.empty()) return quantity;
  for (const Suffix& known : kSuffixes) {
    if (suffix == known.name) {
      quantity.exponent10 += known.exponent10;
      quantity.binary_shift = known.binary_shift;
      return quantity;
    }
  }
  if (suffix.size() > 1 && (suffix.front() == 'e' || suffix.front() == 'E')) {
    int64_t exponent = 0;
    if (!ParseExponent(suffix.substr(1), exponent)) {
      return InvalidQuantity(text,
                             absl::StrCat("invalid exponent \"", suffix, "\""));
    }
    quantity.exponent10 += exponent;
    return quantity;
  }
  return InvalidQuantity(
      text, absl::StrCat("unknown suffix \"", absl::CHexEscape(suffix),
                         "\" (expected one of Ki Mi Gi Ti Pi Ei, "
                         "n u m k M G T P E, or an exponent such as e3)"));
}

// Doubles a decimal digit string in place.
void DoubleDigits(std::string& digits) {
  int carry = 0;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    const int doubled = (*it - '0') * 2 + carry;
    *it = static_cast<char>('0' + doubled % 10);
    carry = doubled / 10;
  }
  if (carry != 0) digits.insert(digits.begin(), static_cast<char>('0' + carry));
}

// ceil(quantity * 10^scale_exponent10) as an int64, exactly.
absl::StatusOr<int64_t> ScaleAndRoundUp(absl::string_view text,
                                        int scale_exponent10) {
  absl::StatusOr<DecimalQuantity> parsed = ParseDecimalQuantity(text);
  if (!parsed.ok()) return parsed.status();
  std::string digits = std::move(parsed->digits);
  int64_t exponent10 = parsed->exponent10 + scale_exponent10;

  const size_t first_nonzero = digits.find_first_not_of('0');
  if (first_nonzero == std::string::npos) return 0;
  digits.erase(0, first_nonzero);
  while (digits.back() == '0') {
    digits.pop_back();
    ++exponent10;
  }
  for (int i = 0; i < parsed->binary_shift; ++i) DoubleDigits(digits);

  constexpr size_t kMaxInt64Digits = 19;
  std::string integer_part;
  bool has_fraction = false;
  if (exponent10 >= 0) {
    if (digits.size() + exponent10 > kMaxInt64Digits) {
      return InvalidQuantity(text, "too large");
    }
    integer_part = digits + std::string(exponent10, '0');
  } else {
    const size_t fraction_length = static_cast<size_t>(-exponent10);
    if (fraction_length >= digits.size()) {
      integer_part = "0";
      has_fraction = true;  // digits are not all zero
    } else {
      const size_t integer_length = digits.size() - fraction_length;
      integer_part = digits.substr(0, integer_length);
      has_fraction =
          digits.find_first_not_of('0', integer_length) != std::string::npos;
    }
  }
  int64_t value = 0;
  if (integer_part.size() > kMaxInt64Digits ||
      !absl::SimpleAtoi(integer_part, &value)) {
    return InvalidQuantity(text, "too large");
  }
  if (has_fraction) {
    if (value == std::numeric_limits<int64_t>::max()) {
      return InvalidQuantity(text, "too large");
    }
    ++value;
  }
  return value;
}

}  // namespace

absl::StatusOr<int64_t> ParseCpuMillis(std::string_view quantity) {
  return ScaleAndRoundUp(ToAbsl(quantity), 3);
}

absl::StatusOr<int64_t> ParseBytes(std::string_view quantity) {
  return ScaleAndRoundUp(ToAbsl(quantity), 0);
}

std::string FormatCpuMillis(int64_t millis) {
  if (millis % 1000 == 0) return absl::StrCat(millis / 1000);
  return absl::StrCat(millis, "m");
}

std::string FormatBytes(int64_t bytes) {
  if (bytes == 0) return "0";
  constexpr std::array<absl::string_view, 6> kUnits = {"Ki", "Mi", "Gi",
                                                       "Ti", "Pi", "Ei"};
  for (int unit = static_cast<int>(kUnits.size()) - 1; unit >= 0; --unit) {
    const int64_t unit_bytes = int64_t{1} << (10 * (unit + 1));
    if (bytes % unit_bytes == 0) {
      return absl::StrCat(bytes / unit_bytes, kUnits[unit]);
    }
  }
  return absl::StrCat(bytes);
}

}  // namespace codeexec
