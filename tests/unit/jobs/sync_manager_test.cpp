#include "jobs/sync_manager.hpp"

#include <condition_variable>
#include <map>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "manager_fixture.hpp"
#include "support/poll.hpp"
#include "util/time_format.hpp"

namespace jobs_test {
namespace {

constexpr const char* k_addr = "default/docs";

struct ManagerHarness : Harness {
  explicit ManagerHarness(jobs::FollowOptions options = {})
      : Harness(options),
        manager(runner, client, *clock, writer, reporter, jobs::SyncManagerOptions{0}) {}
  // Runs the work (no schedule ticks) until nothing is triggering or followed, on fake time.
  bool wait_idle(std::chrono::milliseconds limit = 48h) {
    const auto until = clock->now() + limit;
    for (int guard = 0; guard < 1'000'000; ++guard) {
      manager.run_due_work();
      if (manager.idle()) return true;
      auto work = manager.next_work();
      if (!work) return manager.idle();
      if (clock->now() + (*work - clock->steady_now()) > until) return false;
      if (*work > clock->steady_now())
        clock->advance(
            std::chrono::duration_cast<std::chrono::milliseconds>(*work - clock->steady_now()));
    }
    return false;
  }
  jobs::SyncManager manager;
};

api::Instance listed(const std::string& ns, const std::string& id, const std::string& activity,
                     bool paused = false) {
  api::Instance i;
  i.ns = ns;
  i.id = id;
  i.status = "ready";
  i.paused = paused;
  i.raw = {{"id", id}, {"last_activity", activity}};
  return i;
}

TEST(SyncManager, TriggersDuringARunAreCoalescedIntoOne) {
  ManagerHarness h;
  h.manager.set_manifest(one_instance(policy()));
  EXPECT_EQ(h.manager.trigger(k_addr, "manual"), jobs::SyncManager::TriggerResult::queued);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(h.manager.trigger(k_addr, "manual"), jobs::SyncManager::TriggerResult::coalesced);
  }
  ASSERT_TRUE(h.wait_idle());
  // One run plus ONE follow-up (it waited out the cooldown), never four.
  EXPECT_EQ(h.sim->jobs(k_addr).size(), 2u);
  const auto* s = h.sync(k_addr);
  ASSERT_NE(s, nullptr);
  ASSERT_EQ(s->history.size(), 2u);
  EXPECT_EQ(s->history[0].outcome, "succeeded");
  EXPECT_EQ(s->history[1].outcome, "succeeded");
}

TEST(SyncManager, OnChangeRunsOnlyWhereTheManifestAsksForIt) {
  ManagerHarness h;
  h.manager.set_manifest(one_instance(policy()));
  EXPECT_EQ(h.manager.trigger(k_addr, "on_change"), jobs::SyncManager::TriggerResult::ignored);
  EXPECT_EQ(h.manager.trigger("default/plain", "on_change"),
            jobs::SyncManager::TriggerResult::ignored);
  EXPECT_EQ(h.manager.trigger("default/unknown", "schedule"),
            jobs::SyncManager::TriggerResult::ignored);
  auto p = policy();
  p.on_change = true;
  h.manager.set_manifest(one_instance(p));
  EXPECT_EQ(h.manager.trigger(k_addr, "on_change"), jobs::SyncManager::TriggerResult::queued);
  ASSERT_TRUE(h.wait_idle());
  ASSERT_NE(h.sync(k_addr), nullptr);
  EXPECT_EQ(h.sync(k_addr)->history.back().trigger, "on_change");
}

TEST(SyncManager, DueSlotsArePersistedAndNotRerunAfterARestart) {
  ManagerHarness h;
  h.manager.set_manifest(one_instance(policy()));
  ASSERT_TRUE(h.manager.next_due().has_value());
  h.manager.tick(t0());  // first sight: waits for the next slot
  const auto slot = t0() + 1h;
  h.manager.tick(slot + 1s);
  ASSERT_TRUE(h.wait_idle());
  ASSERT_NE(h.sync(k_addr), nullptr);
  EXPECT_EQ(h.sync(k_addr)->last_slot, util::format_rfc3339(slot));
  EXPECT_EQ(h.store.saved().sync.at(k_addr).last_slot, util::format_rfc3339(slot));
  EXPECT_EQ(h.sync(k_addr)->history.back().trigger, "schedule");
  const auto jobs_before = h.sim->jobs(k_addr).size();

  // A restart with the saved state: the same slot is not run again; the next one is.
  jobs::SyncManager again(h.runner, h.client, *h.clock, h.writer, h.reporter, {0});
  again.set_manifest(one_instance(policy()));
  again.tick(slot + 2s);
  again.tick(slot + 3s);
  EXPECT_TRUE(again.idle());
  EXPECT_EQ(h.sim->jobs(k_addr).size(), jobs_before);
  ASSERT_TRUE(again.next_due().has_value());
  EXPECT_EQ(*again.next_due(), slot + 1h);
}

TEST(SyncManager, AFirstSightIsPersistedSoTheNextOwnerCatchesUpAMissedSlot) {
  ManagerHarness h;
  h.manager.set_manifest(one_instance(policy()));
  h.manager.tick(t0() + 10min);
  ASSERT_TRUE(h.wait_idle());
  const auto jobs_before = h.sim->jobs(k_addr).size();
  EXPECT_EQ(h.store.saved().sync.at(k_addr).first_seen, util::format_rfc3339(t0() + 10min));
  h.manager.stop(0ms);

  // The next owner starts after the 1h slot passed with nobody to run it: it runs once.
  jobs::SyncManager next(h.runner, h.client, *h.clock, h.writer, h.reporter, {0});
  next.set_manifest(one_instance(policy()));
  h.clock->advance(1h + 10min);
  next.tick(t0() + 1h + 20min);
  drive(*h.clock, next, h.clock->now() + 1h, /*tick=*/false);
  EXPECT_EQ(h.sim->jobs(k_addr).size(), jobs_before + 1);
  const auto saved = h.store.saved().sync.at(k_addr);
  EXPECT_EQ(saved.last_slot, util::format_rfc3339(t0() + 1h));
  EXPECT_TRUE(saved.first_seen.empty());
}

TEST(SyncManager, ASlotWhoseSaveFailsIsNotRun) {
  ManagerHarness h;
  h.manager.set_manifest(one_instance(policy()));
  h.manager.tick(t0());
  ASSERT_TRUE(h.wait_idle());
  const auto before = h.sim->jobs(k_addr).size();
  h.store.set_refuse(true);
  h.manager.tick(t0() + 1h + 1s);
  ASSERT_TRUE(h.wait_idle());
  EXPECT_EQ(h.sim->jobs(k_addr).size(), before);
  // Saves work again: the next slot runs, the unsaved one is not caught up.
  h.store.set_refuse(false);
  h.manager.tick(t0() + 2h + 1s);
  ASSERT_TRUE(h.wait_idle());
  EXPECT_EQ(h.sim->jobs(k_addr).size(), before + 1);
  EXPECT_EQ(h.store.saved().sync.at(k_addr).last_slot, util::format_rfc3339(t0() + 2h));
}

TEST(SyncManager, CloudflareStartedJobsAreObservedOnlyWhenActivityMoves) {
  ManagerHarness h;
  h.manager.set_manifest(one_instance(policy()));
  h.manager.observe_instances({listed("default", "docs", "a1"), listed("default", "plain", "p1"),
                               listed("default", "unmanaged", "u1")});
  h.manager.observe_instances({listed("default", "docs", "a1"), listed("default", "plain", "p1"),
                               listed("default", "unmanaged", "u2")});
  ASSERT_TRUE(h.wait_idle());
  EXPECT_EQ(h.sim->total(), 0u);  // nothing moved on a managed instance: no request

  const std::string cf_job = h.sim->start_schedule_job(k_addr);
  h.manager.observe_instances({listed("default", "docs", "a2"), listed("default", "plain", "p1")});
  ASSERT_TRUE(h.wait_idle());
  EXPECT_EQ(h.sim->count("list_jobs"), 1u);
  const auto* s = h.sync(k_addr);
  ASSERT_NE(s, nullptr);
  ASSERT_EQ(s->history.size(), 1u);
  EXPECT_EQ(s->history[0].job_id, cf_job);
  EXPECT_EQ(s->history[0].trigger, "cloudflare");
  EXPECT_EQ(s->history[0].source, "schedule");
  EXPECT_EQ(s->history[0].outcome, "succeeded");

  // Seen again (activity moved at its end): already recorded, not reported twice.
  h.manager.observe_instances({listed("default", "docs", "a3")});
  ASSERT_TRUE(h.wait_idle());
  EXPECT_EQ(h.sync(k_addr)->history.size(), 1u);
}

// Breaker (issue 13): a Cloudflare-started job that ran between two of our own jobs was never
// reported: the job list (newest first) was read only up to the first known job, our newer one.
TEST(SyncManager, ACloudflareJobBetweenTwoOfOursIsReported) {
  ManagerHarness h;
  h.manager.set_manifest(one_instance(policy()));
  h.manager.observe_instances({listed("default", "docs", "a1")});
  ASSERT_EQ(h.manager.trigger(k_addr, "manual"), jobs::SyncManager::TriggerResult::queued);
  ASSERT_TRUE(h.wait_idle());
  h.clock->advance(std::chrono::minutes(1));
  const std::string cf_job = h.sim->start_schedule_job(k_addr);
  h.clock->advance(std::chrono::minutes(6));  // it ends unseen
  ASSERT_EQ(h.manager.trigger(k_addr, "manual"), jobs::SyncManager::TriggerResult::queued);
  ASSERT_TRUE(h.wait_idle());
  h.manager.observe_instances({listed("default", "docs", "a2")});
  ASSERT_TRUE(h.wait_idle());
  int seen = 0;
  for (const auto& r : h.sync(k_addr)->history) {
    if (r.job_id != cf_job) continue;
    ++seen;
    EXPECT_EQ(r.trigger, "cloudflare");
  }
  EXPECT_EQ(seen, 1) << "the Cloudflare job is recorded once";
  EXPECT_EQ(h.sync(k_addr)->history.size(), 3u);
}

TEST(SyncManager, APausedInstanceWithAScheduleIsFlaggedOnce) {
  ManagerHarness h;
  h.manager.set_manifest(one_instance(policy()));
  h.manager.observe_instances(
      {listed("default", "docs", "a", true), listed("default", "plain", "p", true)});
  h.manager.observe_instances({listed("default", "docs", "a", true)});
  ASSERT_EQ(h.reporter.pauses.size(), 1u);
  EXPECT_EQ(h.reporter.pauses[0], k_addr);
  h.manager.observe_instances({listed("default", "docs", "a", false)});
  h.manager.observe_instances({listed("default", "docs", "a", true)});
  EXPECT_EQ(h.reporter.pauses.size(), 2u);
}

// Issue 13, defect 7: sync.suspend stops every trigger, on_change included.
TEST(SyncManager, ASuspendedScheduleIgnoresOnChange) {
  ManagerHarness h;
  auto p = policy();
  p.on_change = true;
  p.suspend = true;
  h.manager.set_manifest(one_instance(p));
  EXPECT_EQ(h.manager.trigger(k_addr, "on_change"), jobs::SyncManager::TriggerResult::ignored);
  EXPECT_EQ(h.manager.trigger(k_addr, "schedule"), jobs::SyncManager::TriggerResult::ignored);
  EXPECT_EQ(h.sim->count("create_job"), 0u);
}

manifest::SyncSpec yearly(bool suspend) {
  manifest::SyncSpec s;
  s.schedule = "0 0 1 1 *";
  s.suspend = suspend;
  return s;
}

// Issue 13, defect 6: un-suspending never runs a slot from before (in the same process).
TEST(SyncManager, UnsuspendingDoesNotCatchUpAnOldSlot) {
  ManagerHarness h;
  // The January 2026 slot ran; the schedule was suspended from then on.
  h.writer.update([](state::State& s) { s.sync[k_addr].last_slot = "2026-01-01T00:00:00Z"; });
  h.manager.set_manifest(one_instance(yearly(true)));
  h.manager.tick(t0());
  const auto december = util::parse_rfc3339("2027-12-01T00:00:00Z").value();
  h.clock->set(december);
  h.manager.tick(december);
  h.manager.set_manifest(one_instance(yearly(false)));
  h.manager.tick(december);
  ASSERT_TRUE(h.manager.next_due().has_value());
  EXPECT_GE(*h.manager.next_due(), util::parse_rfc3339("2028-01-01T00:00:00Z").value());
  ASSERT_TRUE(h.wait_idle());
  EXPECT_EQ(h.sim->count("create_job"), 0u);
}

// Issue 13, defect 6: ... nor across a restart (a new process, or a new leader).
TEST(SyncManager, UnsuspendingAcrossARestartDoesNotCatchUpAnOldSlot) {
  ManagerHarness h;
  h.writer.update([](state::State& s) { s.sync[k_addr].last_slot = "2026-01-01T00:00:00Z"; });
  h.manager.set_manifest(one_instance(yearly(true)));
  h.manager.tick(t0());
  h.manager.stop(0ms);
  const auto december = util::parse_rfc3339("2027-12-01T00:00:00Z").value();
  h.clock->set(december);
  jobs::SyncManager next(h.runner, h.client, *h.clock, h.writer, h.reporter, {0});
  next.set_manifest(one_instance(yearly(false)));
  next.tick(december);
  ASSERT_TRUE(next.next_due().has_value());
  EXPECT_GE(*next.next_due(), util::parse_rfc3339("2028-01-01T00:00:00Z").value());
  next.run_due_work();
  EXPECT_EQ(h.sim->count("create_job"), 0u);
}

// A restart while the schedule stayed in force still runs a missed slot once.
TEST(SyncManager, ARestartStillCatchesUpASlotMissedWhileDown) {
  ManagerHarness h;
  h.writer.update([](state::State& s) { s.sync[k_addr].last_slot = "2026-01-01T00:00:00Z"; });
  h.manager.set_manifest(one_instance(yearly(false)));
  h.manager.tick(util::parse_rfc3339("2026-06-01T00:00:00Z").value());
  h.manager.stop(0ms);
  jobs::SyncManager next(h.runner, h.client, *h.clock, h.writer, h.reporter, {0});
  next.set_manifest(one_instance(yearly(false)));
  ASSERT_TRUE(next.next_due().has_value());
  EXPECT_EQ(*next.next_due(), util::parse_rfc3339("2027-01-01T00:00:00Z").value());
}

manifest::SyncSpec every_minute(manifest::SyncSpec::Concurrency c) {
  manifest::SyncSpec s;
  s.every = 1min;
  s.concurrency = c;
  return s;
}

std::string slot_of(const std::string& description) {
  const auto at = description.find(" slot ");
  if (at == std::string::npos) return "";
  return description.substr(at + 6);
}

// Issue 13, defect 1: forbid with jobs longer than the interval records one `skipped` per
// overlapped slot and never runs anything off its slot.
TEST(SyncManager, ForbidSkipsEachOverlappedSlotAndNeverRunsOffSlot) {
  ManagerHarness h;
  h.sim->job_duration = 150s;
  h.sim->cooldown = 20s;
  h.manager.set_manifest(one_instance(every_minute(manifest::SyncSpec::Concurrency::forbid)));
  drive(*h.clock, h.manager, t0() + 20min + 1s);
  // Every job started on the slot its description names.
  const auto jobs = h.sim->jobs(k_addr);
  const auto descriptions = h.sim->descriptions(k_addr);
  ASSERT_GE(jobs.size(), 4u);
  std::set<std::string> run_slots;
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    const std::string slot = slot_of(descriptions[i]);
    ASSERT_FALSE(slot.empty()) << descriptions[i];
    EXPECT_EQ(jobs[i]["started_at"].get<std::string>(),
              util::format_rfc3339(util::parse_rfc3339(slot).value()))
        << descriptions[i];
    run_slots.insert(slot);
  }
  // Every slot from first sight (t0, a whole minute) to the 20th minute is either run or
  // recorded skipped, once.
  std::map<std::string, int> skipped;
  for (const auto& r : h.sync(k_addr)->history)
    if (r.outcome == "skipped") {
      EXPECT_EQ(r.end_reason, "job_already_running");
      ++skipped[r.slot];
    }
  for (int m = 0; m <= 20; ++m) {
    const std::string slot = util::format_rfc3339(t0() + std::chrono::minutes(m));
    const int times = static_cast<int>(run_slots.count(slot)) + skipped[slot];
    EXPECT_EQ(times, 1) << slot;
  }
  EXPECT_GE(skipped.size(), 10u);
}

