#include "schedule/spec.hpp"

#include <limits>

#include <date/tz.h>

#include "schedule/timezone.hpp"
#include "util/duration.hpp"
#include "util/strings.hpp"

namespace schedule {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Ticks = TimePoint::duration;

// Bounds on what we accept, so every conversion below stays far from overflow.
constexpr milliseconds k_min_interval = std::chrono::seconds(1);
constexpr milliseconds k_max_interval = std::chrono::hours(24 * 366 * 10);
constexpr milliseconds k_max_jitter = std::chrono::hours(24 * 366);
// At most this many candidate local minutes are tried around a DST transition.
constexpr int k_max_candidates = 100000;

// sys_seconds -> TimePoint, or nullopt when it does not fit the clock's range.
std::optional<TimePoint> to_time_point(date::sys_seconds t) {
  constexpr auto k_limit = std::chrono::duration_cast<seconds>(Ticks::max()).count() - 1;
  const auto count = t.time_since_epoch().count();
  if (count > k_limit || count < -k_limit) return std::nullopt;
  return TimePoint(std::chrono::duration_cast<Ticks>(t.time_since_epoch()));
}

// The instant a local wall-clock minute fires: the unique instant, the first of two
// (fall back), or the end of the gap it falls in (spring forward).
date::sys_seconds fire_instant(const date::time_zone& zone, date::local_seconds local) {
  const date::local_info info = zone.get_info(local);
  if (info.result == date::local_info::nonexistent) return info.first.end;
  return date::sys_seconds(local.time_since_epoch() - info.first.offset);
}

// floor(a / b) for b > 0.
Ticks::rep floor_div(Ticks::rep a, Ticks::rep b) {
  Ticks::rep q = a / b;
  if (a % b != 0 && a < 0) --q;
  return q;
}

}  // namespace

util::Result<Spec, std::string> Spec::cron(std::string_view expr, std::string_view timezone,
                                           milliseconds jitter) {
  if (jitter < milliseconds::zero()) return util::Err(std::string("jitter must not be negative"));
  if (jitter > k_max_jitter) {
    return util::Err("jitter " + util::format_duration(jitter) + " is longer than the maximum " +
                     util::format_duration(k_max_jitter));
  }
  auto parsed = CronExpr::parse(expr);
  if (!parsed) return util::Err(parsed.error());
  if (auto never = parsed->never_fires()) return util::Err(*never);
  const date::time_zone* zone = find_timezone(timezone);
  if (zone == nullptr) {
    std::string message = "unknown time zone \"" + std::string(timezone) + "\"";
    if (auto suggestion = suggest_timezone(timezone)) {
      message += " (did you mean \"" + *suggestion + "\"?)";
    } else {
      message += " (expected an IANA name such as \"UTC\" or \"Europe/Berlin\")";
    }
    return util::Err(std::move(message));
  }
  Spec spec;
  spec.m_kind = Kind::cron;
  spec.m_cron = std::move(parsed).value();
  spec.m_timezone = std::string(timezone);
  spec.m_zone = zone;
  spec.m_jitter = jitter;
  return spec;
}

std::optional<std::string> Spec::jitter_problem() const {
  if (m_jitter <= milliseconds::zero()) return std::nullopt;
  const auto gap = shortest_interval();
  if (!gap || m_jitter < *gap) return std::nullopt;
  if (m_kind == Kind::every)
    return "jitter " + util::format_duration(m_jitter) + " is not shorter than the interval " +
           util::format_duration(*gap);
  return "jitter " + util::format_duration(m_jitter) +
         " is not shorter than the schedule's shortest interval " + util::format_duration(*gap);
}

