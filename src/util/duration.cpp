#include "util/duration.hpp"

#include <cctype>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>

namespace util {

Result<Millis, std::string> parse_duration(std::string_view text) {
  if (text.empty()) return Err(std::string("empty duration"));
  std::int64_t total = 0;
  std::size_t i = 0;
  const auto bad = [&](const std::string& why) {
    return Err("invalid duration \"" + std::string(text) + "\": " + why +
               " (expected forms like 30s, 5m, 1h30m, 500ms)");
  };
  while (i < text.size()) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) return bad("expected a number");
    std::int64_t number = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
      number = number * 10 + (text[i] - '0');
      if (number > 1'000'000'000'000LL) return bad("too large");
      ++i;
    }
    std::size_t unit_start = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    std::string_view unit = text.substr(unit_start, i - unit_start);
    std::int64_t scale = 0;
    if (unit == "ms")
      scale = 1;
    else if (unit == "s")
      scale = 1000;
    else if (unit == "m")
      scale = 60'000;
    else if (unit == "h")
      scale = 3'600'000;
    else if (unit == "d")
      scale = 86'400'000;
    else if (unit.empty())
      return bad("missing unit");
    else
      return bad("unknown unit \"" + std::string(unit) + "\"");
    total += number * scale;
    if (total > std::numeric_limits<std::int64_t>::max() / 4) return bad("too large");
  }
  return Millis(total);
}

std::string format_duration(Millis d) {
  std::int64_t ms = d.count();
  if (ms == 0) return "0s";
  std::string out;
  if (ms < 0) {
    out = "-";
    ms = -ms;
  }
  struct Unit {
    const char* name;
    std::int64_t size;
  };
  static constexpr Unit units[] = {
      {"d", 86'400'000}, {"h", 3'600'000}, {"m", 60'000}, {"s", 1000}, {"ms", 1}};
  for (const auto& unit : units) {
    if (ms >= unit.size) {
      out += std::to_string(ms / unit.size) + unit.name;
      ms %= unit.size;
    }
  }
  return out;
}

Result<double, std::string> parse_fraction(std::string_view text) {
  std::string s(text);
  bool percent = !s.empty() && s.back() == '%';
  if (percent) s.pop_back();
  try {
    std::size_t used = 0;
    double v = std::stod(s, &used);
    if (used != s.size()) throw std::invalid_argument("trailing");
    if (percent) v /= 100.0;
    if (v < 0.0 || v > 1.0) {
      std::string message = "\"";
      message.append(text).append("\" is not between 0 and 100%");
      return Err(std::move(message));
    }
    return v;
  } catch (const std::exception&) {
    return Err("invalid fraction \"" + std::string(text) + "\" (expected e.g. 10% or 0.1)");
  }
}

}  // namespace util
