#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace date {
class time_zone;
}

namespace schedule {

// Whether `name` is an IANA time zone of the system tz database (/usr/share/zoneinfo): "UTC",
// "Europe/Berlin", links such as "US/Eastern". Case-sensitive, as the database is. Never throws.
bool is_valid_timezone(std::string_view name);

// The zone called `name`, or nullptr when there is none (or the database cannot be read).
// The pointer stays valid for the life of the process. Never throws.
const date::time_zone* find_timezone(std::string_view name);

// The closest known zone name when `name` looks like a typo of one ("Europe/Berln" ->
// "Europe/Berlin"), for "did you mean" messages. Never throws.
std::optional<std::string> suggest_timezone(std::string_view name);

}  // namespace schedule
