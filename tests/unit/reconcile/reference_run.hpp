#pragma once

// Plan and apply against the reference remote (support::ReferenceRemote) with a memory store and
// a fake clock: what a one-shot `plan` and `apply` do, for tests that follow state across runs.

#include <chrono>
#include <memory>

#include "api/client.hpp"
#include "reconcile/apply.hpp"
#include "reconcile/diff.hpp"
#include "reconcile/observe.hpp"
#include "state/writer.hpp"
#include "support/fake_transport.hpp"
#include "support/memory_store.hpp"
#include "support/reference_remote.hpp"
#include "util/clock.hpp"

namespace reconcile_fixture {

struct ReferenceRun {
  std::shared_ptr<support::ReferenceRemote> remote = std::make_shared<support::ReferenceRemote>();
  std::shared_ptr<util::FakeClock> clock =
      std::make_shared<util::FakeClock>(util::Clock::SystemTime(std::chrono::hours(500000)));
  support::MemoryStore store;
  api::ClientConfig config() {
    api::ClientConfig c;
    c.api_url = support::k_fake_api_url;
    c.account_id = "acc";
    c.token = "tok";
    c.retry.max_attempts = 2;
    c.budget.capacity = 0;
    return c;
  }
  // The plan of `m` against the remote and the saved state, as `aisearchd plan` makes it.
  reconcile::Plan plan(const manifest::Manifest& m) {
    api::Client client(config(), remote, clock);
    auto before = store.saved();
    auto obs = reconcile::observe(client, reconcile::namespaces_to_observe(m, before), 1, before);
    return reconcile::diff(m, obs, before);
  }
  // Applies `p` (made from `m`); expects it to succeed.
  void apply(const reconcile::Plan& p, const manifest::Manifest& m) {
    api::Client client(config(), remote, clock);
    state::StateWriter writer(store, store.saved(), std::chrono::milliseconds(0), false);
    EXPECT_TRUE(reconcile::apply(p, m, client, writer, *clock, {}).ok());
  }
  reconcile::Plan plan_apply(const manifest::Manifest& m) {
    auto p = plan(m);
    apply(p, m);
    return p;
  }
};

}  // namespace reconcile_fixture
