#include "daemon/log_format.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <sstream>
#include <vector>

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
  ASSERT_EQ(line.substr(0, 3), "<4>");  // journald: the priority, then the JSON object
  auto second = nlohmann::json::parse(line.substr(3));
  EXPECT_EQ(second["msg"], "second");
  EXPECT_FALSE(second.contains("time"));  // journald stamps lines itself
}

}  // namespace

namespace {

// Issue 18, item 2: what a log pipeline reads. Every line under journald starts with its
// sd-daemon priority; JSON lines carry the key=value pairs of action lines as fields.
std::vector<std::string> log_lines(bool json, bool journald, const std::function<void()>& emit) {
  auto previous = spdlog::default_logger();
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  auto logger = std::make_shared<spdlog::logger>("test", sink);
  logger->set_level(spdlog::level::trace);
  spdlog::set_default_logger(logger);
  if (json)
    service::use_json_log_format(journald);
  else
    service::use_text_log_format(journald);
  emit();
  spdlog::set_default_logger(previous);
  std::vector<std::string> lines;
  std::istringstream in(out.str());
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

void every_level() {
  spdlog::trace("t");
  spdlog::debug("d");
  spdlog::info("i");
  spdlog::warn("w");
  spdlog::error("e");
  spdlog::critical("c");
}

TEST(LogFormat, JsonEscapeReplacesEveryByteThatIsNotUtf8) {
  // The escaper's own decoder once took a lead byte of F5..FF for a 3-byte sequence and copied
  // it with two continuation bytes: invalid UTF-8 in a JSON line.
  const auto fffd = [](std::size_t n) {
    std::string out;
    for (std::size_t i = 0; i < n; ++i) out.append("\xEF\xBF\xBD");
    return out;
  };
  for (const std::string bad : {"\xF5\x80\x80", "\xF7\xBF\xBF", "\xFF\x80\x80", "\xFE\xBF\xBF"}) {
    EXPECT_EQ(service::json_escape(std::string("a").append(bad).append("z")),
              std::string("a").append(fffd(3)).append("z"));
  }
  EXPECT_EQ(service::json_escape("\xF8\x88\x80\x80\x80"), fffd(5));
  // Surrogates, overlong forms and cut sequences: one U+FFFD per byte, as before.
  EXPECT_EQ(service::json_escape("\xED\xA0\x80"), fffd(3));
  EXPECT_EQ(service::json_escape("\xC0\xAF\xE0\x80\xAF"), fffd(5));
  EXPECT_EQ(service::json_escape("\xE2\x82\""), fffd(2).append("\\\""));
  // Valid text, noncharacters included, is copied.
  EXPECT_EQ(service::json_escape("\xF4\x8F\xBF\xBF \xEF\xBF\xBF"), "\xF4\x8F\xBF\xBF \xEF\xBF\xBF");
  // And a line logged with such bytes is JSON.
  const auto lines = log_lines(true, false, [] { spdlog::warn("bad {}", "\xF5\x80\x80"); });
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(lines[0])["msg"], std::string("bad ").append(fffd(3)));
}

TEST(LogFormat, UnderJournaldEveryLineStartsWithItsPriority) {
  const std::vector<std::string> prefixes = {"<7>", "<7>", "<6>", "<4>", "<3>", "<2>"};
  for (bool json : {false, true}) {
    const auto lines = log_lines(json, true, every_level);
    ASSERT_EQ(lines.size(), prefixes.size());
    for (std::size_t i = 0; i < lines.size(); ++i) {
      EXPECT_EQ(lines[i].substr(0, 3), prefixes[i]) << lines[i];
      if (json) {
        EXPECT_TRUE(nlohmann::json::accept(lines[i].substr(3))) << lines[i];
      }
    }
  }
  for (bool json : {false, true}) {
    for (const auto& line : log_lines(json, false, every_level))
      EXPECT_NE(line[0], '<') << "no priority prefix outside journald: " << line;
  }
}

TEST(LogFormat, JsonLinesCarryTheActionFieldsAsFields) {
  const auto lines = log_lines(true, false, [] {
    spdlog::info("action={} namespace={} instance={} fields={} result={}", "update", "default",
                 "docs", "max_num_results,source_params.web_crawler", "done");
    spdlog::warn("action=create namespace=team instance=kb fields=- result=failed error=\"{}\"",
                 "HTTP 500: \\\"boom\\\" msg=x");
    spdlog::info("sync outcome=succeeded instance=default/docs job=abc duration=1.5s errors=3");
    spdlog::info("sync instance=default/docs: state not saved: disk full");
    spdlog::info("level=fake msg=fake plain words");
  });
  ASSERT_EQ(lines.size(), 5u);
  const auto a = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(a["action"], "update");
  EXPECT_EQ(a["namespace"], "default");
  EXPECT_EQ(a["instance"], "docs");
  EXPECT_EQ(a["fields"], (nlohmann::json{"max_num_results", "source_params.web_crawler"}));
  EXPECT_EQ(a["result"], "done");
  EXPECT_EQ(a["level"], "info");
  const auto b = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(b["fields"], nlohmann::json::array());
  EXPECT_EQ(b["result"], "failed");
  EXPECT_EQ(b["error"], "HTTP 500: \"boom\" msg=x");
  const auto c = nlohmann::json::parse(lines[2]);
  EXPECT_EQ(c["outcome"], "succeeded");
  EXPECT_EQ(c["instance"], "default/docs");
  EXPECT_EQ(c["errors"], 3);
  EXPECT_EQ(c["duration"], "1.5s");
  const auto d = nlohmann::json::parse(lines[3]);
  EXPECT_EQ(d["instance"], "default/docs") << "a trailing ':' is punctuation";
  const auto e = nlohmann::json::parse(lines[4]);
  EXPECT_EQ(e["level"], "info") << "a pair never overrides the line's own keys";
  EXPECT_EQ(e["msg"], "level=fake msg=fake plain words");
}

}  // namespace
