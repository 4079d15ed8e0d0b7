#include "schedule/scheduler.hpp"

#include <map>
#include <string>
#include <vector>

#include <date/tz.h>
#include <gtest/gtest.h>

#include "util/clock.hpp"

namespace schedule {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;

TimePoint utc(int y, unsigned m, unsigned d, int hh = 0, int mm = 0) {
  return TimePoint(date::sys_days(date::year(y) / date::month(m) / date::day(d)) + hours(hh) +
                   minutes(mm));
}

std::string show_utc(std::optional<TimePoint> t) {
  return t ? date::format("%F %RZ", date::floor<std::chrono::seconds>(*t)) : std::string("none");
}

std::string show_local(TimePoint t, const char* zone) {
  return date::format("%F %R %Z", date::make_zoned(zone, date::floor<std::chrono::seconds>(t)));
}

Spec cron(const char* expr, const char* zone = "UTC", milliseconds jitter = milliseconds(0)) {
  auto spec = Spec::cron(expr, zone, jitter);
  EXPECT_TRUE(spec.ok()) << (spec.ok() ? "" : spec.error());
  return std::move(spec).value();
}

Spec every(milliseconds interval, milliseconds jitter = milliseconds(0)) {
  auto spec = Spec::every(interval, jitter);
  EXPECT_TRUE(spec.ok()) << (spec.ok() ? "" : spec.error());
  return std::move(spec).value();
}

std::vector<std::string> show(const std::vector<Scheduler::Due>& due) {
  std::vector<std::string> out;
  for (const auto& d : due) out.push_back(d.key + "@" + show_utc(d.slot));
  return out;
}

// The daemon loop in fake time: wake at next_due (never later than `until`), run what is due.
std::vector<Scheduler::Due> drive(Scheduler& scheduler, util::FakeClock& clock, TimePoint until) {
  std::vector<Scheduler::Due> all;
  for (int guard = 0; guard < 100000; ++guard) {
    for (auto& due : scheduler.run_due(clock.now())) all.push_back(std::move(due));
    const auto next = scheduler.next_due();
    if (!next || *next > until) break;
    if (*next > clock.now()) clock.set(*next);
  }
  return all;
}

TEST(Scheduler, NewKeyWaitsForItsNextSlot) {
  Scheduler scheduler;
  scheduler.set_entries({Entry{"docs/kb", cron("0 * * * *")}});
  const TimePoint start = utc(2026, 5, 4, 10, 30);
  // Until the first run_due() has seen the key, it asks to be looked at right away.
  ASSERT_TRUE(scheduler.next_due());
  EXPECT_LE(*scheduler.next_due(), start);
  EXPECT_TRUE(scheduler.run_due(start).empty());  // 10:00 was before the key was first seen
  EXPECT_EQ(show_utc(scheduler.next_due()), "2026-05-04 11:00Z");
  EXPECT_EQ(show_utc(scheduler.next_due_for("docs/kb")), "2026-05-04 11:00Z");
  EXPECT_TRUE(scheduler.run_due(utc(2026, 5, 4, 10, 59)).empty());
  EXPECT_EQ(show(scheduler.run_due(utc(2026, 5, 4, 11))),
            (std::vector<std::string>{"docs/kb@2026-05-04 11:00Z"}));
  EXPECT_TRUE(scheduler.run_due(utc(2026, 5, 4, 11)).empty());  // consumed
  EXPECT_EQ(show_utc(scheduler.last_slot("docs/kb")), "2026-05-04 11:00Z");
  EXPECT_EQ(show_utc(scheduler.next_due()), "2026-05-04 12:00Z");
}

TEST(Scheduler, SlotExactlyAtFirstSightIsDue) {
  Scheduler scheduler;
  scheduler.set_entries({Entry{"docs/kb", cron("0 * * * *")}});
  EXPECT_EQ(show(scheduler.run_due(utc(2026, 5, 4, 11))),
            (std::vector<std::string>{"docs/kb@2026-05-04 11:00Z"}));
}

TEST(Scheduler, AFirstSightIsReportedOnceAndAnotherSchedulerContinuesFromIt) {
  Scheduler first;
  first.set_entries({Entry{"docs/kb", cron("0 * * * *")}});
  EXPECT_TRUE(first.run_due(utc(2026, 5, 4, 10, 30)).empty());
  const auto sights = first.take_first_sights();
  ASSERT_EQ(sights.size(), 1u);
  EXPECT_EQ(sights[0].first, "docs/kb");
  EXPECT_EQ(show_utc(sights[0].second), "2026-05-04 10:30Z");
  EXPECT_TRUE(first.run_due(utc(2026, 5, 4, 10, 40)).empty());
  EXPECT_TRUE(first.take_first_sights().empty());

  // A new owner (restart, failover) at 11:20 with the persisted first sight: the 11:00 slot it
  // missed runs once, where a fresh first sight would have skipped it.
  Scheduler second;
  second.set_entries({Entry{"docs/kb", cron("0 * * * *")}});
  second.restore_first_seen("docs/kb", sights[0].second);
  EXPECT_EQ(show(second.run_due(utc(2026, 5, 4, 11, 20))),
            (std::vector<std::string>{"docs/kb@2026-05-04 11:00Z"}));
  EXPECT_TRUE(second.take_first_sights().empty());
  // Once a slot ran, the first sight no longer matters.
  second.restore_first_seen("docs/kb", utc(2026, 5, 4, 11, 50));
  EXPECT_EQ(show_utc(second.next_due()), "2026-05-04 12:00Z");
}

TEST(Scheduler, MissedSlotsRunOnceForTheLatest) {
  Scheduler scheduler;
  scheduler.restore_last_slot("docs/kb", utc(2026, 5, 1, 10));  // 3 days ago
  scheduler.set_entries({Entry{"docs/kb", cron("0 * * * *")}});
  util::FakeClock clock(utc(2026, 5, 4, 10, 20));
  EXPECT_EQ(show_utc(scheduler.next_due()), "2026-05-01 11:00Z");  // overdue
  EXPECT_EQ(show(scheduler.run_due(clock.now())),
            (std::vector<std::string>{"docs/kb@2026-05-04 10:00Z"}));
  EXPECT_TRUE(scheduler.run_due(clock.now()).empty());
  // Then the normal cadence.
  EXPECT_EQ(show(drive(scheduler, clock, utc(2026, 5, 4, 13))),
            (std::vector<std::string>{"docs/kb@2026-05-04 11:00Z", "docs/kb@2026-05-04 12:00Z",
                                      "docs/kb@2026-05-04 13:00Z"}));
}

TEST(Scheduler, RestoreOrderDoesNotMatter) {
  Scheduler before;
  before.restore_last_slot("docs/kb", utc(2026, 5, 1, 10));
  before.set_entries({Entry{"docs/kb", cron("0 * * * *")}});
  Scheduler after;
  after.set_entries({Entry{"docs/kb", cron("0 * * * *")}});
  after.restore_last_slot("docs/kb", utc(2026, 5, 1, 10));
  const TimePoint now = utc(2026, 5, 4, 10, 20);
  EXPECT_EQ(show(before.run_due(now)), show(after.run_due(now)));
  EXPECT_EQ(before.next_due(), after.next_due());
}

TEST(Scheduler, RestartNeitherRerunsNorSkips) {
  const Entry entry{"docs/kb", cron("*/30 * * * *", "UTC", minutes(10))};
  Scheduler first;
  first.set_entries({entry});
  util::FakeClock clock(utc(2026, 5, 4, 9, 5));
  const auto ran = drive(first, clock, utc(2026, 5, 4, 11));
  ASSERT_FALSE(ran.empty());
  const TimePoint persisted = ran.back().slot;

  // Restart right away: the persisted slot does not run again.
  Scheduler second;
  second.restore_last_slot("docs/kb", persisted);
  second.set_entries({entry});
  EXPECT_TRUE(second.run_due(clock.now()).empty());
  EXPECT_EQ(second.next_due(), first.next_due());

  // Restart after being down across one slot: that slot runs once, at start.
  Scheduler third;
  third.restore_last_slot("docs/kb", persisted);
  third.set_entries({entry});
  const TimePoint later = *first.next_due() + minutes(5);
  const auto due = third.run_due(later);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].slot, persisted + minutes(30));
}

