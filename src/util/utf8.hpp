#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

// The one UTF-8 decoder (RFC 3629, Unicode Table 3-7 "Well-Formed UTF-8 Byte Sequences").
// Ill-formed everywhere: a stray continuation byte (0x80..0xBF where a sequence starts), the
// bytes that never occur (0xC0, 0xC1, 0xF5..0xFF), a sequence cut short (by the end of the
// input or by a byte that is not a continuation byte), an overlong form, a UTF-16 surrogate
// (U+D800..U+DFFF) and anything past U+10FFFF. Noncharacters (U+FFFE, U+FFFF, U+FDD0, ...) are
// valid, as the Unicode standard says. NUL is a valid code point here; callers that refuse it
// say so themselves.
namespace util {

struct CodePoint {
  char32_t value = 0;
  std::size_t length = 0;  // bytes taken from the input: 1 to 4
};

// The code point at the start of `s`, or std::nullopt when `s` is empty or does not start with a
// well-formed sequence.
std::optional<CodePoint> decode_utf8(std::string_view s);

// The offset of the first byte of `s` that does not start a well-formed sequence, or
// std::nullopt when all of `s` is valid UTF-8.
std::optional<std::size_t> first_invalid_utf8(std::string_view s);

// Whether all of `s` is valid UTF-8.
bool is_valid_utf8(std::string_view s);

// The number of code points in `s`; each byte of an ill-formed stretch counts as one (as
// sanitize_utf8 replaces it).
std::size_t utf8_length(std::string_view s);

// The longest prefix of `s` of at most `max_bytes` bytes that does not end inside a sequence:
// its length. Meant for valid UTF-8 (a cut at a byte limit keeps the text valid).
std::size_t utf8_prefix_length(std::string_view s, std::size_t max_bytes);

// What sanitize_utf8 writes for each byte that does not start a well-formed sequence.
enum class InvalidUtf8 {
  replacement_character,  // U+FFFD (EF BF BD)
  question_mark,          // '?'
};

// `s` with every byte that does not start a well-formed sequence replaced as `policy` says (one
// replacement per byte: a 4-byte sequence missing its last byte becomes three); valid sequences
// are copied as they are. The result is valid UTF-8.
std::string sanitize_utf8(std::string_view s, InvalidUtf8 policy);

}  // namespace util