// Breaker (issue 13): under forbid, the job list was read only while the daemon thought a job of
// its own ran. A job Cloudflare (or `aisearchd sync`) started after the daemon's last one ended
// was superseded by the next slot's POST, and never reported.
TEST(SyncManager, ForbidReadsTheJobListAtEverySlotAndLeavesSomeoneElsesJobRunning) {
  ManagerHarness h;
  h.sim->job_duration = 20s;
  h.sim->cooldown = 0s;
  h.manager.set_manifest(one_instance(every_minute(manifest::SyncSpec::Concurrency::forbid)));
  drive(*h.clock, h.manager, t0() + 50s);  // the t0 slot's job ran and ended (followed)
  ASSERT_EQ(h.sim->jobs(k_addr).size(), 1u);
  const std::string cf_job = h.sim->start_schedule_job(k_addr);  // ends at t0 + 70 s
  drive(*h.clock, h.manager, t0() + 1min + 50s);
  const auto jobs = h.sim->jobs(k_addr);
  ASSERT_EQ(jobs.size(), 2u) << "the t0 + 1 min slot made no job";
  EXPECT_EQ(jobs[1]["id"], cf_job);
  EXPECT_EQ(jobs[1]["end_reason"], "completed") << jobs[1].dump();  // not superseded
  const auto history = h.sync(k_addr)->history;
  int skipped = 0, reported = 0;
  for (const auto& r : history) {
    if (r.job_id != cf_job) continue;
    if (r.outcome == "skipped") {
      ++skipped;
      EXPECT_EQ(r.end_reason, "job_already_running");
      EXPECT_EQ(r.slot, util::format_rfc3339(t0() + 1min));
    } else {
      ++reported;
      EXPECT_EQ(r.trigger, "cloudflare");
    }
  }
  EXPECT_EQ(skipped, 1);
  EXPECT_EQ(reported, 1) << "the job that made the slot skip is reported when it ends";
}

