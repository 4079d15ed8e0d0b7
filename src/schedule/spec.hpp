#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "schedule/cron.hpp"
#include "util/result.hpp"

namespace date {
class time_zone;
}

namespace schedule {

using TimePoint = std::chrono::system_clock::time_point;

// When an instance's sync is due: a cron expression in a time zone, or a fixed interval; plus a
// deterministic jitter. Immutable and cheap to copy; pure (no clock, no I/O).
class Spec {
 public:
  enum class Kind { cron, every };

  // Fails (with a message for the manifest error) on a bad expression, an unknown time zone
  // (with a "did you mean" when close), a negative jitter, or an expression that never fires.
  // (A jitter too long for the schedule is jitter_problem(), checked by the manifest loader.)
  static util::Result<Spec, std::string> cron(std::string_view expr, std::string_view timezone,
                                              std::chrono::milliseconds jitter);
  // Fails on a non-positive interval, a negative jitter, or a jitter not shorter than the
  // interval.
  static util::Result<Spec, std::string> every(std::chrono::milliseconds interval,
                                               std::chrono::milliseconds jitter);

  // The first nominal slot strictly after `after` (no jitter); std::nullopt if none within 5 years.
  // Cron slots are local wall-clock minutes of the time zone:
  // - a local time that does not exist (spring-forward gap) fires once, at the first instant after
  //   the gap (02:30 on a 02:00->03:00 day fires at 03:00; several gap minutes coalesce into one);
  // - a local time that occurs twice (fall back) fires ONCE, at its first occurrence. So an hourly
  //   "0 * * * *" fires once per distinct local wall-clock hour: the repeated 02:00 fires once and
  //   the next run is 03:00 local, two real hours later.
  // Interval slots are anchored at the Unix epoch (t = k * interval): stable across restarts.
  std::optional<TimePoint> next_slot(TimePoint after) const;

  // The latest nominal slot <= `at` (for missed-run detection), searching back at most `horizon`
  // (a slot earlier than at - horizon is not returned).
  std::optional<TimePoint> last_slot_at_or_before(TimePoint at,
                                                  std::chrono::milliseconds horizon) const;

  // Deterministic jitter in [0, jitter) for a key (e.g. "ns/id"), from util::fnv1a of the key:
  // stable across restarts, machines and Spec instances; spread across keys. 0 without jitter.
  std::chrono::milliseconds jitter_for(std::string_view key) const;

  // The shortest time between two consecutive slots: the interval, or for cron the shortest gap
  // over nine years of slots from 2026 (at most 3,000 slots: milliseconds of work, so callers
  // cache it per expression); std::nullopt if it never fires twice.
  std::optional<std::chrono::milliseconds> shortest_interval() const;
  // Why the jitter does not fit the schedule: it must be shorter than shortest_interval(), or a
  // run could pass the next slot. std::nullopt when it fits.
  std::optional<std::string> jitter_problem() const;

  // `cron "0 2 * * *" Europe/Berlin, jitter 5m` / `every 6h` / `every 6h, jitter 10m`.
  std::string describe() const;

  Kind kind() const { return m_kind; }
  std::chrono::milliseconds jitter() const { return m_jitter; }
  // The cron expression (cron specs only).
  const std::optional<CronExpr>& cron_expr() const { return m_cron; }
  // The time zone name (cron specs; "UTC" for interval specs).
  const std::string& timezone() const { return m_timezone; }
  // The interval (interval specs; zero for cron specs).
  std::chrono::milliseconds interval() const { return m_interval; }

  friend bool operator==(const Spec& a, const Spec& b) {
    return a.m_kind == b.m_kind && a.m_cron == b.m_cron && a.m_timezone == b.m_timezone &&
           a.m_interval == b.m_interval && a.m_jitter == b.m_jitter;
  }

 private:
  Spec() = default;
  std::optional<TimePoint> next_cron_slot(TimePoint after) const;
  std::optional<TimePoint> last_cron_slot(TimePoint at) const;

  Kind m_kind = Kind::every;
  std::optional<CronExpr> m_cron;
  std::string m_timezone = "UTC";
  const date::time_zone* m_zone = nullptr;  // owned by the process-wide tz database
  std::chrono::milliseconds m_interval{0};
  std::chrono::milliseconds m_jitter{0};
};

}  // namespace schedule
