#include "server/exec/utf8.h"

namespace codeexec {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Length of the well-formed sequence at text[i] (>= 1), or 0 when there is
// none; then `*ill_formed` is the length of the maximal ill-formed
// subsequence there (>= 1): the lead byte and the continuation bytes that
// could still have completed it.
size_t SequenceAt(std::string_view text, size_t i, size_t* ill_formed) {
  const unsigned char lead = text[i];
  size_t extra;
  unsigned char min_second = 0x80, max_second = 0xBF;
  if (lead < 0x80) {
    return 1;
  } else if (lead >= 0xC2 && lead <= 0xDF) {
    extra = 1;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    extra = 2;
    if (lead == 0xE0) min_second = 0xA0;  // overlong
    if (lead == 0xED) max_second = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    extra = 3;
    if (lead == 0xF0) min_second = 0x90;  // overlong
    if (lead == 0xF4) max_second = 0x8F;  // above U+10FFFF
  } else {
    *ill_formed = 1;
    return 0;
  }
  size_t k = 1;
  for (; k <= extra && i + k < text.size(); ++k) {
    const unsigned char next = text[i + k];
    const unsigned char lo = k == 1 ? min_second : 0x80;
    const unsigned char hi = k == 1 ? max_second : 0xBF;
    if (next < lo || next > hi) break;
  }
  if (k == extra + 1) return k;
  *ill_formed = k;
  return 0;
}

}  // namespace

std::optional<size_t> FirstInvalidUtf8Byte(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    size_t ill_formed = 0;
    const size_t length = SequenceAt(text, i, &ill_formed);
    if (length == 0) return i;
    i += length;
  }
  return std::nullopt;
}

std::string ToValidUtf8(std::string_view text) {
  std::optional<size_t> first = FirstInvalidUtf8Byte(text);
  if (!first.has_value()) return std::string(text);
  std::string out(text.substr(0, *first));
  size_t i = *first;
  while (i < text.size()) {
    size_t ill_formed = 0;
    const size_t length = SequenceAt(text, i, &ill_formed);
    if (length > 0) {
      out.append(text.substr(i, length));
      i += length;
    } else {
      out.append(kReplacement);
      i += ill_formed;
    }
  }
  return out;
}

}  // namespace codeexec
