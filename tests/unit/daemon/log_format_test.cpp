#include "daemon/log_format.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <sstream>

namespace {

TEST(LogFormat, JsonEscapeQuotesBackslashesAndControls) {
  EXPECT_EQ(service::json_escape("a\"b\\c\nd\te\x01"), "a\\\"b\\\\c\\nd\\te\\u0001");
  EXPECT_EQ(service::json_escape("caf\xC3\xA9"), "caf\xC3\xA9");  // valid UTF-8 kept
  EXPECT_EQ(service::json_escape("bad\xFF\xC3"), "bad\xEF\xBF\xBD\xEF\xBF\xBD");  // replaced
}

TEST(LogFormat, EveryLineIsValidJsonWhateverTheMessage) {
  auto previous = spdlog::default_logger();
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  auto logger = std::make_shared<spdlog::logger>("test", sink);
  spdlog::set_default_logger(logger);
  service::use_json_log_format(false);
  spdlog::info("manifest \"a.yaml\":3:5: bad\nvalue \\ {}", "\x7f\xFE");
  service::use_json_log_format(true);
  spdlog::warn("second");
  spdlog::set_default_logger(previous);

  std::istringstream lines(out.str());
  std::string line;
  std::getline(lines, line);
  auto first = nlohmann::json::parse(line);
  EXPECT_EQ(first["level"], "info");
  EXPECT_EQ(first["msg"], "manifest \"a.yaml\":3:5: bad\nvalue \\ \x7f\xEF\xBF\xBD");
  EXPECT_TRUE(first.contains("time"));
  std::getline(lines, line);
  auto second = nlohmann::json::parse(line);
  EXPECT_EQ(second["msg"], "second");
  EXPECT_FALSE(second.contains("time"));  // journald stamps lines itself
}

}  // namespace
