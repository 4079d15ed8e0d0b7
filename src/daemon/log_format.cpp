#include "daemon/log_format.hpp"

#include <algorithm>
#include <cstdio>
#include <memory>

#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>

#include "util/utf8.hpp"

namespace service {

std::string json_escape(std::string_view text) {
  // Invalid UTF-8 first (one U+FFFD per byte), then the JSON escapes, which are all ASCII: the
  // bytes of a multi-byte sequence are copied as they are.
  const std::string valid = util::sanitize_utf8(text, util::InvalidUtf8::replacement_character);
  std::string out;
  out.reserve(valid.size() + 8);
  for (const char ch : valid) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> log_fields(std::string_view m) {
  std::vector<std::pair<std::string, std::string>> out;
  std::size_t i = 0;
  const std::size_t n = m.size();
  while (i < n) {
    while (i < n && m[i] == ' ') ++i;
    std::size_t k = i;
    while (k < n && ((m[k] >= 'a' && m[k] <= 'z') || m[k] == '_')) ++k;
    if (k == i || k >= n || m[k] != '=') {
      // Free text: skip the word (a quoted stretch as a whole).
      bool quoted = false;
      while (i < n && (quoted || m[i] != ' ')) {
        if (m[i] == '"') quoted = !quoted;
        if (m[i] == '\\' && i + 1 < n) ++i;
        ++i;
      }
      continue;
    }
    std::string key(m.substr(i, k - i));
    std::string value;
    i = k + 1;
    if (i < n && m[i] == '"') {
      for (++i; i < n && m[i] != '"'; ++i) {
        if (m[i] == '\\' && i + 1 < n) ++i;
        value += m[i];
      }
      if (i < n) ++i;  // the closing quote
    } else {
      while (i < n && m[i] != ' ') value += m[i++];
      while (!value.empty() && (value.back() == ':' || value.back() == ',')) value.pop_back();
    }
    out.emplace_back(std::move(key), std::move(value));
  }
  return out;
}

int journald_priority(int level) {
  switch (level) {
    case spdlog::level::critical:
      return 2;
    case spdlog::level::err:
      return 3;
    case spdlog::level::warn:
      return 4;
    case spdlog::level::info:
      return 6;
    default:
      return 7;
  }
}

namespace {

bool whole_number(const std::string& v) {
  if (v.empty() || v.size() > 15) return false;
  std::size_t i = v[0] == '-' ? 1 : 0;
  if (i == v.size()) return false;
  for (; i < v.size(); ++i)
    if (v[i] < '0' || v[i] > '9') return false;
  return true;
}

void append(spdlog::memory_buf_t& dest, std::string_view s) {
  dest.append(s.data(), s.data() + s.size());
}

// %* : the escaped message, then its key=value pairs as fields (the pattern ends with it).
class MessageAndFields final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const std::string_view text(msg.payload.data(), msg.payload.size());
    append(dest, json_escape(text));
    append(dest, "\"");
    std::vector<std::string> seen = {"time", "level", "msg", "priority"};
    for (const auto& [key, value] : log_fields(text)) {
      if (std::find(seen.begin(), seen.end(), key) != seen.end()) continue;
      seen.push_back(key);
      append(dest, ",\"");
      append(dest, key);
      append(dest, "\":");
      if (key == "fields" || key == "unstable") {
        append(dest, "[");
        if (value != "-" && !value.empty()) {
          std::size_t start = 0;
          for (;;) {
            const auto comma = value.find(',', start);
            if (start > 0) append(dest, ",");
            append(dest, "\"");
            append(dest, json_escape(value.substr(start, comma - start)));
            append(dest, "\"");
            if (comma == std::string::npos) break;
            start = comma + 1;
          }
        }
        append(dest, "]");
      } else if (whole_number(value)) {
        append(dest, value);
      } else {
        append(dest, "\"");
        append(dest, json_escape(value));
        append(dest, "\"");
      }
    }
    append(dest, "}");
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<MessageAndFields>();
  }
};

// %k : the sd-daemon priority prefix "<N>".
class Priority final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const char prefix[4] = {'<', static_cast<char>('0' + journald_priority(msg.level)), '>', '\0'};
    append(dest, std::string_view(prefix, 3));
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<Priority>();
  }
};

}  // namespace

void use_json_log_format(bool journald) {
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<MessageAndFields>('*').add_flag<Priority>('k').set_pattern(
      journald ? R"(%k{"level":"%l","msg":"%*)"
               : R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","msg":"%*)");
  spdlog::default_logger()->set_formatter(std::move(formatter));
}

void use_text_log_format(bool journald) {
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<Priority>('k').set_pattern(journald ? "%k%l: %v"
                                                          : "%Y-%m-%d %H:%M:%S.%e %^%l%$: %v");
  spdlog::default_logger()->set_formatter(std::move(formatter));
}

}  // namespace service
