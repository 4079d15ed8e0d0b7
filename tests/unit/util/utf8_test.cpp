#include "util/utf8.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

// The categories of Markus Kuhn's "UTF-8 decoder capability and stress test"
// (https://www.cl.cam.ac.uk/~mgk25/ucs/examples/UTF-8-test.txt), section numbers in the names.

namespace {

std::string hex(std::string_view s) {
  static constexpr char k_hex[] = "0123456789ABCDEF";
  std::string out;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (!out.empty()) out.push_back(' ');
    out.push_back(k_hex[c >> 4]);
    out.push_back(k_hex[c & 0xF]);
  }
  return out;
}

// The reference encoder: any value below 0x80000000 in the 1- to 6-byte forms of the original
// UTF-8 (RFC 2279), so tests can build overlong, surrogate and out-of-range forms on purpose.
std::string encode(char32_t v, std::size_t length) {
  if (length == 1) return std::string(1, static_cast<char>(v));
  static constexpr unsigned char k_lead[] = {0, 0, 0xC0, 0xE0, 0xF0, 0xF8, 0xFC};
  std::string out(length, '\0');
  for (std::size_t k = length - 1; k > 0; --k) {
    out[k] = static_cast<char>(0x80 | (v & 0x3F));
    v >>= 6;
  }
  out[0] = static_cast<char>(k_lead[length] | v);
  return out;
}

std::size_t shortest_length(char32_t v) {
  return v < 0x80 ? 1 : v < 0x800 ? 2 : v < 0x10000 ? 3 : v < 0x200000 ? 4 : v < 0x4000000 ? 5 : 6;
}

std::string encode(char32_t v) {
  return encode(v, shortest_length(v));
}

void expect_code_point(std::string_view s, char32_t value) {
  const auto cp = util::decode_utf8(s);
  ASSERT_TRUE(cp.has_value()) << hex(s);
  EXPECT_EQ(cp->value, value) << hex(s);
  EXPECT_EQ(cp->length, s.size()) << hex(s);
  EXPECT_TRUE(util::is_valid_utf8(s)) << hex(s);
  EXPECT_EQ(util::utf8_length(s), 1u) << hex(s);
  EXPECT_EQ(util::sanitize_utf8(s, util::InvalidUtf8::replacement_character), s) << hex(s);
}

// Every byte of `s` is one replacement: none of them starts a well-formed sequence.
void expect_each_byte_invalid(std::string_view s) {
  EXPECT_FALSE(util::decode_utf8(s).has_value()) << hex(s);
  EXPECT_FALSE(util::is_valid_utf8(s)) << hex(s);
  EXPECT_EQ(util::first_invalid_utf8(s), 0u) << hex(s);
  EXPECT_EQ(util::sanitize_utf8(s, util::InvalidUtf8::question_mark), std::string(s.size(), '?'))
      << hex(s);
  std::string fffd;
  for (std::size_t i = 0; i < s.size(); ++i) fffd.append("\xEF\xBF\xBD");
  EXPECT_EQ(util::sanitize_utf8(s, util::InvalidUtf8::replacement_character), fffd) << hex(s);
  EXPECT_EQ(util::utf8_length(s), s.size()) << hex(s);
  // Between valid text, the damage stays where it is.
  const std::string framed = std::string("a").append(s).append("z");
  EXPECT_EQ(util::first_invalid_utf8(framed), 1u) << hex(s);
  EXPECT_EQ(util::sanitize_utf8(framed, util::InvalidUtf8::question_mark),
            std::string("a").append(s.size(), '?').append("z"))
      << hex(s);
}

// `s` is rejected at its first byte (what follows may be valid on its own, e.g. the continuation
// bytes of an overlong form are stray continuation bytes, while a lead byte after a cut sequence
// starts over).
void expect_rejected(std::string_view s) {
  EXPECT_FALSE(util::decode_utf8(s).has_value()) << hex(s);
  EXPECT_FALSE(util::is_valid_utf8(s)) << hex(s);
  EXPECT_EQ(util::first_invalid_utf8(s), 0u) << hex(s);
  const std::string fixed = util::sanitize_utf8(s, util::InvalidUtf8::replacement_character);
  EXPECT_TRUE(util::is_valid_utf8(fixed)) << hex(s);
  EXPECT_EQ(fixed.substr(0, 3), "\xEF\xBF\xBD") << hex(s);
}