TEST(Scheduler, JitterDelaysTheRunNotTheSlot) {
  const auto spec = cron("0 2 * * *", "UTC", minutes(30));
  const auto jitter = spec.jitter_for("docs/kb");
  ASSERT_GT(jitter, milliseconds(0));
  Scheduler scheduler;
  scheduler.set_entries({Entry{"docs/kb", spec}});
  EXPECT_TRUE(scheduler.run_due(utc(2026, 5, 4, 12)).empty());
  const TimePoint slot = utc(2026, 5, 5, 2);
  EXPECT_EQ(scheduler.next_due(), slot + jitter);
  EXPECT_TRUE(scheduler.run_due(slot + jitter - milliseconds(1)).empty());
  const auto due = scheduler.run_due(slot + jitter);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].slot, slot);
}

TEST(Scheduler, JitterSpreadsKeysWithTheSameSchedule) {
  Scheduler scheduler;
  std::vector<Entry> entries;
  for (int i = 0; i < 20; ++i) {
    entries.push_back(Entry{"docs/kb-" + std::to_string(i), cron("0 2 * * *", "UTC", hours(1))});
  }
  scheduler.set_entries(entries);
  scheduler.run_due(utc(2026, 5, 4, 12));
  std::map<TimePoint, int> due_times;
  for (const auto& entry : entries) ++due_times[*scheduler.next_due_for(entry.key)];
  EXPECT_GT(due_times.size(), 15u);
  // Everything still runs exactly once for the 02:00 slot, in due-time order.
  util::FakeClock clock(utc(2026, 5, 4, 12));
  const auto ran = drive(scheduler, clock, utc(2026, 5, 5, 3, 30));
  ASSERT_EQ(ran.size(), 20u);
  for (const auto& due : ran) EXPECT_EQ(due.slot, utc(2026, 5, 5, 2));
}