// Breaker (issue 13): an on_change trigger held while a job ran fired after the manifest that
// suspends the schedule was loaded.
TEST(SyncManager, AHeldOnChangeTriggerIsDroppedWhenTheScheduleIsSuspended) {
  ManagerHarness h;
  auto p = policy();
  p.on_change = true;
  h.manager.set_manifest(one_instance(p));
  ASSERT_EQ(h.manager.trigger(k_addr, "manual"), jobs::SyncManager::TriggerResult::queued);
  h.manager.run_due_work();
  ASSERT_EQ(h.sim->count("create_job"), 1u);
  ASSERT_EQ(h.manager.trigger(k_addr, "on_change"), jobs::SyncManager::TriggerResult::coalesced);
  p.suspend = true;
  h.manager.set_manifest(one_instance(p));
  drive(*h.clock, h.manager, h.clock->now() + 30min, /*tick=*/false);
  EXPECT_EQ(h.sim->count("create_job"), 1u) << "no on_change job after sync.suspend";
}

// Issue 13: an on_change run held while a job ran was kept in memory only; a restart (or a
// failover) while the job ran lost it, and the change was never synced. It is kept in state
// and runs once after the job ends, in the next process, also when the job ended while no
// process ran.
TEST(SyncManager, AHeldOnChangeRunSurvivesARestart) {
  for (bool ended_while_down : {false, true}) {
    ManagerHarness h;
    auto p = policy();
    p.on_change = true;
    h.manager.set_manifest(one_instance(p));
    ASSERT_EQ(h.manager.trigger(k_addr, "manual"), jobs::SyncManager::TriggerResult::queued);
    h.manager.run_due_work();
    ASSERT_EQ(h.sim->count("create_job"), 1u);
    ASSERT_EQ(h.manager.trigger(k_addr, "on_change"), jobs::SyncManager::TriggerResult::coalesced);
    h.manager.stop(0ms);
    EXPECT_EQ(h.store.saved().sync.at(k_addr).held, "on_change");
    if (ended_while_down) h.clock->advance(10min);
    for (int process = 0; process < 2; ++process) {
      jobs::SyncManager next(h.runner, h.client, *h.clock, h.writer, h.reporter, {0});
      next.set_manifest(one_instance(p));
      next.resume();
      drive(*h.clock, next, h.clock->now() + 1h, /*tick=*/false);
      EXPECT_TRUE(next.idle());
    }
    EXPECT_EQ(h.sim->jobs(k_addr).size(), 2u) << "ended while down: " << ended_while_down;
    const auto saved = h.store.saved().sync.at(k_addr);
    EXPECT_TRUE(saved.held.empty());
    ASSERT_EQ(saved.history.size(), 2u);
    EXPECT_EQ(saved.history[0].trigger, "manual");
    EXPECT_EQ(saved.history[1].trigger, "on_change");
    EXPECT_EQ(saved.history[1].outcome, "succeeded");
  }
}

