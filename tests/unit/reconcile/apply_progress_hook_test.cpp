// Issue 17 (a long apply is silent): apply's progress hooks. on_result is called once per action
// of the plan as it finishes (blocked ones and adoptions too), one call at a time with counts
// that count up by one and end equal to the apply's result; on_start and on_end once each.
#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <thread>

#include "api/client.hpp"
#include "reconcile/apply.hpp"
#include "reconcile/diff.hpp"
#include "reconcile/observe.hpp"
#include "state/writer.hpp"
#include "support/fake_transport.hpp"
#include "support/memory_store.hpp"
#include "support/reference_remote.hpp"
#include "unit/reconcile/fixture.hpp"
#include "util/clock.hpp"

using nlohmann::json;
using namespace reconcile_fixture;

namespace {

api::ClientConfig client_config() {
  api::ClientConfig c;
  c.api_url = support::k_fake_api_url;
  c.account_id = "acc";
  c.token = "tok";
  c.retry.max_attempts = 1;
  c.budget.capacity = 0;
  return c;
}

struct Seen {
  std::mutex mutex;
  int starts = 0, ends = 0, in_call = 0, overlapping = 0;
  std::size_t total = 0;
  std::vector<reconcile::ApplyCounts> counts;  // in call order
  std::map<std::string, int> addresses;        // address -> calls
  reconcile::ApplyCounts end_counts;
};

}  // namespace

TEST(ApplyProgressHook, OncePerFinishedActionWithTheRightCounts) {
  auto remote = std::make_shared<support::ReferenceRemote>();
  auto clock =
      std::make_shared<util::FakeClock>(util::Clock::SystemTime(std::chrono::hours(500000)));
  support::MemoryStore store;
  manifest::Manifest m;
  for (int i = 0; i < 30; ++i)
    declare(m, instance("default", "c" + std::to_string(i), {{"type", "r2"}, {"source", "b"}}));
  // An adoption (exists, declared, not owned) and a blocked replace (owned, source changed).
  declare(m, instance("default", "adopted", {{"type", "r2"}, {"source", "b"}}));
  remote->add_instance("default", {{"id", "adopted"}, {"type", "r2"}, {"source", "b"}});
  declare(m, instance("default", "held", {{"type", "r2"}, {"source", "new"}}));
  remote->add_instance("default", {{"id", "held"}, {"type", "r2"}, {"source", "old"}});
  state::State s;
  own(s, "default", "held");
  store.save(s);

  api::Client client(client_config(), remote, clock);
  auto before = store.saved();
  auto obs = reconcile::observe(client, reconcile::namespaces_to_observe(m, before), 1, before);
  auto plan = reconcile::diff(m, obs, before);
  ASSERT_EQ(plan.changes.size(), 32u);
  // One create fails (the first write after the lists answers 500, never retried here).
  remote->fault_at(remote->request_count() + 3, support::ReferenceRemote::Fault::fail);

  Seen seen;
  reconcile::ApplyOptions ao;
  ao.concurrency = 6;
  ao.on_start = [&](std::size_t total) {
    std::lock_guard lock(seen.mutex);
    ++seen.starts;
    seen.total = total;
  };
  ao.on_result = [&](const reconcile::ActionResult& r, const reconcile::ApplyCounts& c) {
    {
      std::lock_guard lock(seen.mutex);
      if (++seen.in_call > 1) ++seen.overlapping;
      seen.counts.push_back(c);
      ++seen.addresses[r.address];
    }
    std::this_thread::yield();  // give another worker the chance to call in meanwhile
    std::lock_guard lock(seen.mutex);
    --seen.in_call;
  };
  ao.on_end = [&](const reconcile::ApplyCounts& c) {
    std::lock_guard lock(seen.mutex);
    ++seen.ends;
    seen.end_counts = c;
  };
  state::StateWriter writer(store, before, std::chrono::milliseconds(0), false);
  auto result = reconcile::apply(plan, m, client, writer, *clock, ao);

  EXPECT_EQ(seen.starts, 1);
  EXPECT_EQ(seen.ends, 1);
  EXPECT_EQ(seen.total, 32u);
  EXPECT_EQ(seen.overlapping, 0) << "on_result was called by two workers at once";
  ASSERT_EQ(seen.counts.size(), 32u);
  for (std::size_t k = 0; k < seen.counts.size(); ++k) {
    const auto& c = seen.counts[k];
    EXPECT_EQ(c.finished, k + 1);
    EXPECT_EQ(c.total, 32u);
    EXPECT_EQ(static_cast<std::size_t>(c.done + c.failed + c.blocked + c.skipped), c.finished);
  }
  EXPECT_EQ(seen.addresses.size(), 32u);
  for (const auto& [address, calls] : seen.addresses) EXPECT_EQ(calls, 1) << address;
  EXPECT_TRUE(seen.addresses.count("default/adopted"));
  EXPECT_TRUE(seen.addresses.count("default/held"));
  // The last counts, and on_end's, are the apply's result.
  for (const auto* c : {&seen.counts.back(), &seen.end_counts}) {
    EXPECT_EQ(c->finished, 32u);
    EXPECT_EQ(c->done, result.done);
    EXPECT_EQ(c->failed, result.failed);
    EXPECT_EQ(c->blocked, result.blocked);
    EXPECT_EQ(c->skipped, result.skipped);
  }
  EXPECT_EQ(result.blocked, 1);
  EXPECT_EQ(result.failed, 1);
  EXPECT_EQ(result.done, 30);
}