TEST(Scheduler, RunDueReportsEveryDueKeyOrderedByDueTime) {
  Scheduler scheduler;
  scheduler.set_entries({Entry{"b", cron("0 3 * * *")}, Entry{"a", cron("0 3 * * *")},
                         Entry{"c", cron("0 1 * * *")}, Entry{"d", cron("0 5 * * *")}});
  scheduler.run_due(utc(2026, 5, 4, 12));
  EXPECT_EQ(show_utc(scheduler.next_due()), "2026-05-05 01:00Z");
  EXPECT_EQ(show(scheduler.run_due(utc(2026, 5, 5, 4))),
            (std::vector<std::string>{"c@2026-05-05 01:00Z", "a@2026-05-05 03:00Z",
                                      "b@2026-05-05 03:00Z"}));
  EXPECT_EQ(show_utc(scheduler.next_due()), "2026-05-05 05:00Z");
}

TEST(Scheduler, SuspendedKeysAreNeverDueAndResumeWithoutCatchingUp) {
  Scheduler scheduler;
  scheduler.restore_last_slot("docs/kb", utc(2026, 5, 1, 10));
  scheduler.set_entries({Entry{"docs/kb", cron("0 * * * *"), true}});
  EXPECT_EQ(scheduler.next_due(), std::nullopt);
  EXPECT_EQ(scheduler.next_due_for("docs/kb"), std::nullopt);
  EXPECT_TRUE(scheduler.run_due(utc(2026, 5, 4, 10, 20)).empty());

  scheduler.set_entries({Entry{"docs/kb", cron("0 * * * *"), false}});
  EXPECT_TRUE(scheduler.run_due(utc(2026, 5, 4, 10, 30)).empty());  // no catch-up
  EXPECT_EQ(show_utc(scheduler.next_due_for("docs/kb")), "2026-05-04 11:00Z");
  EXPECT_EQ(show_utc(scheduler.last_slot("docs/kb")), "2026-05-01 10:00Z");
}

