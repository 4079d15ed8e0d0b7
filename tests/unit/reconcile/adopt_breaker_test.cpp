// Issue 17 (breaker round on adoption): the plan says what apply does, with the reference
// remote. An instance someone made again under the id of one aisearchd deleted, with the
// manifest's type and source, planned "No changes" while apply dropped the record (both adopt
// and forget); it is now an adoption, shown and done, and the next plan is clean.
#include <gtest/gtest.h>

#include "api/client.hpp"
#include "reconcile/apply.hpp"
#include "reconcile/diff.hpp"
#include "reconcile/observe.hpp"
#include "reconcile/render.hpp"
#include "state/writer.hpp"
#include "support/fake_transport.hpp"
#include "support/memory_store.hpp"
#include "support/reference_remote.hpp"
#include "unit/reconcile/fixture.hpp"
#include "unit/reconcile/reference_run.hpp"
#include "util/clock.hpp"

using nlohmann::json;
using namespace reconcile_fixture;

using AdoptRun = reconcile_fixture::ReferenceRun;

// A record marked `deleting` (aisearchd's DELETE went through, answer lost), then someone
// makes the id again with the manifest's very type/source. Plan 1 says "No changes"; apply
// adopts AND forgets the record (not owned afterwards); plan 2 then shows "= adopt": a clean
// apply that did not converge, and a plan that did not say what apply did.
TEST(AdoptionPlan, RemadeBySomeoneElseSameTypeSourceConverges) {
  AdoptRun run;
  manifest::Manifest m;
  declare(m, instance("default", "d", {{"type", "r2"}, {"source", "new"}}));
  run.remote->add_instance("default", {{"id", "d"}, {"type", "r2"}, {"source", "new"}});
  state::State s;
  own(s, "default", "d");
  s.owned["default/d"].deleting = true;
  s.owned["default/d"].deleting_identity = "identity-of-the-instance-aisearchd-deleted";
  run.store.save(s);
  auto p1 = run.plan_apply(m);
  const auto after1 = run.store.saved();
  auto p2 = run.plan(m);
  const bool p1_changes = p1.has_changes();
  const bool ownership_changed = after1.owned.count("default/d") == 0;
  EXPECT_FALSE(!p1_changes && ownership_changed)
      << "plan 1 said no changes but apply dropped ownership of a declared, existing instance";
  EXPECT_FALSE(p2.has_changes()) << "not converged after a clean apply (I5)";
}

// Adopt + update of the same instance, the update fails: the adopt still done (plan said so).
TEST(AdoptionPlan, AdoptThenPlanIsClean) {
  AdoptRun run;
  manifest::Manifest m;
  declare(m, instance("default", "d", {{"type", "r2"}, {"source", "b"}, {"max_num_results", 20}}));
  run.remote->add_instance("default",
                           {{"id", "d"}, {"type", "r2"}, {"source", "b"}, {"max_num_results", 5}});
  auto p1 = run.plan_apply(m);
  auto p2 = run.plan(m);
  EXPECT_FALSE(p2.has_changes());
}
