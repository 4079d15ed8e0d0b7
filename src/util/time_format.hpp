#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace util {

// RFC 3339 in UTC with millisecond precision: "2026-11-28T19:20:01.123Z".
std::string format_rfc3339(std::chrono::system_clock::time_point t);

// Parses RFC 3339 / ISO 8601 date-times as the API sends them ("...Z", "+02:00", fractional
// seconds, or none). std::nullopt when the text is not such a time.
std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view text);

}  // namespace util