std::optional<milliseconds> Spec::shortest_interval() const {
  if (m_kind == Kind::every) return m_interval;
  // Slots from a fixed instant (deterministic), far enough for yearly and leap-day schedules
  // and for the DST days of daily ones.
  constexpr int k_max_slots = 3000;
  const TimePoint from{std::chrono::duration_cast<Ticks>(seconds(1'767'225'600))};  // 2026-01-01
  const TimePoint until =
      from + std::chrono::duration_cast<Ticks>(std::chrono::hours(24 * 366 * 9));
  std::optional<milliseconds> shortest;
  std::optional<TimePoint> previous = next_slot(from);
  for (int i = 0; previous && *previous < until && i < k_max_slots; ++i) {
    const auto next = next_slot(*previous);
    if (!next) break;
    const auto gap = std::chrono::duration_cast<milliseconds>(*next - *previous);
    if (!shortest || gap < *shortest) shortest = gap;
    if (*shortest <= std::chrono::minutes(1)) break;  // cron's finest step
    previous = next;
  }
  return shortest;
}

util::Result<Spec, std::string> Spec::every(milliseconds interval, milliseconds jitter) {
  if (interval < k_min_interval) {
    return util::Err("interval " + util::format_duration(interval) + " is shorter than " +
                     util::format_duration(k_min_interval));
  }
  if (interval > k_max_interval) {
    return util::Err("interval " + util::format_duration(interval) + " is longer than " +
                     util::format_duration(k_max_interval));
  }
  if (jitter < milliseconds::zero()) return util::Err(std::string("jitter must not be negative"));
  if (jitter > milliseconds::zero() && jitter >= interval) {
    return util::Err("jitter " + util::format_duration(jitter) +
                     " is not shorter than the interval " + util::format_duration(interval));
  }
  Spec spec;
  spec.m_kind = Kind::every;
  spec.m_interval = interval;
  spec.m_jitter = jitter;
  return spec;
}

std::optional<TimePoint> Spec::next_slot(TimePoint after) const {
  if (m_kind == Kind::cron) return next_cron_slot(after);
  const auto step = std::chrono::duration_cast<Ticks>(m_interval).count();
  const auto k = floor_div(after.time_since_epoch().count(), step);
  if (k >= std::numeric_limits<Ticks::rep>::max() / step - 1) return std::nullopt;
  return TimePoint(Ticks((k + 1) * step));
}

std::optional<TimePoint> Spec::last_slot_at_or_before(TimePoint at, milliseconds horizon) const {
  std::optional<TimePoint> slot;
  if (m_kind == Kind::cron) {
    slot = last_cron_slot(at);
  } else {
    const auto step = std::chrono::duration_cast<Ticks>(m_interval).count();
    const auto k = floor_div(at.time_since_epoch().count(), step);
    if (k <= std::numeric_limits<Ticks::rep>::min() / step + 1) return std::nullopt;
    slot = TimePoint(Ticks(k * step));
  }
  if (!slot || horizon < milliseconds::zero()) return std::nullopt;
  // Compare at - slot (never negative) with the horizon, not at - horizon (which could underflow);
  // a horizon beyond the clock's range is no limit.
  if (horizon >= std::chrono::duration_cast<milliseconds>(Ticks::max() / 2)) return slot;
  if (at - *slot > std::chrono::duration_cast<Ticks>(horizon)) return std::nullopt;
  return slot;
}

std::optional<TimePoint> Spec::next_cron_slot(TimePoint after) const {
  try {
    const auto after_s = date::floor<seconds>(after);
    auto local = m_cron->next_local(m_zone->to_local(after_s));
    for (int i = 0; local && i < k_max_candidates; ++i) {
      const date::sys_seconds fire = fire_instant(*m_zone, *local);
      // Local minutes later than `after`'s own local time can still fire at or before `after`:
      // the first occurrence of a repeated (fall back) hour has passed when `after` is in the
      // second one. Those are done; move on.
      const auto fire_point = to_time_point(fire);
      if (!fire_point) {
        if (fire.time_since_epoch().count() > 0) return std::nullopt;  // beyond the clock's range
      } else if (*fire_point > after) {
        return fire_point;
      }
      local = m_cron->next_local(*local);
    }
  } catch (...) {
    // The tz database failed (unreadable zone file): no slot rather than an escaping exception.
  }
  return std::nullopt;
}

std::optional<TimePoint> Spec::last_cron_slot(TimePoint at) const {
  try {
    const auto at_s = date::floor<seconds>(at);
    const date::sys_info info = m_zone->get_info(at_s);
    // Right after a fall back, local times up to the size of the shift beyond `at`'s local time
    // had their first occurrence before `at`.
    seconds extra{0};
    if (at_s - info.begin < date::days(2)) {
      const date::sys_info before = m_zone->get_info(info.begin - seconds(1));
      if (before.offset > info.offset) extra = before.offset - info.offset;
    }
    auto local = m_cron->prev_local(m_zone->to_local(at_s) + extra);
    for (int i = 0; local && i < k_max_candidates; ++i) {
      const date::sys_seconds fire = fire_instant(*m_zone, *local);
      const auto fire_point = to_time_point(fire);
      if (!fire_point) {
        if (fire.time_since_epoch().count() < 0) return std::nullopt;  // before the clock's range
      } else if (*fire_point <= at) {
        return fire_point;
      }
      local = m_cron->prev_local(*local - std::chrono::minutes(1));
    }
  } catch (...) {
  }
  return std::nullopt;
}

milliseconds Spec::jitter_for(std::string_view key) const {
  if (m_jitter <= milliseconds::zero()) return milliseconds::zero();
  const unsigned long long hash = util::fnv1a(key);
  return milliseconds(
      static_cast<milliseconds::rep>(hash % static_cast<unsigned long long>(m_jitter.count())));
}

std::string Spec::describe() const {
  std::string text = m_kind == Kind::cron ? "cron \"" + m_cron->text() + "\" " + m_timezone
                                          : "every " + util::format_duration(m_interval);
  if (m_jitter > milliseconds::zero()) text += ", jitter " + util::format_duration(m_jitter);
  return text;
}

}  // namespace schedule
