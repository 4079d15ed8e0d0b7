#include "schedule/cron.hpp"

#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace schedule {
namespace {

using std::chrono::hours;
using std::chrono::minutes;

date::local_seconds local(int y, unsigned m, unsigned d, int hh = 0, int mm = 0) {
  return date::local_days(date::year(y) / date::month(m) / date::day(d)) + hours(hh) + minutes(mm);
}

std::string show(std::optional<date::local_seconds> t) {
  return t ? date::format("%F %a %R", *t) : std::string("none");
}

CronExpr parse_ok(std::string_view text) {
  auto parsed = CronExpr::parse(text);
  EXPECT_TRUE(parsed.ok()) << text << ": " << (parsed.ok() ? "" : parsed.error());
  if (!parsed.ok()) return CronExpr::parse("* * * * *").value();
  return std::move(parsed).value();
}

std::string parse_error(std::string_view text) {
  auto parsed = CronExpr::parse(text);
  EXPECT_FALSE(parsed.ok()) << text << " parsed but should not";
  return parsed.ok() ? std::string() : parsed.error();
}

// The first `n` firings strictly after `after`, formatted.
std::vector<std::string> firings(const CronExpr& expr, date::local_seconds after, int n) {
  std::vector<std::string> out;
  std::optional<date::local_seconds> t = after;
  for (int i = 0; i < n; ++i) {
    t = expr.next_local(*t);
    out.push_back(show(t));
    if (!t) break;
  }
  return out;
}

TEST(CronExpr, EveryFifteenMinutes) {
  const auto expr = parse_ok("*/15 * * * *");
  EXPECT_EQ(firings(expr, local(2026, 5, 4, 10, 7), 4),
            (std::vector<std::string>{"2026-05-04 Mon 10:15", "2026-05-04 Mon 10:30",
                                      "2026-05-04 Mon 10:45", "2026-05-04 Mon 11:00"}));
}

TEST(CronExpr, NextIsStrictlyAfterAndIgnoresSeconds) {
  const auto expr = parse_ok("*/15 * * * *");
  EXPECT_EQ(show(expr.next_local(local(2026, 5, 4, 10, 15))), "2026-05-04 Mon 10:30");
  EXPECT_EQ(show(expr.next_local(local(2026, 5, 4, 10, 14) + std::chrono::seconds(59))),
            "2026-05-04 Mon 10:15");
}

TEST(CronExpr, RangeWithStep) {
  const auto expr = parse_ok("1-30/10 8-10 * * *");
  EXPECT_EQ(firings(expr, local(2026, 5, 4, 9, 30), 5),
            (std::vector<std::string>{"2026-05-04 Mon 10:01", "2026-05-04 Mon 10:11",
                                      "2026-05-04 Mon 10:21", "2026-05-05 Tue 08:01",
                                      "2026-05-05 Tue 08:11"}));
}

TEST(CronExpr, ValueWithStepRunsToTheEndOfTheField) {
  const auto expr = parse_ok("50/5 * * * *");  // 50,55
  EXPECT_EQ(firings(expr, local(2026, 5, 4, 9, 0), 3),
            (std::vector<std::string>{"2026-05-04 Mon 09:50", "2026-05-04 Mon 09:55",
                                      "2026-05-04 Mon 10:50"}));
}

TEST(CronExpr, Lists) {
  const auto expr = parse_ok("0,30 9,17 * * *");
  EXPECT_EQ(firings(expr, local(2026, 5, 4, 9, 10), 4),
            (std::vector<std::string>{"2026-05-04 Mon 09:30", "2026-05-04 Mon 17:00",
                                      "2026-05-04 Mon 17:30", "2026-05-05 Tue 09:00"}));
}

TEST(CronExpr, MonthAndDayNamesAnyCase) {
  const auto expr = parse_ok("0 6 * jan,Jul MON-fri");
  // Friday 30 January, then Saturday 31st is skipped, then February-June, then Wednesday 1 July.
  EXPECT_EQ(firings(expr, local(2026, 1, 29, 12), 3),
            (std::vector<std::string>{"2026-01-30 Fri 06:00", "2026-07-01 Wed 06:00",
                                      "2026-07-02 Thu 06:00"}));
}

TEST(CronExpr, SundayIsZeroAndSeven) {
  for (const char* text : {"0 0 * * 0", "0 0 * * 7", "0 0 * * SUN", "0 0 * * sun"}) {
    const auto expr = parse_ok(text);
    EXPECT_EQ(firings(expr, local(2026, 5, 4), 2),
              (std::vector<std::string>{"2026-05-10 Sun 00:00", "2026-05-17 Sun 00:00"}))
        << text;
  }
  const auto weekend = parse_ok("0 0 * * 6-7");  // Saturday and Sunday
  EXPECT_EQ(firings(weekend, local(2026, 5, 4), 3),
            (std::vector<std::string>{"2026-05-09 Sat 00:00", "2026-05-10 Sun 00:00",
                                      "2026-05-16 Sat 00:00"}));
}

TEST(CronExpr, DayOfMonthOrDayOfWeekWhenBothRestricted) {
  // The 13th OR any Friday (Vixie cron), not "Friday the 13th".
  const auto expr = parse_ok("0 0 13 * FRI");
  EXPECT_EQ(firings(expr, local(2026, 4, 1), 4),
            (std::vector<std::string>{"2026-04-03 Fri 00:00", "2026-04-10 Fri 00:00",
                                      "2026-04-13 Mon 00:00", "2026-04-17 Fri 00:00"}));
}

TEST(CronExpr, StarredDayFieldMeansBothMustMatch) {
  // dom "*" with a restricted dow: only the weekday counts.
  EXPECT_EQ(firings(parse_ok("0 0 * * 1"), local(2026, 4, 1), 2),
            (std::vector<std::string>{"2026-04-06 Mon 00:00", "2026-04-13 Mon 00:00"}));
  // A day field starting with '*' counts as unrestricted (Vixie): "*/2" AND Monday = odd Mondays.
  EXPECT_EQ(firings(parse_ok("0 0 */2 * 1"), local(2026, 4, 1), 2),
            (std::vector<std::string>{"2026-04-13 Mon 00:00", "2026-04-27 Mon 00:00"}));
}

TEST(CronExpr, ThirtyFirstOnlyInLongMonths) {
  const auto expr = parse_ok("0 0 31 * *");
  EXPECT_EQ(firings(expr, local(2026, 1, 31), 4),
            (std::vector<std::string>{"2026-03-31 Tue 00:00", "2026-05-31 Sun 00:00",
                                      "2026-07-31 Fri 00:00", "2026-08-31 Mon 00:00"}));
}

TEST(CronExpr, LastDaysAcrossYearEnd) {
  const auto expr = parse_ok("59 23 30,31 12 *");
  EXPECT_EQ(firings(expr, local(2026, 12, 31, 23, 59), 2),
            (std::vector<std::string>{"2027-12-30 Thu 23:59", "2027-12-31 Fri 23:59"}));
}

TEST(CronExpr, LeapDay) {
  const auto expr = parse_ok("0 0 29 2 *");
  EXPECT_EQ(firings(expr, local(2026, 1, 1), 2),
            (std::vector<std::string>{"2028-02-29 Tue 00:00", "2032-02-29 Sun 00:00"}));
  EXPECT_FALSE(expr.never_fires());
}

TEST(CronExpr, ImpossibleDateNeverFires) {
  const auto expr = parse_ok("0 0 30 2 *");
  EXPECT_EQ(expr.next_local(local(2026, 1, 1)), std::nullopt);
  EXPECT_EQ(expr.prev_local(local(2026, 1, 1)), std::nullopt);
  ASSERT_TRUE(expr.never_fires());
  EXPECT_EQ(*expr.never_fires(), "never fires: day-of-month '30' does not occur in February");
  const auto april = parse_ok("0 0 31 4,6 *");
  ASSERT_TRUE(april.never_fires());
  EXPECT_EQ(*april.never_fires(), "never fires: day-of-month '31' does not occur in April, June");
  // With day-of-week also restricted, the OR rule makes it fire on Mondays of February.
  EXPECT_FALSE(parse_ok("0 0 30 2 1").never_fires());
}

TEST(CronExpr, Macros) {
  const auto after = local(2026, 5, 4, 10, 30);  // a Monday
  EXPECT_EQ(show(parse_ok("@hourly").next_local(after)), "2026-05-04 Mon 11:00");
  EXPECT_EQ(show(parse_ok("@daily").next_local(after)), "2026-05-05 Tue 00:00");
  EXPECT_EQ(show(parse_ok("@midnight").next_local(after)), "2026-05-05 Tue 00:00");
  EXPECT_EQ(show(parse_ok("@weekly").next_local(after)), "2026-05-10 Sun 00:00");
  EXPECT_EQ(show(parse_ok("@monthly").next_local(after)), "2026-06-01 Mon 00:00");
  EXPECT_EQ(show(parse_ok("@yearly").next_local(after)), "2027-01-01 Fri 00:00");
  EXPECT_EQ(show(parse_ok("@annually").next_local(after)), "2027-01-01 Fri 00:00");
  EXPECT_EQ(show(parse_ok(" @DAILY ").next_local(after)), "2026-05-05 Tue 00:00");
  EXPECT_EQ(parse_ok(" @DAILY ").text(), "@DAILY");
}

TEST(CronExpr, ToleratesExtraWhitespace) {
  const auto expr = parse_ok("  0\t2  * *   * ");
  EXPECT_EQ(expr.text(), "0\t2  * *   *");
  EXPECT_EQ(show(expr.next_local(local(2026, 5, 4))), "2026-05-04 Mon 02:00");
}

TEST(CronExpr, OutOfRangeValuesNameTheField) {
  EXPECT_EQ(parse_error("60 * * * *"), "minute: 60 is out of range 0-59");
  EXPECT_EQ(parse_error("0 24 * * *"), "hour: 24 is out of range 0-23");
  EXPECT_EQ(parse_error("0 0 0 * *"), "day-of-month: 0 is out of range 1-31");
  EXPECT_EQ(parse_error("0 0 32 * *"), "day-of-month: 32 is out of range 1-31");
  EXPECT_EQ(parse_error("0 0 * 0 *"), "month: 0 is out of range 1-12");
  EXPECT_EQ(parse_error("0 0 * 13 *"), "month: 13 is out of range 1-12");
  EXPECT_EQ(parse_error("0 0 * * 8"), "day-of-week: 8 is out of range 0-7");
  EXPECT_EQ(parse_error("0 1-99 * * *"), "hour: 99 is out of range 0-23");
  EXPECT_EQ(parse_error("99999999999999999999 * * * *"),
            "minute: 99999999999999999999 is out of range 0-59");
}

TEST(CronExpr, BadStepsAndRanges) {
  EXPECT_EQ(parse_error("*/0 * * * *"), "minute: step 0 is out of range 1-60");
  EXPECT_EQ(parse_error("0 */25 * * *"), "hour: step 25 is out of range 1-24");
  EXPECT_EQ(parse_error("*/x * * * *"), "minute: step 'x' is not a number");
  EXPECT_EQ(parse_error("*/ * * * *"), "minute: missing step after '/'");
  EXPECT_EQ(parse_error("0 5-3 * * *"),
            "hour: range 5-3 is reversed (the start must not be after "
            "the end)");
  EXPECT_EQ(parse_error("0 0 * * FRI-MON"),
            "day-of-week: range FRI-MON is reversed (the start must not be after the end)");
  EXPECT_EQ(parse_error("0 1- * * *"), "hour: '1-' is not a valid range");
  EXPECT_EQ(parse_error("0 1-2-3 * * *"), "hour: '2-3' is not a number");
  EXPECT_EQ(parse_error("1,,2 * * * *"), "minute: empty item in list '1,,2'");
  EXPECT_EQ(parse_error("1, * * * *"), "minute: empty item in list '1,'");
}

TEST(CronExpr, WrongFieldCountAndGarbage) {
  EXPECT_EQ(parse_error(""), "empty cron expression");
  EXPECT_EQ(parse_error("   "), "empty cron expression");
  EXPECT_EQ(parse_error("* * * *"),
            "expected 5 fields (minute hour day-of-month month day-of-week), got 4");
  EXPECT_EQ(parse_error("0 0 * * * 2026"),
            "expected 5 fields (minute hour day-of-month month day-of-week), got 6");
  EXPECT_EQ(parse_error("hello world"),
            "expected 5 fields (minute hour day-of-month month day-of-week), got 2");
  EXPECT_EQ(parse_error("a * * * *"), "minute: 'a' is not a number");
  EXPECT_EQ(parse_error("0 0 * * 1x"), "day-of-week: '1x' is not a number");
  EXPECT_EQ(parse_error("0 0 * FOO *"), "month: 'FOO' is not a month name (JAN-DEC) or a number");
  EXPECT_EQ(parse_error("0 0 * * MONDAY"),
            "day-of-week: 'MONDAY' is not a day name (SUN-SAT) or a number");
  EXPECT_EQ(parse_error("0 0 JAN * *"), "day-of-month: 'JAN' is not a number");
  EXPECT_EQ(parse_error("-1 * * * *"), "minute: '-1' is not a valid range");
  EXPECT_EQ(parse_error("@reboot"),
            "unknown macro '@reboot' (expected @yearly, @annually, @monthly, @weekly, @daily, "
            "@midnight or @hourly)");
  EXPECT_EQ(parse_error("0 0\n* * *"), "cron expression contains a control or non-ASCII character");
  EXPECT_EQ(parse_error("0 0 * * \xc3\xa9"),
            "cron expression contains a control or non-ASCII character");
}

TEST(CronExpr, PrevLocalIsAtOrBefore) {
  const auto expr = parse_ok("0 2 * * *");
  EXPECT_EQ(show(expr.prev_local(local(2026, 3, 10, 1, 59))), "2026-03-09 Mon 02:00");
  EXPECT_EQ(show(expr.prev_local(local(2026, 3, 10, 2, 0))), "2026-03-10 Tue 02:00");
  EXPECT_EQ(show(parse_ok("0 0 31 * *").prev_local(local(2026, 5, 1))), "2026-03-31 Tue 00:00");
  EXPECT_EQ(show(parse_ok("0 0 29 2 *").prev_local(local(2026, 5, 1))), "2024-02-29 Thu 00:00");
}

// next_local/prev_local against a brute-force minute-by-minute scan.
TEST(CronExpr, AgreesWithBruteForce) {
  const std::vector<std::string> expressions = {
      "*/7 * * * *",   "5,35 */3 * * *", "0 0 13 * 5",    "15 10 * * 1-5",
      "0 12 1,15 * *", "*/20 2-4 * * 0", "0 0 */2 * 1",   "30 23 31 * *",
      "@hourly",       "0-10/5 0 1 * *", "59 23 * * 6,7", "0 0 28-31 * *"};
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> minute_of_window(0, 6 * 366 * 1440);
  const auto base = local(2024, 1, 1);
  for (const auto& text : expressions) {
    const auto expr = parse_ok(text);
    for (int i = 0; i < 12; ++i) {
      const auto start = base + minutes(minute_of_window(rng)) + std::chrono::seconds(i % 2 * 17);
      std::optional<date::local_seconds> expected_next;
      for (auto t = date::floor<minutes>(start) + minutes(1); t < start + date::days(70);
           t += minutes(1)) {
        if (expr.matches(t)) {
          expected_next = t;
          break;
        }
      }
      EXPECT_EQ(show(expr.next_local(start)), show(expected_next))
          << text << " after " << show(start);
      std::optional<date::local_seconds> expected_prev;
      for (auto t = date::floor<minutes>(start); t > start - date::days(70); t -= minutes(1)) {
        if (expr.matches(t)) {
          expected_prev = t;
          break;
        }
      }
      EXPECT_EQ(show(expr.prev_local(start)), show(expected_prev)) << text << " at " << show(start);
    }
  }
}

}  // namespace
}  // namespace schedule
