#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "util/result.hpp"

namespace util {

using Millis = std::chrono::milliseconds;

// Parses "500ms", "30s", "5m", "2h", "1d", "1h30m" (units may repeat, in any order).
// Fails with a human-readable message on anything else, including negatives and overflow.
Result<Millis, std::string> parse_duration(std::string_view text);

// Formats as the shortest exact form of the units above: 90000ms -> "1m30s", 0 -> "0s".
std::string format_duration(Millis d);

// A fraction written "10%" or "0.1"; between 0 and 1 inclusive.
Result<double, std::string> parse_fraction(std::string_view text);

}  // namespace util