TEST(Scheduler, ReloadKeepsStayingKeysAndForgetsLeavingOnes) {
  Scheduler scheduler;
  scheduler.set_entries({Entry{"a", cron("0 * * * *")}, Entry{"b", cron("0 * * * *")}});
  scheduler.run_due(utc(2026, 5, 4, 10, 30));
  EXPECT_EQ(scheduler.run_due(utc(2026, 5, 4, 11)).size(), 2u);

  scheduler.set_entries({Entry{"a", cron("0 * * * *")}, Entry{"c", cron("0 * * * *")}});
  EXPECT_EQ(scheduler.keys(), (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(show_utc(scheduler.last_slot("a")), "2026-05-04 11:00Z");
  EXPECT_EQ(scheduler.last_slot("b"), std::nullopt);
  EXPECT_EQ(scheduler.next_due_for("b"), std::nullopt);
  // "a" missed 12:00 and 13:00 while we were not looking: once, for 13:00. "c" is new: it waits.
  EXPECT_EQ(show(scheduler.run_due(utc(2026, 5, 4, 13, 30))),
            (std::vector<std::string>{"a@2026-05-04 13:00Z"}));
  EXPECT_EQ(show_utc(scheduler.next_due_for("c")), "2026-05-04 14:00Z");
}

TEST(Scheduler, ChangedSpecKeepsTheLastSlot) {
  Scheduler scheduler;
  scheduler.set_entries({Entry{"a", cron("0 2 * * *")}});
  scheduler.run_due(utc(2026, 5, 4, 1));
  EXPECT_EQ(scheduler.run_due(utc(2026, 5, 4, 2)).size(), 1u);
  // Now hourly: the next slot after the last one (02:00) is 03:00.
  scheduler.set_entries({Entry{"a", cron("0 * * * *")}});
  EXPECT_TRUE(scheduler.run_due(utc(2026, 5, 4, 2)).empty());
  EXPECT_EQ(show_utc(scheduler.next_due_for("a")), "2026-05-04 03:00Z");
  // Back to daily at a later hour: nothing runs twice for the same day by accident.
  scheduler.set_entries({Entry{"a", cron("0 2 * * *")}});
  EXPECT_TRUE(scheduler.run_due(utc(2026, 5, 4, 2)).empty());
  EXPECT_EQ(show_utc(scheduler.next_due_for("a")), "2026-05-05 02:00Z");
}

// Issue 13, defect 6: a changed schedule starts afresh; no slot from before the change runs.
TEST(Scheduler, AChangedSpecNeverCatchesUpASlotFromBeforeTheChange) {
  Scheduler scheduler;
  scheduler.set_entries({Entry{"a", cron("0 0 1 1 *")}});
  scheduler.run_due(utc(2026, 1, 1, 0));  // first sight at the January slot: it runs
  scheduler.run_due(utc(2026, 6, 1, 0));
  // In June the schedule becomes "every 1st of the month": May's slot (after the last run) is
  // from before the change and does not run; July's does.
  scheduler.set_entries({Entry{"a", cron("0 0 1 * *")}});
  EXPECT_TRUE(scheduler.run_due(utc(2026, 6, 1, 12)).empty());
  EXPECT_EQ(show_utc(scheduler.next_due_for("a")), "2026-07-01 00:00Z");
}

TEST(Scheduler, DuplicateKeysLastOneWins) {
  Scheduler scheduler;
  scheduler.set_entries({Entry{"a", cron("0 1 * * *")}, Entry{"a", cron("0 2 * * *")}});
  scheduler.run_due(utc(2026, 5, 4, 0));
  EXPECT_EQ(show_utc(scheduler.next_due_for("a")), "2026-05-04 02:00Z");
  EXPECT_EQ(scheduler.keys().size(), 1u);
}

TEST(Scheduler, EveryIsAnchoredAndJittered) {
  const auto spec = every(hours(6), minutes(20));
  const auto jitter = spec.jitter_for("docs/kb");
  Scheduler scheduler;
  scheduler.set_entries({Entry{"docs/kb", spec}});
  util::FakeClock clock(utc(2026, 5, 4, 1, 0));
  const auto ran = drive(scheduler, clock, utc(2026, 5, 5, 1, 0));
  EXPECT_EQ(show(ran),
            (std::vector<std::string>{"docs/kb@2026-05-04 06:00Z", "docs/kb@2026-05-04 12:00Z",
                                      "docs/kb@2026-05-04 18:00Z", "docs/kb@2026-05-05 00:00Z"}));
  EXPECT_EQ(show_utc(scheduler.next_due()), show_utc(utc(2026, 5, 5, 6) + jitter));
}

// A daily 02:30 job in the daemon loop runs exactly once on every local day around DST changes,
// whether the loop wakes at next_due or polls every minute.
TEST(Scheduler, DailyJobRunsOncePerLocalDayAcrossDst) {
  struct Case {
    const char* zone;
    TimePoint from;
  };
  for (const Case& c :
       {Case{"Europe/Berlin", utc(2026, 3, 26)}, Case{"Europe/Berlin", utc(2026, 10, 22)},
        Case{"America/New_York", utc(2026, 3, 5)}, Case{"America/New_York", utc(2026, 10, 29)}}) {
    for (bool poll : {false, true}) {
      Scheduler scheduler;
      scheduler.set_entries({Entry{"docs/kb", cron("30 2 * * *", c.zone, minutes(5))}});
      const TimePoint until = c.from + date::days(7);
      std::vector<Scheduler::Due> ran;
      if (poll) {
        for (TimePoint t = c.from; t <= until; t += minutes(1)) {
          for (auto& due : scheduler.run_due(t)) ran.push_back(due);
        }
      } else {
        util::FakeClock clock(c.from);
        ran = drive(scheduler, clock, until);
      }
      std::map<std::string, int> per_local_day;
      for (const auto& due : ran) ++per_local_day[show_local(due.slot, c.zone).substr(0, 10)];
      EXPECT_EQ(per_local_day.size(), 7u) << c.zone << (poll ? " polling" : "");
      for (const auto& [day, count] : per_local_day) {
        EXPECT_EQ(count, 1) << c.zone << " " << day << (poll ? " polling" : "");
      }
    }
  }
}

TEST(Scheduler, HourlyJobAcrossFallBackRunsOncePerLocalHour) {
  Scheduler scheduler;
  scheduler.set_entries({Entry{"docs/kb", cron("0 * * * *", "Europe/Berlin")}});
  util::FakeClock clock(utc(2026, 10, 24, 21, 30));
  std::vector<std::string> hours_run;
  for (const auto& due : drive(scheduler, clock, utc(2026, 10, 25, 3, 30))) {
    hours_run.push_back(show_local(due.slot, "Europe/Berlin"));
  }
  EXPECT_EQ(hours_run, (std::vector<std::string>{"2026-10-25 00:00 CEST", "2026-10-25 01:00 CEST",
                                                 "2026-10-25 02:00 CEST", "2026-10-25 03:00 CET",
                                                 "2026-10-25 04:00 CET"}));
}

TEST(Scheduler, UnknownKeys) {
  Scheduler scheduler;
  EXPECT_EQ(scheduler.next_due(), std::nullopt);
  EXPECT_EQ(scheduler.next_due_for("nope"), std::nullopt);
  EXPECT_EQ(scheduler.last_slot("nope"), std::nullopt);
  EXPECT_TRUE(scheduler.run_due(utc(2026, 1, 1)).empty());
  // A restored key that the manifest does not list is never due.
  scheduler.restore_last_slot("gone", utc(2025, 1, 1));
  EXPECT_EQ(scheduler.next_due(), std::nullopt);
  EXPECT_TRUE(scheduler.keys().empty());
  EXPECT_TRUE(scheduler.run_due(utc(2026, 1, 1)).empty());
}

TEST(Scheduler, RestoreNeverMovesTheLastSlotBack) {
  Scheduler scheduler;
  scheduler.restore_last_slot("a", utc(2026, 5, 4, 10));
  scheduler.restore_last_slot("a", utc(2026, 5, 4, 8));
  EXPECT_EQ(show_utc(scheduler.last_slot("a")), "2026-05-04 10:00Z");
}

}  // namespace
}  // namespace schedule
