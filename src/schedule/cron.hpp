#pragma once

#include <bitset>
#include <optional>
#include <string>
#include <string_view>

#include <date/date.h>

#include "util/result.hpp"

namespace schedule {

// A 5-field cron expression (minute hour day-of-month month day-of-week), evaluated on local
// wall-clock minutes. Time zones and DST are the caller's business (see Spec); this class only
// knows calendars.
class CronExpr {
 public:
  // Parses "m h dom mon dow" with lists (1,5), ranges (1-5), steps (*/15, 1-30/5, and 5/15 meaning
  // 5-max/15), names (JAN-DEC, SUN-SAT, case-insensitive; also in ranges: MON-FRI), Sunday as 0 or
  // 7, and the macros @yearly @annually @monthly @weekly @daily @midnight @hourly.
  // Day rule (Vixie cron): when both day-of-month and day-of-week are restricted (their field does
  // not start with '*'), a day matching EITHER fires; otherwise a day must match both.
  // Fails with a message naming the field and the reason: "hour: 24 is out of range 0-23".
  // An expression that can never fire ("0 0 30 2 *") parses; next_local() then returns nullopt and
  // never_fires() says why.
  static util::Result<CronExpr, std::string> parse(std::string_view text);

  // The first matching local wall-clock minute strictly after `after_local`; std::nullopt if none
  // within 5 years. Jumps by fields: cost is bounded by the number of days scanned, not minutes.
  std::optional<date::local_seconds> next_local(date::local_seconds after_local) const;

  // The last matching local wall-clock minute at or before `at_local`; std::nullopt if none within
  // the 5 years before it.
  std::optional<date::local_seconds> prev_local(date::local_seconds at_local) const;

  // Whether the calendar matches this minute (seconds are ignored).
  bool matches(date::local_seconds t) const;

  // A reason when the expression can never fire ("day-of-month 30 never occurs in February"),
  // std::nullopt when it can.
  std::optional<std::string> never_fires() const;

  // The expression as written (trimmed).
  const std::string& text() const { return m_text; }

  friend bool operator==(const CronExpr& a, const CronExpr& b) { return a.m_text == b.m_text; }

 private:
  CronExpr() = default;
  bool day_matches(unsigned day_of_month, unsigned weekday) const;  // weekday 0 = Sunday
  unsigned first_month() const;
  int next_hour(int from) const;    // first hour >= from in the set, -1 if none
  int next_minute(int from) const;  // first minute >= from in the set, -1 if none
  int prev_hour(int from) const;    // last hour <= from in the set, -1 if none
  int prev_minute(int from) const;  // last minute <= from in the set, -1 if none

  std::string m_text;
  std::bitset<60> m_minutes;
  std::bitset<24> m_hours;
  std::bitset<32> m_days;     // 1..31
  std::bitset<13> m_months;   // 1..12
  std::bitset<7> m_weekdays;  // 0 = Sunday
  bool m_dom_restricted = false;
  bool m_dow_restricted = false;
  bool m_day_of_month_only = false;  // day-of-week cannot veto a day: only m_days matters
  std::string m_dom_text;            // the day-of-month field as written, for never_fires()
};

}  // namespace schedule
