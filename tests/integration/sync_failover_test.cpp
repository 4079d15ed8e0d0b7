// Issue 13 (acceptance: "... the job's outcome appears in status and history exactly once, also
// across an etcd failover"): the sync engine of a leader that dies with a job running and an
// on_change run held, and the engines of the next leaders, over one real etcd (the state the
// daemon's leaders share), on fake time against the simulated jobs API. The next leader re-reads
// the state from etcd, follows the job to its end (it ended while no leader ran), records it once,
// runs the held on_change once; a third leader records nothing again.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>

#include "jobs/sync_manager.hpp"
#include "state/backend.hpp"
#include "state/etcd_store.hpp"
#include "support/etcd_process.hpp"
#include "unit/jobs/manager_fixture.hpp"

namespace {

using namespace std::chrono_literals;
using namespace jobs_test;
constexpr const char* k_addr = "default/docs";

std::shared_ptr<state::EtcdClient> etcd_client(const support::EtcdProcess& etcd) {
  state::BackendConfig b;
  b.type = state::BackendConfig::Type::etcd;
  b.endpoints = {etcd.endpoint()};
  b.prefix = "/failover/";
  auto c = state::make_etcd_client(b);
  EXPECT_TRUE(c.ok());
  return *c;
}

// One leader's engine: its own store handle, writer (loaded from etcd), runner and reporter.
struct Leader {
  Leader(const support::EtcdProcess& etcd, api::Client& client, util::FakeClock& clock)
      : store(etcd_client(etcd)),
        writer(store, store.load().value()),
        runner(client, clock, writer, reporter, jobs::FollowOptions{}),
        manager(runner, client, clock, writer, reporter, jobs::SyncManagerOptions{0}) {}
  state::EtcdStateStore store;
  state::StateWriter writer;
  RecordingReporter reporter;
  jobs::Runner runner;
  jobs::SyncManager manager;
};

// Runs the engine's work on fake time until it is idle (or `limit` passes).
bool run_until_idle(util::FakeClock& clock, jobs::SyncManager& manager, std::chrono::hours limit) {
  const auto until = clock.now() + limit;
  for (int guard = 0; guard < 100'000; ++guard) {
    manager.run_due_work();
    if (manager.idle()) return true;
    auto work = manager.next_work();
    if (!work || clock.now() > until) return manager.idle();
    if (*work > clock.steady_now())
      clock.advance(
          std::chrono::duration_cast<std::chrono::milliseconds>(*work - clock.steady_now()));
  }
  return false;
}

TEST(SyncFailover, AJobRunningWhenTheLeaderDiesIsRecordedOnceAndTheHeldRunRunsOnce) {
  support::EtcdProcess etcd;
  auto clock = std::make_shared<util::FakeClock>(t0());
  auto sim = std::make_shared<SimApi>(*clock);
  sim->job_duration = 5min;
  api::Client client(Harness::make_config(), sim, clock);
  auto p = policy();
  p.on_change = true;
  const auto m = one_instance(p);

  std::string job;
  {
    Leader first(etcd, client, *clock);
    first.manager.set_manifest(m);
    first.manager.resume();
    ASSERT_EQ(first.manager.trigger(k_addr, "manual"), jobs::SyncManager::TriggerResult::queued);
    first.manager.run_due_work();  // the trigger: job 1 runs, saved as running in etcd
    ASSERT_EQ(sim->jobs(k_addr).size(), 1u);
    job = sim->jobs(k_addr)[0]["id"];
    ASSERT_EQ(first.manager.trigger(k_addr, "on_change"),
              jobs::SyncManager::TriggerResult::coalesced);
    EXPECT_EQ(first.reporter.outcome_count(), 0u);
    // The leader dies here (its lease ends; nothing more of it is saved).
  }
  clock->advance(10min);  // job 1 ends while no leader runs

  {
    Leader second(etcd, client, *clock);
    second.manager.set_manifest(m);
    second.manager.resume();
    ASSERT_TRUE(run_until_idle(*clock, second.manager, 2h));
    ASSERT_TRUE(second.writer.flush().ok());
    EXPECT_EQ(second.reporter.outcome_count(), 2u);  // job 1, then the held on_change run
  }
  {
    Leader third(etcd, client, *clock);
    third.manager.set_manifest(m);
    third.manager.resume();
    ASSERT_TRUE(run_until_idle(*clock, third.manager, 2h));
    EXPECT_EQ(third.reporter.outcome_count(), 0u) << "a third leader recorded a job again";
  }

  auto saved = state::EtcdStateStore(etcd_client(etcd)).load();
  ASSERT_TRUE(saved.ok()) << saved.error();
  const auto& sync = saved->sync.at(k_addr);
  ASSERT_EQ(sync.history.size(), 2u);
  EXPECT_EQ(sync.history[0].job_id, job);
  EXPECT_EQ(sync.history[0].trigger, "manual");
  EXPECT_EQ(sync.history[0].outcome, "succeeded");
  EXPECT_EQ(sync.history[1].trigger, "on_change");
  EXPECT_EQ(sync.history[1].outcome, "succeeded");
  EXPECT_TRUE(sync.running.empty());
  EXPECT_TRUE(sync.triggers.empty());
  EXPECT_TRUE(sync.held.empty());
  EXPECT_EQ(sim->jobs(k_addr).size(), 2u);
}

}  // namespace
