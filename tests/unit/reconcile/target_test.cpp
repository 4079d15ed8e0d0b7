// --target (issue 17, item 5): the narrowed plan acts on the targets only, keeps the namespace
// creates they need, never prunes, forgets or records anything else, and sees a move as a move.
#include "reconcile/target.hpp"

#include <gtest/gtest.h>

#include <random>

#include "unit/reconcile/fixture.hpp"
#include "unit/reconcile/reference_run.hpp"

using nlohmann::json;
using reconcile::Action;
using namespace reconcile_fixture;

namespace {

std::set<std::string> addresses(const reconcile::Plan& p) {
  std::set<std::string> out;
  for (const auto& c : p.changes) out.insert(c.address() + " " + to_string(c.action));
  return out;
}

}  // namespace

TEST(Target, ATargetedPlanNeverPrunesTheOtherOwnedInstances) {
  manifest::Manifest m;
  declare(m, instance("default", "docs", {{"max_num_results", 20}}));
  m.namespaces["default"].prune = true;
  m.namespaces["default"].max_deletes = 5;
  state::State s;
  own(s, "default", "docs");
  own(s, "default", "old");
  auto obs = observed_with({remote("default", "docs", {{"max_num_results", 5}}),
                            remote("default", "old", {}), remote("default", "hand", {})});
  const auto whole = reconcile::diff(m, obs, s);
  ASSERT_EQ(addresses(whole), (std::set<std::string>{"default/docs update", "default/old delete"}));

  const auto narrowed = reconcile::restrict_to_targets(whole, {"default/docs"}, m, s);
  EXPECT_EQ(addresses(narrowed), (std::set<std::string>{"default/docs update"}));
  EXPECT_TRUE(narrowed.unmanaged.empty()) << "the untargeted hand-made instance is not listed";
  EXPECT_TRUE(narrowed.forget.empty());

  const auto old_only = reconcile::restrict_to_targets(whole, {"default/old"}, m, s);
  EXPECT_EQ(addresses(old_only), (std::set<std::string>{"default/old delete"}));
}

TEST(Target, ANamespaceCreateIsKeptOnlyWhenATargetNeedsIt) {
  manifest::Manifest m;
  declare(m, instance("support", "kb", {}));
  declare(m, instance("default", "docs", {}));
  m.namespaces["support"].description = "Support";
  const auto whole = reconcile::diff(m, observed_with({}), {});
  ASSERT_EQ(addresses(whole),
            (std::set<std::string>{"support create", "support/kb create", "default/docs create"}));
  auto kb = reconcile::restrict_to_targets(whole, {"support/kb"}, m, {});
  ASSERT_EQ(kb.changes.size(), 2u);
  EXPECT_TRUE(kb.changes[0].is_namespace()) << "the namespace is created before its instance";
  EXPECT_EQ(kb.changes[1].address(), "support/kb");

  auto docs = reconcile::restrict_to_targets(whole, {"default/docs"}, m, {});
  EXPECT_EQ(addresses(docs), (std::set<std::string>{"default/docs create"}));
  EXPECT_TRUE(docs.namespace_records.empty());
}

TEST(Target, AMoveIsKeptByEitherAddressAndNeverBecomesACreate) {
  manifest::Manifest m;
  declare(m, instance("support", "kb", {{"max_num_results", 7}}));
  state::State s;
  own(s, "default", "kb");
  const auto whole = reconcile::diff(
      m, observed_with({remote("default", "kb", {{"max_num_results", 7}})}, {"support"}), s);
  for (const char* t : {"support/kb", "default/kb"}) {
    auto p = reconcile::restrict_to_targets(whole, {t}, m, s);
    ASSERT_EQ(p.changes.size(), 1u) << t;
    EXPECT_EQ(p.changes[0].action, Action::move) << t;
  }
}

TEST(Target, AFailedListTheTargetDependsOnKeepsThePlanPartial) {
  manifest::Manifest m;
  declare(m, instance("default", "docs", {}));
  declare(m, instance("team", "kb", {}));
  state::State s;
  own(s, "team", "docs");  // docs was team's: team's list decides whether it moved
  auto obs = observed_with({}, {"team", "other"});
  obs.listings["team"].error = "list failed: HTTP 503";
  obs.listings["other"].error = "list failed: HTTP 503";
  const auto whole = reconcile::diff(m, obs, s);
  auto p = reconcile::restrict_to_targets(whole, {"default/docs"}, m, s);
  ASSERT_EQ(p.skipped_namespaces.size(), 1u);
  EXPECT_EQ(p.skipped_namespaces[0].ns, "team");
  // The id team's failed list may hold is not created: its create is shown blocked.
  ASSERT_EQ(p.changes.size(), 1u);
  ASSERT_TRUE(p.changes[0].blocked);
  EXPECT_EQ(p.changes[0].blocked->rail, "move_unknown");
  EXPECT_FALSE(p.has_changes());
}

