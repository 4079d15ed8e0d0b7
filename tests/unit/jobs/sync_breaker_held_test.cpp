// Issue 13, breaker round 4 on held runs (the first five failed before their fix): a held
// manual run ran after a reload suspended the instance or its namespace; a manual run coalesced
// into a held on_change was dropped with it when on_change was turned off; a held run whose
// trigger was saved but not answered (waiting out the cooldown, or a crash before the POST)
// ran zero times after a restart. The rest held and stay as regression tests.
#include <atomic>

#include <gtest/gtest.h>

#include "jobs/sync_manager.hpp"
#include "manager_fixture.hpp"
#include "util/time_format.hpp"

namespace jobs_test {
namespace {

constexpr const char* k_addr = "default/docs";

// a held manual run, then a reload that suspends the instance (suspend: true): the
// README/commit say a suspended instance ignores manual triggers; the held one still runs.
TEST(SyncBreakerHeld, HeldManualRunIsDroppedWhenReloadSuspendsTheInstance) {
  RestartHarness h;
  auto p = policy();
  h.manager->set_manifest(one_instance(p));
  ASSERT_EQ(h.manager->trigger(k_addr, "manual"), jobs::SyncManager::TriggerResult::queued);
  h.manager->run_due_work();
  ASSERT_EQ(h.sim->jobs(k_addr).size(), 1u);
  ASSERT_EQ(h.manager->trigger(k_addr, "manual"), jobs::SyncManager::TriggerResult::coalesced);
  auto m = one_instance(p);
  m.namespaces["default"].instances["docs"].suspend = true;
  h.manager->set_manifest(m);
  // now a new manual is ignored ...
  EXPECT_EQ(h.manager->trigger(k_addr, "manual"), jobs::SyncManager::TriggerResult::ignored);
  drive(*h.clock, *h.manager, h.clock->now() + 1h, false);
  // ... but the held one runs on the suspended instance
  EXPECT_EQ(h.sim->jobs(k_addr).size(), 1u) << "held manual run made a job on a suspended instance";
  EXPECT_EQ(h.store.saved().sync.at(k_addr).held, "");
}

// the same via namespace suspend at restart (resume path).
TEST(SyncBreakerHeld, HeldManualRunIsDroppedWhenNamespaceSuspendedAtRestart) {
  RestartHarness h;
  auto p = policy();
  h.manager->set_manifest(one_instance(p));
  h.manager->trigger(k_addr, "manual");
  h.manager->run_due_work();
  ASSERT_EQ(h.manager->trigger(k_addr, "manual"), jobs::SyncManager::TriggerResult::coalesced);
  ASSERT_EQ(h.store.saved().sync.at(k_addr).held, "manual");
  auto m = one_instance(p);
  m.namespaces["default"].suspend = true;
  h.restart(m);
  drive(*h.clock, *h.manager, h.clock->now() + 1h, false);
  EXPECT_EQ(h.sim->jobs(k_addr).size(), 1u) << "held manual ran in a suspended namespace";
}

// on_change held, then a manual coalesced into it (one held run, reason on_change);
// reload turns on_change off: the manual request the manifest still allows never runs.
TEST(SyncBreakerHeld, ManualCoalescedIntoHeldOnChangeSurvivesOnChangeTurnedOff) {
  RestartHarness h;
  auto p = policy();
  p.on_change = true;
  h.manager->set_manifest(one_instance(p));
  h.manager->trigger(k_addr, "on_change");
  h.manager->run_due_work();
  ASSERT_EQ(h.sim->jobs(k_addr).size(), 1u);
  ASSERT_EQ(h.manager->trigger(k_addr, "on_change"), jobs::SyncManager::TriggerResult::coalesced);
  ASSERT_EQ(h.manager->trigger(k_addr, "manual"), jobs::SyncManager::TriggerResult::coalesced);
  auto p2 = p;
  p2.on_change = false;
  h.manager->set_manifest(one_instance(p2));
  drive(*h.clock, *h.manager, h.clock->now() + 1h, false);
  EXPECT_EQ(h.sim->jobs(k_addr).size(), 2u)
      << "the coalesced manual run was dropped with the on_change";
}

// the held run's trigger is saved (held cleared in state), its POST meets the ~30 s
// cooldown after job 1's end (429) and waits; a restart in that wait settles the trigger as
// skipped no_job_made: the held run ran zero times although nothing forbids it.
TEST(SyncBreakerHeld, HeldRunWaitingOutCooldownSurvivesRestart) {
  RestartHarness h;
  auto p = policy();
  p.on_change = true;
  h.manager->set_manifest(one_instance(p));
  h.manager->trigger(k_addr, "on_change");
  h.manager->run_due_work();
  ASSERT_EQ(h.manager->trigger(k_addr, "on_change"), jobs::SyncManager::TriggerResult::coalesced);
  // Drive until the held trigger has been refused by cooldown once.
  std::atomic<int> creates{0};
  h.sim->before = [&](const std::string& kind) {
    if (kind == "create_job") ++creates;
  };
  for (int i = 0; i < 2000 && creates.load() == 0; ++i) {
    h.manager->run_due_work();
    if (creates.load()) break;
    h.clock->advance(1s);
  }
  h.sim->before = nullptr;
  ASSERT_EQ(creates.load(), 1);
  ASSERT_EQ(h.sim->jobs(k_addr).size(), 1u) << "expected the POST to be refused by cooldown";
  h.restart(one_instance(p));
  drive(*h.clock, *h.manager, h.clock->now() + 2h, false);
  EXPECT_EQ(h.sim->jobs(k_addr).size(), 2u) << "the held run never ran";
}

// same, crash right after the trigger's save, before the POST (no cooldown).
TEST(SyncBreakerHeld, HeldRunCrashBetweenTriggerSaveAndPostRunsOnce) {
  RestartHarness h;
  h.sim->cooldown = 0ms;
  auto p = policy();
  p.on_change = true;
  h.manager->set_manifest(one_instance(p));
  h.manager->trigger(k_addr, "on_change");
  h.manager->run_due_work();
  ASSERT_EQ(h.manager->trigger(k_addr, "on_change"), jobs::SyncManager::TriggerResult::coalesced);
  // the POST is lost in transit and the process dies (refuse its create: fail_creates 1 with a 4xx
  // that is not unclear -> would fail; use the crash model instead: stop in the `before` hook).
  std::atomic<bool> crashed{false};
  state::State at_crash;
  h.sim->before = [&](const std::string& kind) {
    if (kind == "create_job" && !crashed.exchange(true)) at_crash = h.store.saved();
  };
  h.sim->fail_creates(1, 400);  // refused; the process is taken to have died here
  for (int i = 0; i < 2000 && !crashed.load(); ++i) {
    h.manager->run_due_work();
    if (crashed.load()) break;
    h.clock->advance(1s);
  }
  h.sim->before = nullptr;
  ASSERT_TRUE(crashed.load());
  // restart from the state as it was when the POST went out
  h.manager->stop(0ms);
  h.writer.reload([&] { return util::Result<state::State, std::string>(at_crash); });
  EXPECT_EQ(at_crash.sync.at(k_addr).held, "on_change") << "held until its job is made";
  EXPECT_EQ(at_crash.sync.at(k_addr).triggers.size(), 1u);
  h.restart(one_instance(p));
  drive(*h.clock, *h.manager, h.clock->now() + 2h, false);
  EXPECT_EQ(h.sim->jobs(k_addr).size(), 2u) << "the held run never ran";
}

// lost POST answer for the held run: exactly one job, outcome once.
TEST(SyncBreakerHeld, HeldRunWithLostPostAnswerMakesOneJob) {
  RestartHarness h;
  h.sim->cooldown = 0ms;
  auto p = policy();
  p.on_change = true;
  h.manager->set_manifest(one_instance(p));
  h.manager->trigger(k_addr, "on_change");
  h.manager->run_due_work();
  ASSERT_EQ(h.manager->trigger(k_addr, "on_change"), jobs::SyncManager::TriggerResult::coalesced);
  h.sim->lose_create_answers(1);
  drive(*h.clock, *h.manager, h.clock->now() + 2h, false);
  EXPECT_EQ(h.sim->jobs(k_addr).size(), 2u);
  auto s = h.store.saved().sync.at(k_addr);
  EXPECT_EQ(s.history.size(), 2u);
  EXPECT_EQ(s.held, "");
  EXPECT_EQ(h.reporter.outcome_count(), s.history.size());
}

// Reload forbid -> replace while a run is held, then a new on_change replaces the job: the
// replacing job covers the held change (it ran a third job after it before).
TEST(SyncBreakerHeld, ForbidToReplaceWithHeldRun) {
  RestartHarness h;
  h.sim->cooldown = 0ms;
  auto p = policy();
  p.on_change = true;
  h.manager->set_manifest(one_instance(p));
  h.manager->trigger(k_addr, "on_change");
  h.manager->run_due_work();
  ASSERT_EQ(h.manager->trigger(k_addr, "on_change"), jobs::SyncManager::TriggerResult::coalesced);
  auto p2 = policy(manifest::SyncSpec::Concurrency::replace);
  p2.on_change = true;
  h.manager->set_manifest(one_instance(p2));
  EXPECT_EQ(h.manager->trigger(k_addr, "on_change"), jobs::SyncManager::TriggerResult::queued);
  drive(*h.clock, *h.manager, h.clock->now() + 2h, false);
  EXPECT_EQ(h.sim->jobs(k_addr).size(), 2u);
  EXPECT_EQ(h.store.saved().sync.at(k_addr).held, "");
}

// replace -> forbid on reload while a replace job runs, with held; restart in between.
TEST(SyncBreakerHeld, HeldRunAcrossManyRestartsDuringJob) {
  RestartHarness h;
  h.sim->cooldown = 0ms;
  auto p = policy();
  p.on_change = true;
  h.manager->set_manifest(one_instance(p));
  h.manager->trigger(k_addr, "on_change");
  h.manager->run_due_work();
  ASSERT_EQ(h.manager->trigger(k_addr, "on_change"), jobs::SyncManager::TriggerResult::coalesced);
  for (int i = 0; i < 40; ++i) {
    h.clock->advance(10s);
    h.restart(one_instance(p));
    h.manager->run_due_work();
  }
  drive(*h.clock, *h.manager, h.clock->now() + 2h, false);
  EXPECT_EQ(h.sim->jobs(k_addr).size(), 2u);
  auto s = h.store.saved().sync.at(k_addr);
  EXPECT_EQ(s.held, "");
  EXPECT_EQ(s.history.size(), 2u);
  EXPECT_EQ(h.reporter.outcome_count(), s.history.size());
}

}  // namespace
}  // namespace jobs_test
