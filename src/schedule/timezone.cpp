#include "schedule/timezone.hpp"

#include <algorithm>
#include <vector>

#include <date/tz.h>

#include "util/strings.hpp"

namespace schedule {

const date::time_zone* find_timezone(std::string_view name) {
  if (name.empty() || name.size() > 128) return nullptr;
  try {
    const date::time_zone* zone = date::locate_zone(name);
    // Loads the zone's data now, so a damaged file fails here rather than in later lookups.
    (void)zone->get_info(date::sys_seconds{});
    return zone;
  } catch (...) {
    return nullptr;
  }
}

bool is_valid_timezone(std::string_view name) {
  return find_timezone(name) != nullptr;
}

std::optional<std::string> suggest_timezone(std::string_view name) {
  try {
    const auto& db = date::get_tzdb();
    std::vector<std::string> names;
    names.reserve(db.zones.size());
    for (const auto& zone : db.zones) names.emplace_back(zone.name());
    if (auto exact = std::find_if(names.begin(), names.end(),
                                  [&](const std::string& n) { return util::iequals(n, name); });
        exact != names.end()) {
      return *exact;  // only the case differs
    }
    return util::closest_match(name, names);
  } catch (...) {
    return std::nullopt;
  }
}

}  // namespace schedule
