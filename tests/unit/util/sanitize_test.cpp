#include "util/sanitize.hpp"

#include <gtest/gtest.h>

#include <string>

TEST(SanitizeText, RedactsSecretsCollapsesSpaceAndKeepsUtf8Valid) {
  EXPECT_EQ(util::sanitize_text("token s3cr3t here", "s3cr3t", 100), "token [redacted] here");
  EXPECT_EQ(util::sanitize_text("Authorization: Bearer abc.def", "", 100),
            "Authorization: [redacted] [redacted]");
  EXPECT_EQ(util::sanitize_text("{\"authorization\":\"Bearer xyz\"}", "", 100),
            "{\"authorization\":\"[redacted] [redacted]\"}");
  EXPECT_EQ(util::sanitize_text("Authorization header missing", "", 100),
            "Authorization header missing");
  EXPECT_EQ(util::sanitize_text("a\n\n\tb   c\r\n", "", 100), "a b c");
  // A cut text, its "..." included, is at most max_len bytes (webhook log lines: 300).
  EXPECT_EQ(util::sanitize_text(std::string(400, 'x'), "", 300), std::string(297, 'x') + "...");
  EXPECT_EQ(util::sanitize_text("bad \xff\xfe byte", "", 100), "bad ?? byte");
  const std::string cut = util::sanitize_text("\xc3\xa9\xc3\xa9\xc3\xa9", "", 6 - 1);
  EXPECT_EQ(cut, "\xc3\xa9...");
}