// A held run dropped because the reloaded manifest suspends the sync leaves nothing in state:
// the next process does not run it either.
TEST(SyncManager, ADroppedHeldRunIsClearedFromState) {
  ManagerHarness h;
  auto p = policy();
  p.on_change = true;
  h.manager.set_manifest(one_instance(p));
  h.manager.trigger(k_addr, "manual");
  h.manager.run_due_work();
  ASSERT_EQ(h.manager.trigger(k_addr, "on_change"), jobs::SyncManager::TriggerResult::coalesced);
  p.on_change = false;
  h.manager.set_manifest(one_instance(p));
  drive(*h.clock, h.manager, h.clock->now() + 30min, /*tick=*/false);
  EXPECT_EQ(h.sim->count("create_job"), 1u);
  EXPECT_TRUE(h.store.saved().sync.at(k_addr).held.empty());
}

// Issue 13: an on_change trigger whose forbid check found a job running that the engine did
// not know of (Cloudflare's schedule started it) was recorded `skipped` and the change never
// synced; PRODUCT.md §7: on_change during a run coalesces into one run after it ends.
TEST(SyncManager, AnOnChangeThatFindsSomeoneElsesJobRunningRunsAfterIt) {
  ManagerHarness h;
  auto p = policy();
  p.on_change = true;
  h.manager.set_manifest(one_instance(p));
  const std::string theirs = h.sim->start_schedule_job(k_addr);
  ASSERT_EQ(h.manager.trigger(k_addr, "on_change"), jobs::SyncManager::TriggerResult::queued);
  ASSERT_TRUE(h.wait_idle());
  const auto jobs = h.sim->jobs(k_addr);
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_EQ(jobs[0]["id"], theirs);
  EXPECT_EQ(jobs[0]["end_reason"], "completed") << "their job was left to end by itself";
  const auto saved = h.store.saved().sync.at(k_addr);
  ASSERT_EQ(saved.history.size(), 2u);
  EXPECT_EQ(saved.history[0].job_id, theirs);
  EXPECT_EQ(saved.history[0].trigger, "cloudflare");
  EXPECT_EQ(saved.history[1].trigger, "on_change");
  EXPECT_EQ(saved.history[1].outcome, "succeeded");
  for (const auto& r : saved.history) EXPECT_NE(r.outcome, "skipped");
}