// Breaker finding F1: x owned in default, the manifest moves it to team, team's list is short.
// Targeting the side that listed fine must still say the plan is partial (it said "No changes.",
// exit 0, and could be saved).
TEST(Target, AMovesFailedDestinationKeepsATargetOnTheSourceSidePartial) {
  manifest::Manifest m;
  declare(m, instance("team", "x", {}));
  state::State s;
  own(s, "default", "x");
  auto obs = observed_with({remote("default", "x", {})}, {"team"});
  obs.listings["team"].error = "list partial: a page was short";
  const auto whole = reconcile::diff(m, obs, s);
  for (const char* t : {"default/x", "team/x"}) {
    auto p = reconcile::restrict_to_targets(whole, {t}, m, s);
    ASSERT_EQ(p.skipped_namespaces.size(), 1u) << t;
    EXPECT_EQ(p.skipped_namespaces[0].ns, "team") << t;
  }
}

TEST(Target, TargetsThatNameNothingAreReported) {
  manifest::Manifest m;
  declare(m, instance("default", "docs", {}));
  state::State s;
  own(s, "team", "old");
  auto obs = observed_with({remote("default", "hand", {})});
  EXPECT_EQ(reconcile::unknown_targets({"default/docs", "team/old", "default/hand", "default/typo"},
                                       m, obs, s),
            (std::vector<std::string>{"default/typo"}));
}

// Over seeded situations: the narrowed plan is the whole plan's changes for the targets (same
// order, same content), plus the namespace creates they need, and nothing else.
TEST(TargetProperty, TheNarrowedPlanIsTheWholePlansChangesForTheTargets) {
  std::mt19937 rng(17);
  const std::vector<std::string> nss = {"default", "a", "b"};
  const std::vector<std::string> ids = {"x", "y", "z"};
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  for (int round = 0; round < 500; ++round) {
    manifest::Manifest m;
    state::State s;
    std::vector<api::Instance> remote_instances;
    for (const auto& ns : nss) {
      for (const auto& id : ids) {
        if (pick(3) == 0) declare(m, instance(ns, id, {{"max_num_results", pick(3)}}));
        if (pick(3) == 0)
          remote_instances.push_back(remote(ns, id, {{"max_num_results", pick(3)}}));
        if (pick(4) == 0) own(s, ns, id);
      }
      if (m.namespaces.count(ns)) m.namespaces[ns].prune = pick(2) == 0;
    }
    auto obs = observed_with(remote_instances, {"a"});
    if (pick(5) == 0) obs.listings["a"].error = "list failed";
    const auto whole = reconcile::diff(m, obs, s);
    std::set<std::string> targets;
    for (int i = 0; i < 1 + pick(2); ++i) targets.insert(nss[pick(3)] + "/" + ids[pick(3)]);
    const auto narrowed = reconcile::restrict_to_targets(whole, targets, m, s);

    std::vector<std::string> expected;
    std::set<std::string> needed;
    for (const auto& c : whole.changes) {
      if (c.is_namespace()) continue;
      const bool t = targets.count(c.address()) ||
                     (!c.from_ns.empty() && targets.count(c.from_ns + "/" + c.id));
      if (t) needed.insert(c.ns);
    }
    for (const auto& c : whole.changes) {
      const bool t = c.is_namespace()
                         ? c.action == Action::create && needed.count(c.ns)
                         : targets.count(c.address()) ||
                               (!c.from_ns.empty() && targets.count(c.from_ns + "/" + c.id));
      if (t) expected.push_back(c.address() + " " + to_string(c.action));
    }
    std::vector<std::string> got;
    for (const auto& c : narrowed.changes) {
      got.push_back(c.address() + " " + to_string(c.action));
      if (c.action == Action::delete_) {
        EXPECT_TRUE(targets.count(c.address())) << "round " << round << ": " << c.address();
      }
    }
    ASSERT_EQ(got, expected) << "round " << round;
    for (const auto& a : narrowed.forget) EXPECT_TRUE(targets.count(a)) << a;
    for (const auto& a : narrowed.adopt) EXPECT_TRUE(targets.count(a)) << a;
  }
}

// Breaker finding (round 3): a targeted apply released `protect` of an instance it did not
// target, and the next whole apply replaced that protected index. Apply's protect bookkeeping
// follows the whole manifest only for an untargeted plan.
TEST(TargetApply, ATargetedApplyLeavesOtherInstancesProtectAlone) {
  reconcile_fixture::ReferenceRun run;
  manifest::Manifest m;
  auto keep = instance("default", "keep", {{"type", "r2"}, {"source", "keep-a"}});
  keep.protect = true;
  declare(m, keep);
  declare(m, instance("default", "docs", {{"type", "r2"}, {"source", "docs"}}));
  run.plan_apply(m);
  ASSERT_TRUE(run.store.saved().owned.at("default/keep").protect);

  // One change takes protect off keep, changes its source and allows the replace; docs changes.
  auto& k = m.namespaces["default"].instances["keep"];
  k.protect = false;
  k.allow_replace = true;
  k.fields["source"] = "keep-b";
  m.namespaces["default"].instances["docs"].fields["max_num_results"] = 20;
  const auto before = run.store.saved();
  auto targeted = reconcile::restrict_to_targets(run.plan(m), {"default/docs"}, m, before);
  run.apply(targeted, m);
  EXPECT_TRUE(run.store.saved().owned.at("default/keep").protect)
      << "a targeted apply of docs released keep's protect";

  // The whole plan then still shows keep's replace blocked by protect, as without the step.
  const auto whole = run.plan(m);
  const auto* replace = find(whole, "default/keep");
  ASSERT_NE(replace, nullptr);
  ASSERT_TRUE(replace->blocked);
  EXPECT_EQ(replace->blocked->rail, "protected");
}
