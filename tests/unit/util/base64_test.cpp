#include "util/base64.hpp"

#include <gtest/gtest.h>

#include <string>

TEST(Base64, RoundTripsEveryLength) {
  const std::string data = std::string("\0\xff\x10 hello/world", 15);
  for (std::size_t n = 0; n <= data.size(); ++n) {
    auto text = util::base64_encode(data.substr(0, n));
    auto back = util::base64_decode(text);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, data.substr(0, n));
  }
  EXPECT_EQ(util::base64_encode("/p/state"), "L3Avc3RhdGU=");
  EXPECT_FALSE(util::base64_decode("a$b=").ok());
}

TEST(Base64, RefusesWhatIsNotBase64) {
  EXPECT_FALSE(util::base64_decode("a$b=").ok());
  EXPECT_FALSE(util::base64_decode("QQ===").ok());   // three pads
  EXPECT_FALSE(util::base64_decode("QQ==QQ").ok());  // data after padding
  EXPECT_EQ(*util::base64_decode("QUJD"), "ABC");
}