// Issue 13, defect 1: replace supersedes the running job, also one that never ends.
TEST(SyncManager, ReplaceSupersedesTheRunningJobEvenAStalledOne) {
  ManagerHarness h;
  h.sim->set_mode(k_addr, SimApi::Mode::stall);
  h.manager.set_manifest(one_instance(every_minute(manifest::SyncSpec::Concurrency::replace)));
  drive(*h.clock, h.manager, t0() + 5min + 1s);
  // The last superseded job is seen at its next poll.
  drive(*h.clock, h.manager, h.clock->now() + 2min, /*tick=*/false);
  const auto jobs = h.sim->jobs(k_addr);
  ASSERT_EQ(jobs.size(), 6u);  // one per slot, t0 (first sight, a whole minute) included
  for (std::size_t i = 0; i + 1 < jobs.size(); ++i)
    EXPECT_EQ(jobs[i]["end_reason"], "new_job_has_started");
  int superseded = 0;
  for (const auto& r : h.sync(k_addr)->history) superseded += r.outcome == "superseded";
  EXPECT_EQ(superseded, 5);
  EXPECT_EQ(h.manager.following(), 1u);
}

// Issue 13, defect 2: jobs that never end hold no thread: another instance's trigger runs at
// once, with two workers and four stalled jobs.
TEST(SyncManager, StalledJobsDoNotStarveAnotherInstance) {
  Harness h;
  manifest::Manifest m;
  auto& ns = m.namespaces["default"];
  ns.name = "default";
  for (int i = 0; i < 5; ++i) {
    auto& inst = ns.instances["i" + std::to_string(i)];
    inst.ns = "default";
    inst.id = "i" + std::to_string(i);
    inst.sync = policy();
    if (i < 4) h.sim->set_mode("default/i" + std::to_string(i), SimApi::Mode::stall);
  }
  jobs::SyncManager manager(h.runner, h.client, *h.clock, h.writer, h.reporter,
                            jobs::SyncManagerOptions{2});
  manager.set_manifest(m);
  for (int i = 0; i < 4; ++i) manager.trigger("default/i" + std::to_string(i), "manual");
  ASSERT_TRUE(support::poll_until([&] { return manager.following() == 4; }, 30s, 1ms));
  h.clock->advance(2h);  // far past the stall: each stalled job polled, none holds a worker
  manager.trigger("default/i4", "manual");
  ASSERT_TRUE(support::poll_until([&] { return manager.following() == 5; }, 30s, 1ms));
  EXPECT_EQ(h.sim->jobs("default/i4").size(), 1u);
  manager.stop(0ms);
}

