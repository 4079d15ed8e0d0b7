#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace util {

std::string to_lower(std::string_view s);
bool iequals(std::string_view a, std::string_view b);
std::string trim(std::string_view s);
std::vector<std::string> split(std::string_view s, char sep);
bool starts_with(std::string_view s, std::string_view prefix);
std::string join(const std::vector<std::string>& parts, std::string_view sep);

// Edit distance, for "did you mean" suggestions.
std::size_t edit_distance(std::string_view a, std::string_view b);

// The candidate closest to `word` if it is close enough to be a plausible typo.
std::optional<std::string> closest_match(std::string_view word,
                                         const std::vector<std::string>& candidates);

// 64-bit FNV-1a, hex encoded: stable across runs and machines (used for digests and jitter).
std::string fnv1a_hex(std::string_view data);
unsigned long long fnv1a(std::string_view data);

}  // namespace util