TEST(Utf8, Kuhn1_CorrectText) {
  const std::string kosme = "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5";  // "κόσμε"
  EXPECT_TRUE(util::is_valid_utf8(kosme));
  EXPECT_EQ(util::utf8_length(kosme), 5u);
  const std::vector<char32_t> expected = {0x3BA, 0x1F79, 0x3C3, 0x3BC, 0x3B5};
  std::vector<char32_t> decoded;
  for (std::size_t i = 0; i < kosme.size();) {
    const auto cp = util::decode_utf8(std::string_view(kosme).substr(i));
    ASSERT_TRUE(cp.has_value()) << i;
    decoded.push_back(cp->value);
    i += cp->length;
  }
  EXPECT_EQ(decoded, expected);
  EXPECT_TRUE(util::is_valid_utf8(""));
  EXPECT_FALSE(util::decode_utf8("").has_value());
  EXPECT_EQ(util::utf8_length(""), 0u);
}

TEST(Utf8, Kuhn2_1_FirstCodePointOfEachLength) {
  expect_code_point(std::string_view("\0", 1), 0x0);  // NUL is a code point; callers refuse it
  expect_code_point("\xC2\x80", 0x80);
  expect_code_point("\xE0\xA0\x80", 0x800);
  expect_code_point("\xF0\x90\x80\x80", 0x10000);
  expect_each_byte_invalid("\xF8\x88\x80\x80\x80");      // U+200000, 5 bytes
  expect_each_byte_invalid("\xFC\x84\x80\x80\x80\x80");  // U+4000000, 6 bytes
}

TEST(Utf8, Kuhn2_2_LastCodePointOfEachLength) {
  expect_code_point("\x7F", 0x7F);
  expect_code_point("\xDF\xBF", 0x7FF);
  expect_code_point("\xEF\xBF\xBF", 0xFFFF);
  expect_each_byte_invalid("\xF7\xBF\xBF\xBF");          // U+1FFFFF
  expect_each_byte_invalid("\xFB\xBF\xBF\xBF\xBF");      // U+3FFFFFF
  expect_each_byte_invalid("\xFD\xBF\xBF\xBF\xBF\xBF");  // U+7FFFFFFF
}

TEST(Utf8, Kuhn2_3_OtherBoundaries) {
  expect_code_point("\xED\x9F\xBF", 0xD7FF);  // just below the surrogates
  expect_code_point("\xEE\x80\x80", 0xE000);  // just above them
  expect_code_point("\xEF\xBF\xBD", 0xFFFD);
  expect_code_point("\xF4\x8F\xBF\xBF", 0x10FFFF);
  expect_each_byte_invalid("\xF4\x90\x80\x80");  // U+110000: past the last code point
}

TEST(Utf8, Kuhn3_1_UnexpectedContinuationBytes) {
  for (int b = 0x80; b <= 0xBF; ++b) expect_each_byte_invalid(std::string(1, static_cast<char>(b)));
  expect_each_byte_invalid("\x80\xBF");
  expect_each_byte_invalid("\x80\xBF\x80");
  expect_each_byte_invalid("\x80\xBF\x80\xBF");
  expect_each_byte_invalid("\x80\xBF\x80\xBF\x80\xBF\x80");
  // After a complete sequence, one more continuation byte is stray.
  EXPECT_EQ(util::first_invalid_utf8("\xC3\xA9\xA9"), 2u);
  EXPECT_EQ(util::sanitize_utf8("\xC3\xA9\xA9", util::InvalidUtf8::question_mark), "\xC3\xA9?");
}

TEST(Utf8, Kuhn3_2_LonelyStartBytesFollowedByASpace) {
  for (int b = 0xC0; b <= 0xFD; ++b) {
    const std::string s = {static_cast<char>(b), ' '};
    EXPECT_FALSE(util::decode_utf8(s).has_value()) << hex(s);
    EXPECT_EQ(util::first_invalid_utf8(s), 0u) << hex(s);
    EXPECT_EQ(util::sanitize_utf8(s, util::InvalidUtf8::question_mark), "? ") << hex(s);
    EXPECT_EQ(util::utf8_length(s), 2u) << hex(s);
  }
}