// Issue 13, defect 8: a job running when the process stops is followed by the next process
// (or leader) to its end and recorded exactly once, also when it ended while none ran.
TEST(SyncManager, ARunningJobIsFollowedAfterARestartAndRecordedOnce) {
  for (bool ended_while_down : {false, true}) {
    ManagerHarness h;
    h.manager.set_manifest(one_instance(policy()));
    h.manager.trigger(k_addr, "manual");
    h.manager.run_due_work();
    ASSERT_EQ(h.sim->jobs(k_addr).size(), 1u);
    const std::string job = h.sim->jobs(k_addr)[0]["id"];
    h.manager.stop(0ms);
    ASSERT_EQ(h.store.saved().sync.at(k_addr).running.size(), 1u);
    EXPECT_EQ(h.store.saved().sync.at(k_addr).running[0].job_id, job);
    if (ended_while_down) h.clock->advance(10min);
    for (int process = 0; process < 2; ++process) {
      jobs::SyncManager next(h.runner, h.client, *h.clock, h.writer, h.reporter, {0});
      next.set_manifest(one_instance(policy()));
      next.resume();
      drive(*h.clock, next, h.clock->now() + 1h, /*tick=*/false);
      EXPECT_TRUE(next.idle());
    }
    const auto saved = h.store.saved().sync.at(k_addr);
    EXPECT_TRUE(saved.running.empty());
    ASSERT_EQ(saved.history.size(), 1u) << "ended while down: " << ended_while_down;
    EXPECT_EQ(saved.history[0].job_id, job);
    EXPECT_EQ(saved.history[0].outcome, "succeeded");
    EXPECT_EQ(saved.history[0].trigger, "manual");
    EXPECT_EQ(h.reporter.outcome_count(), 1u);
  }
}

