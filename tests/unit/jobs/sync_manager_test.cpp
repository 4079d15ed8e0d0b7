#include "jobs/sync_manager.hpp"

#include <condition_variable>
#include <thread>

#include <gtest/gtest.h>

#include "fixture.hpp"
#include "support/poll.hpp"
#include "util/time_format.hpp"

namespace jobs_test {
namespace {

using namespace std::chrono_literals;
constexpr const char* k_addr = "default/docs";

manifest::Manifest one_instance(manifest::SyncSpec sync) {
  manifest::Manifest m;
  auto& ns = m.namespaces["default"];
  ns.name = "default";
  auto& inst = ns.instances["docs"];
  inst.ns = "default";
  inst.id = "docs";
  inst.sync = sync;
  auto& other = ns.instances["plain"];  // managed, no sync:
  other.ns = "default";
  other.id = "plain";
  return m;
}

struct ManagerHarness : Harness {
  ManagerHarness()
      : manager(runner, client, *clock, writer, reporter, jobs::SyncManagerOptions{2}) {}
  bool wait_idle() {  // real time: the worker threads
    return support::poll_until([&] { return manager.idle(); }, 10s, 1ms);
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

// Blocks the first create_job until released.
struct Gate {
  std::mutex mutex;
  std::condition_variable cv;
  bool entered = false, open = false;
  void install(SimApi& sim) {
    sim.before = [this](const std::string& kind) {
      if (kind != "create_job") return;
      std::unique_lock lock(mutex);
      entered = true;
      cv.notify_all();
      cv.wait(lock, [&] { return open; });
    };
  }
  void wait_entered() {
    std::unique_lock lock(mutex);
    cv.wait_for(lock, 10s, [&] { return entered; });
  }
  void release() {
    std::lock_guard lock(mutex);
    open = true;
    cv.notify_all();
  }
};

TEST(SyncManager, TriggersDuringARunAreCoalescedIntoOne) {
  ManagerHarness h;
  Gate gate;
  gate.install(*h.sim);
  h.manager.set_manifest(one_instance(policy()));
  EXPECT_EQ(h.manager.trigger(k_addr, "manual"), jobs::SyncManager::TriggerResult::queued);
  gate.wait_entered();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(h.manager.trigger(k_addr, "manual"), jobs::SyncManager::TriggerResult::coalesced);
  }
  gate.release();
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
  jobs::SyncManager again(h.runner, h.client, *h.clock, h.writer, h.reporter, {});
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
  jobs::SyncManager next(h.runner, h.client, *h.clock, h.writer, h.reporter, {});
  next.set_manifest(one_instance(policy()));
  next.tick(t0() + 1h + 20min);
  ASSERT_TRUE(support::poll_until([&] { return next.idle(); }, 10s, 1ms));
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

TEST(SyncManager, StopAbandonsRunningFollowsPromptly) {
  ManagerHarness h;
  h.sim->set_mode(k_addr, SimApi::Mode::stall);
  h.manager.set_manifest(one_instance(policy()));
  h.manager.trigger(k_addr, "manual");
  ASSERT_TRUE(support::poll_until([&] { return h.sim->count("create_job") > 0; }, 10s, 1ms));
  h.manager.stop(1s);
  EXPECT_TRUE(h.manager.idle());
  EXPECT_EQ(h.manager.trigger(k_addr, "manual"), jobs::SyncManager::TriggerResult::ignored);
}

}  // namespace
}  // namespace jobs_test