TEST(Utf8, Kuhn3_3_SequencesWithTheLastByteMissing) {
  const std::vector<std::string> cut = {
      // U+0000 in the overlong forms of 2 to 6 bytes, cut short
      "\xC0", "\xE0\x80", "\xF0\x80\x80", "\xF8\x80\x80\x80", "\xFC\x80\x80\x80\x80",
      // U+07FF, U+FFFF, U+1FFFFF, U+3FFFFFF, U+7FFFFFFF cut short
      "\xDF", "\xEF\xBF", "\xF7\xBF\xBF", "\xFB\xBF\xBF\xBF", "\xFD\xBF\xBF\xBF\xBF",
      // well-formed sequences cut short
      "\xC2", "\xE0\xA0", "\xE2\x82", "\xF0\x90\x80", "\xF4\x8F\xBF"};
  for (const auto& s : cut) {
    expect_rejected(s);
    // Cut by the end of the input or by the next character: both are errors, and the next
    // character survives.
    const std::string then_ascii = std::string(s).append("A");
    EXPECT_EQ(util::first_invalid_utf8(then_ascii), 0u) << hex(s);
    const std::string fixed = util::sanitize_utf8(then_ascii, util::InvalidUtf8::question_mark);
    EXPECT_EQ(fixed, std::string(s.size(), '?').append("A")) << hex(s);
  }
  // A valid sequence cut short: its bytes one replacement each, not fewer.
  EXPECT_EQ(util::sanitize_utf8("\xF0\x9F\x98", util::InvalidUtf8::replacement_character),
            "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(util::utf8_length("\xF0\x9F\x98"), 3u);
}

TEST(Utf8, Kuhn3_4_ConcatenatedIncompleteSequences) {
  const std::string all =
      "\xC0\xE0\x80\xF0\x80\x80\xF8\x80\x80\x80\xFC\x80\x80\x80\x80"
      "\xDF\xEF\xBF\xF7\xBF\xBF\xFB\xBF\xBF\xBF\xFD\xBF\xBF\xBF\xBF";
  ASSERT_EQ(all.size(), 30u);
  expect_each_byte_invalid(all);
}

TEST(Utf8, Kuhn3_5_ImpossibleBytes) {
  expect_each_byte_invalid("\xFE");
  expect_each_byte_invalid("\xFF");
  expect_each_byte_invalid("\xFE\xFE\xFF\xFF");
}

TEST(Utf8, Kuhn4_1_OverlongSlash) {
  expect_each_byte_invalid("\xC0\xAF");
  expect_each_byte_invalid("\xE0\x80\xAF");
  expect_each_byte_invalid("\xF0\x80\x80\xAF");
  expect_each_byte_invalid("\xF8\x80\x80\x80\xAF");
  expect_each_byte_invalid("\xFC\x80\x80\x80\x80\xAF");
  for (std::size_t length = 2; length <= 6; ++length) EXPECT_EQ(encode('/', length).size(), length);
}

TEST(Utf8, Kuhn4_2_MaximalOverlongForms) {
  expect_each_byte_invalid("\xC1\xBF");                  // U+007F
  expect_each_byte_invalid("\xE0\x9F\xBF");              // U+07FF
  expect_each_byte_invalid("\xF0\x8F\xBF\xBF");          // U+FFFF
  expect_each_byte_invalid("\xF8\x87\xBF\xBF\xBF");      // U+1FFFFF
  expect_each_byte_invalid("\xFC\x83\xBF\xBF\xBF\xBF");  // U+3FFFFFF
}

TEST(Utf8, Kuhn4_3_OverlongNul) {
  expect_each_byte_invalid("\xC0\x80");
  expect_each_byte_invalid("\xE0\x80\x80");
  expect_each_byte_invalid("\xF0\x80\x80\x80");
  expect_each_byte_invalid("\xF8\x80\x80\x80\x80");
  expect_each_byte_invalid("\xFC\x80\x80\x80\x80\x80");
}

TEST(Utf8, OverlongFormsOfEveryCodePointAreRejected) {
  // Every code point below U+10000 in every longer form (1- to 4-byte forms).
  for (char32_t v = 0; v < 0x10000; ++v) {
    for (std::size_t length = shortest_length(v) + 1; length <= 4; ++length) {
      const std::string s = encode(v, length);
      ASSERT_FALSE(util::decode_utf8(s).has_value()) << hex(s);
      ASSERT_EQ(util::first_invalid_utf8(s), 0u) << hex(s);
    }
  }
}

TEST(Utf8, Kuhn5_1_SingleSurrogates) {
  for (const char* s : {"\xED\xA0\x80", "\xED\xAD\xBF", "\xED\xAE\x80", "\xED\xAF\xBF",
                        "\xED\xB0\x80", "\xED\xBE\x80", "\xED\xBF\xBF"})
    expect_each_byte_invalid(s);
  for (char32_t v = 0xD800; v <= 0xDFFF; ++v) ASSERT_FALSE(util::decode_utf8(encode(v)));
}

TEST(Utf8, Kuhn5_2_PairedSurrogates) {
  // CESU-8 / "modified UTF-8": a UTF-16 pair encoded as two 3-byte sequences is not UTF-8.
  for (const char* s :
       {"\xED\xA0\x80\xED\xB0\x80", "\xED\xA0\x80\xED\xBF\xBF", "\xED\xAD\xBF\xED\xB0\x80",
        "\xED\xAD\xBF\xED\xBF\xBF", "\xED\xAE\x80\xED\xB0\x80", "\xED\xAE\x80\xED\xBF\xBF",
        "\xED\xAF\xBF\xED\xB0\x80", "\xED\xAF\xBF\xED\xBF\xBF"})
    expect_each_byte_invalid(s);
}

TEST(Utf8, Kuhn5_3_NoncharactersAreValid) {
  // Unicode 6.0 Corrigendum #9: noncharacters are well-formed scalar values, valid in UTF-8.
  expect_code_point("\xEF\xBF\xBE", 0xFFFE);
  expect_code_point("\xEF\xBF\xBF", 0xFFFF);
  expect_code_point("\xEF\xB7\x90", 0xFDD0);
  expect_code_point("\xEF\xB7\xAF", 0xFDEF);
  expect_code_point("\xF0\x9F\xBF\xBE", 0x1FFFE);
  expect_code_point("\xF4\x8F\xBF\xBE", 0x10FFFE);
}

TEST(Utf8, EveryScalarValueRoundTrips) {
  for (char32_t v = 0; v <= 0x10FFFF; ++v) {
    if (v >= 0xD800 && v <= 0xDFFF) continue;
    const std::string s = encode(v);
    const auto cp = util::decode_utf8(s);
    ASSERT_TRUE(cp.has_value()) << std::hex << static_cast<unsigned long>(v);
    ASSERT_EQ(cp->value, v);
    ASSERT_EQ(cp->length, s.size());
  }
}

TEST(Utf8, EveryShortInputIsAcceptedExactlyWhenItIsTheEncodingOfAScalarValue) {
  // All inputs of one and two bytes, of three with a lead byte of E0..FF, of four with a lead
  // byte of F0..F4 and a last byte at the edges of the continuation range: a decode succeeds
  // only on the shortest encoding of a scalar value.
  std::size_t accepted = 0;
  const auto check = [&](const std::string& s) {
    const auto cp = util::decode_utf8(s);
    if (!cp) return;
    ++accepted;
    ASSERT_FALSE(cp->value >= 0xD800 && cp->value <= 0xDFFF) << hex(s);
    ASSERT_LE(cp->value, 0x10FFFFu) << hex(s);
    ASSERT_EQ(encode(cp->value), s.substr(0, cp->length)) << hex(s);
  };
  for (int a = 0; a < 256; ++a) {
    const std::string one(1, static_cast<char>(a));
    check(one);
    for (int b = 0; b < 256; ++b) {
      const std::string two = one + static_cast<char>(b);
      check(two);
      if (a < 0xE0) continue;
      for (int c = 0; c < 256; ++c) {
        const std::string three = two + static_cast<char>(c);
        check(three);
        if (a < 0xF0 || a > 0xF4) continue;
        for (int d : {0x00, 0x7F, 0x80, 0xBF, 0xC0, 0xFF}) check(three + static_cast<char>(d));
      }
    }
  }
  EXPECT_GT(accepted, 0u);
}

TEST(Utf8, FirstInvalidNamesTheOffsetAfterValidText) {
  EXPECT_EQ(util::first_invalid_utf8("caf\xC3\xA9"), std::nullopt);
  EXPECT_EQ(util::first_invalid_utf8("caf\xC3\xA9 \xED\xA0\x80"), 6u);
  EXPECT_EQ(util::first_invalid_utf8("\xF0\x9F\x98\x80 \xE0\x80\xAF"), 5u);
}

TEST(Utf8, SanitizeKeepsValidTextAndReplacesEachBadByte) {
  EXPECT_EQ(util::sanitize_utf8("plain", util::InvalidUtf8::question_mark), "plain");
  EXPECT_EQ(util::sanitize_utf8("bad \xff\xfe byte", util::InvalidUtf8::question_mark),
            "bad ?? byte");
  EXPECT_EQ(util::sanitize_utf8("s\xED\xA0\x80!", util::InvalidUtf8::replacement_character),
            "s\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD!");
  EXPECT_EQ(util::sanitize_utf8("\xC3\xA9\xC0\xAF\xC3\xA9", util::InvalidUtf8::question_mark),
            "\xC3\xA9??\xC3\xA9");
}

TEST(Utf8, LengthCountsCodePoints) {
  EXPECT_EQ(util::utf8_length("abc"), 3u);
  EXPECT_EQ(util::utf8_length("\xC3\xA9t\xC3\xA9"), 3u);
  EXPECT_EQ(util::utf8_length("\xF0\x9F\x98\x80"), 1u);
  EXPECT_EQ(util::utf8_length("a\xED\xA0\x80z"), 5u);  // a surrogate is three bad bytes
}

TEST(Utf8, PrefixLengthNeverEndsInsideASequence) {
  const std::string s = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";  // a, é, €, 😀: 1+2+3+4 bytes
  const std::vector<std::size_t> expected = {0, 1, 1, 3, 3, 3, 6, 6, 6, 6, 10, 10};
  for (std::size_t max = 0; max < expected.size(); ++max)
    EXPECT_EQ(util::utf8_prefix_length(s, max), expected[max]) << max;
}

}  // namespace