// A manual trigger whose first POST goes as the sim is set up; the engine stops before an answer
// settles it (the trigger stays saved); a new engine resumes and runs for an hour.
void stop_with_an_unanswered_trigger_then_restart(ManagerHarness& h) {
  h.manager.set_manifest(one_instance(policy()));
  h.manager.trigger(k_addr, "manual");
  h.manager.run_due_work();
  h.manager.stop(0ms);
  ASSERT_EQ(h.store.saved().sync.at(k_addr).triggers.size(), 1u);
  jobs::SyncManager next(h.runner, h.client, *h.clock, h.writer, h.reporter, {0});
  next.set_manifest(one_instance(policy()));
  next.resume();
  drive(*h.clock, next, h.clock->now() + 1h, /*tick=*/false);
}

// Issue 13, defect 3 (after a crash): a trigger saved but never answered is settled from the
// job list, not sent again.
TEST(SyncManager, AnUnansweredTriggerIsSettledFromTheJobList) {
  ManagerHarness h;
  h.sim->lose_create_answers(1);
  stop_with_an_unanswered_trigger_then_restart(h);  // the POST made a job, its answer was lost
  EXPECT_EQ(h.sim->jobs(k_addr).size(), 1u);
  EXPECT_EQ(h.sim->count("create_job"), 1u);
  const auto saved = h.store.saved().sync.at(k_addr);
  EXPECT_TRUE(saved.triggers.empty());
  ASSERT_EQ(saved.history.size(), 1u);
  EXPECT_EQ(saved.history[0].outcome, "succeeded");
}

