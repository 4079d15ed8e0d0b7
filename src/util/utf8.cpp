#include "util/utf8.hpp"

namespace util {

namespace {

bool is_continuation(unsigned char c) {
  return (c & 0xC0) == 0x80;
}

}  // namespace

std::optional<CodePoint> decode_utf8(std::string_view s) {
  if (s.empty()) return std::nullopt;
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = byte(0);
  if (b0 < 0x80) return CodePoint{b0, 1};
  // Table 3-7: the lead byte gives the length and the range of the second byte, which is what
  // rules out overlong forms (E0, F0), surrogates (ED) and values past U+10FFFF (F4).
  std::size_t length = 0;
  char32_t value = 0;
  unsigned char low = 0x80, high = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    length = 2;
    value = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    length = 3;
    value = b0 & 0x0F;
    if (b0 == 0xE0) low = 0xA0;
    if (b0 == 0xED) high = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    length = 4;
    value = b0 & 0x07;
    if (b0 == 0xF0) low = 0x90;
    if (b0 == 0xF4) high = 0x8F;
  } else {
    return std::nullopt;  // a continuation byte, 0xC0, 0xC1 or 0xF5..0xFF
  }
  if (s.size() < length) return std::nullopt;
  if (byte(1) < low || byte(1) > high) return std::nullopt;
  for (std::size_t k = 1; k < length; ++k) {
    if (!is_continuation(byte(k))) return std::nullopt;
    value = (value << 6) | (byte(k) & 0x3F);
  }
  return CodePoint{value, length};
}

std::optional<std::size_t> first_invalid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto cp = decode_utf8(s.substr(i));
    if (!cp) return i;
    i += cp->length;
  }
  return std::nullopt;
}

bool is_valid_utf8(std::string_view s) {
  return !first_invalid_utf8(s).has_value();
}

std::size_t utf8_length(std::string_view s) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < s.size(); ++n) {
    const auto cp = decode_utf8(s.substr(i));
    i += cp ? cp->length : 1;
  }
  return n;
}

std::size_t utf8_prefix_length(std::string_view s, std::size_t max_bytes) {
  if (max_bytes >= s.size()) return s.size();
  std::size_t cut = max_bytes;
  while (cut > 0 && is_continuation(static_cast<unsigned char>(s[cut]))) --cut;
  return cut;
}

std::string sanitize_utf8(std::string_view s, InvalidUtf8 policy) {
  const auto bad = first_invalid_utf8(s);
  if (!bad) return std::string(s);
  std::string out;
  out.reserve(s.size() + 8);
  out.append(s.substr(0, *bad));
  std::size_t i = *bad;
  while (i < s.size()) {
    if (const auto cp = decode_utf8(s.substr(i))) {
      out.append(s.substr(i, cp->length));
      i += cp->length;
      continue;
    }
    switch (policy) {
      case InvalidUtf8::replacement_character:
        out.append("\xEF\xBF\xBD");
        break;
      case InvalidUtf8::question_mark:
        out.push_back('?');
        break;
    }
    ++i;
  }
  return out;
}

}  // namespace util
