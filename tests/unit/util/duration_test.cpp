#include "util/duration.hpp"

#include <gtest/gtest.h>

using util::Millis;

TEST(Duration, ParsesEveryUnitAndCombinations) {
  EXPECT_EQ(util::parse_duration("500ms").value(), Millis(500));
  EXPECT_EQ(util::parse_duration("30s").value(), Millis(30'000));
  EXPECT_EQ(util::parse_duration("5m").value(), Millis(300'000));
  EXPECT_EQ(util::parse_duration("1h30m").value(), Millis(5'400'000));
  EXPECT_EQ(util::parse_duration("1d").value(), Millis(86'400'000));
}

TEST(Duration, RejectsGarbageWithAMessage) {
  for (const char* bad : {"", "5", "m", "-5m", "5 m", "5x", "1.5h"}) {
    auto r = util::parse_duration(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.error().find("duration"), std::string::npos) << r.error();
  }
}

TEST(Duration, FormatsShortestExactForm) {
  EXPECT_EQ(util::format_duration(Millis(90'000)), "1m30s");
  EXPECT_EQ(util::format_duration(Millis(0)), "0s");
  EXPECT_EQ(util::format_duration(Millis(3'600'500)), "1h500ms");
}

TEST(Fraction, PercentAndDecimal) {
  EXPECT_DOUBLE_EQ(util::parse_fraction("10%").value(), 0.1);
  EXPECT_DOUBLE_EQ(util::parse_fraction("0.25").value(), 0.25);
  EXPECT_FALSE(util::parse_fraction("150%").ok());
  EXPECT_FALSE(util::parse_fraction("abc").ok());
}