// Breaker (issue 13): a trigger refused (cooldown) and then stopped (SIGTERM) before it made a
// job: the next process settled it as "made no job" and wrote nothing, so the slot vanished.
TEST(SyncManager, ATriggerThatMadeNoJobIsRecordedWhenSettled) {
  ManagerHarness h;
  h.sim->fail_creates(1, 500);                      // not applied
  stop_with_an_unanswered_trigger_then_restart(h);  // the POST failed, not applied
  EXPECT_EQ(h.sim->jobs(k_addr).size(), 0u) << "never sent again";
  const auto saved = h.store.saved().sync.at(k_addr);
  EXPECT_TRUE(saved.triggers.empty());
  ASSERT_EQ(saved.history.size(), 1u);
  EXPECT_EQ(saved.history[0].outcome, "skipped");
  EXPECT_EQ(saved.history[0].end_reason, "no_job_made");
  EXPECT_EQ(saved.history[0].trigger, "manual");
}

// Issue 13, defect 9: the Cloudflare job that made a forbid slot skip is reported when it ends.
TEST(SyncManager, TheJobThatMadeAForbidSlotSkipIsReportedWhenItEnds) {
  ManagerHarness h;
  h.manager.set_manifest(one_instance(policy()));
  h.clock->advance(1s);
  h.manager.tick(h.clock->now());  // first sight: the next slot is t0 + 1h
  h.clock->advance(1h - 1min);
  const std::string cf_job = h.sim->start_schedule_job(k_addr);
  drive(*h.clock, h.manager, t0() + 1h + 30min);
  const auto history = h.sync(k_addr)->history;
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0].outcome, "skipped");
  EXPECT_EQ(history[0].job_id, cf_job);
  EXPECT_EQ(history[0].slot, util::format_rfc3339(t0() + 1h));
  EXPECT_EQ(history[1].outcome, "succeeded");
  EXPECT_EQ(history[1].job_id, cf_job);
  EXPECT_EQ(history[1].trigger, "cloudflare");
  EXPECT_TRUE(h.sync(k_addr)->running.empty());
}

// A stalled job is reported once and then polled cheaply until its (default) timeout.
TEST(SyncManager, AStalledJobIsReportedOnceAndPolledCheaplyUntilItsTimeout) {
  ManagerHarness h;
  h.sim->set_mode(k_addr, SimApi::Mode::stall);
  h.manager.set_manifest(one_instance(policy()));
  h.manager.trigger(k_addr, "manual");
  drive(*h.clock, h.manager, t0() + 25h, /*tick=*/false);
  ASSERT_EQ(h.reporter.stalls.size(), 1u);
  // 24 h at most one poll per 10 minutes once stalled: well under 200 polls.
  EXPECT_LT(h.sim->count("get_job"), 200u);
  const auto history = h.sync(k_addr)->history;
  ASSERT_EQ(history.size(), 1u);
  EXPECT_EQ(history[0].outcome, "timed_out");
  EXPECT_TRUE(h.manager.idle());
}

TEST(SyncManager, StopAbandonsRunningFollowsPromptly) {
  ManagerHarness h;
  h.sim->set_mode(k_addr, SimApi::Mode::stall);
  h.manager.set_manifest(one_instance(policy()));
  h.manager.trigger(k_addr, "manual");
  h.manager.run_due_work();
  ASSERT_EQ(h.sim->count("create_job"), 1u);
  h.manager.stop(1s);
  EXPECT_TRUE(h.manager.idle());
  EXPECT_EQ(h.manager.trigger(k_addr, "manual"), jobs::SyncManager::TriggerResult::ignored);
}

}  // namespace
}  // namespace jobs_test
