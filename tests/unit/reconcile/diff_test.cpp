#include "reconcile/diff.hpp"

#include <gtest/gtest.h>

#include <random>

#include "reconcile/compare.hpp"
#include "unit/reconcile/fixture.hpp"

using nlohmann::json;
using reconcile::Action;
using reconcile::Reason;
using namespace reconcile_fixture;

TEST(Diff, CreatesAMissingInstanceWithUpdateOnlyFieldsInAFollowUp) {
  manifest::Manifest m;
  declare(m, instance("default", "docs", {{"type", "r2"}, {"source", "bucket"}, {"paused", true}}));
  auto plan = reconcile::diff(m, observed_with({}), {});
  ASSERT_EQ(plan.changes.size(), 1u);
  const auto& c = plan.changes[0];
  EXPECT_EQ(c.action, Action::create);
  EXPECT_EQ(c.reason, Reason::config);
  EXPECT_EQ(c.body, (json{{"id", "docs"}, {"type", "r2"}, {"source", "bucket"}}));
  EXPECT_EQ(c.followup_update, (json{{"paused", true}}));
  EXPECT_EQ(plan.summary().create, 1);
}

TEST(Diff, ServerDefaultsNumbersByValueAndEnumCaseAreNotDrift) {
  manifest::Manifest m;
  declare(m, instance("default", "docs",
                      {{"type", "R2"},
                       {"source", "bucket"},
                       {"score_threshold", 0.4},
                       {"chunk_size", 256},
                       {"index_method", {{"keyword", true}, {"vector", true}}}}));
  state::State s;
  own(s, "default", "docs");
  auto plan = reconcile::diff(
      m,
      observed_with({remote("default", "docs",
                            {{"type", "r2"}, {"source", "bucket"}, {"chunk_size", 256.0}})}),
      s);
  EXPECT_TRUE(plan.changes.empty());
  EXPECT_FALSE(plan.has_changes());
}

TEST(Diff, ManifestChangeIsConfigAndRemoteChangeIsDriftWithModifiedBy) {
  manifest::Manifest m;
  declare(m, instance("default", "docs", {{"max_num_results", 20}}));
  state::State s;
  // Last applied 20: the remote changed, so it is drift.
  own(s, "default", "docs", false, {{"max_num_results", reconcile::digest(json(20))}});
  auto obs = observed_with({remote("default", "docs", {{"max_num_results", 5}})});
  auto plan = reconcile::diff(m, obs, s);
  ASSERT_EQ(plan.changes.size(), 1u);
  EXPECT_EQ(plan.changes[0].action, Action::update);
  EXPECT_EQ(plan.changes[0].reason, Reason::drift);
  EXPECT_EQ(plan.changes[0].modified_by, "alice@example.com");
  ASSERT_EQ(plan.changes[0].fields.size(), 1u);
  EXPECT_EQ(plan.changes[0].fields[0].before, json(5));
  EXPECT_EQ(plan.changes[0].fields[0].after, json(20));
  EXPECT_EQ(plan.changes[0].body, (json{{"max_num_results", 20}}));

  // Last applied 10: the manifest changed, so it is config.
  own(s, "default", "docs", false, {{"max_num_results", reconcile::digest(json(10))}});
  plan = reconcile::diff(m, obs, s);
  EXPECT_EQ(plan.changes[0].reason, Reason::config);
  EXPECT_TRUE(plan.changes[0].modified_by.empty());

  // drift: report blocks drift-only corrections.
  own(s, "default", "docs", false, {{"max_num_results", reconcile::digest(json(20))}});
  plan = reconcile::diff(m, obs, s, {.correct_drift = false});
  ASSERT_TRUE(plan.changes[0].blocked);
  EXPECT_EQ(plan.changes[0].blocked->rail, "drift_report");
}

TEST(Diff, NestedObjectsCompareOnlyWhatIsSetAndUpdateSendsTheMergedObject) {
  manifest::Manifest m;
  declare(m, instance("default", "docs", {{"indexing_options", {{"use_ocr", true}}}}));
  state::State s;
  own(s, "default", "docs");
  auto plan = reconcile::diff(
      m,
      observed_with(
          {remote("default", "docs",
                  {{"indexing_options", {{"use_ocr", false}, {"keyword_tokenizer", "porter"}}}})}),
      s);
  ASSERT_EQ(plan.changes.size(), 1u);
  const auto& c = plan.changes[0];
  ASSERT_EQ(c.fields.size(), 1u);
  EXPECT_EQ(c.fields[0].path, "indexing_options.use_ocr");
  EXPECT_TRUE(c.fields[0].reindex);
  EXPECT_TRUE(c.reindex);
  EXPECT_EQ(c.body,
            (json{{"indexing_options", {{"use_ocr", true}, {"keyword_tokenizer", "porter"}}}}));
}

TEST(Diff, PublicEndpointParamsCompareTheSetKeysAndKeepTheOthersWhenSentWhole) {
  manifest::Manifest m;
  declare(m, instance("default", "docs", {{"public_endpoint_params", {{"enabled", true}}}}));
  state::State s;
  own(s, "default", "docs");
  // Keys the server fills in are not drift.
  auto same = reconcile::diff(
      m,
      observed_with({remote(
          "default", "docs",
          {{"public_endpoint_params", {{"enabled", true}, {"authorized_hosts", {"a.com"}}}}})}),
      s);
  EXPECT_TRUE(same.changes.empty());
  // A set key that differs is one change, and the update sends the whole object (the API replaces
  // it whole): the manifest's keys over the remote's, so keys someone else set are kept (breaker:
  // `custom_domains`, `authorized_hosts`, `rate_limit` were wiped by a change of `enabled`).
  auto plan = reconcile::diff(
      m,
      observed_with({remote(
          "default", "docs",
          {{"public_endpoint_params", {{"enabled", false}, {"authorized_hosts", {"a.com"}}}}})}),
      s);
  ASSERT_EQ(plan.changes.size(), 1u);
  EXPECT_EQ(plan.changes[0].fields[0].path, "public_endpoint_params.enabled");
  EXPECT_EQ(
      plan.changes[0].body,
      (json{{"public_endpoint_params", {{"enabled", true}, {"authorized_hosts", {"a.com"}}}}}));
}

TEST(Diff, ImmutableChangeIsAReplaceBlockedUnlessAllowed) {
  manifest::Manifest m;
  auto spec = instance("default", "docs", {{"type", "r2"}, {"source", "new-bucket"}});
  declare(m, spec);
  state::State s;
  own(s, "default", "docs");
  auto obs = observed_with({remote("default", "docs", {{"type", "r2"}, {"source", "old-bucket"}})});
  auto plan = reconcile::diff(m, obs, s);
  ASSERT_EQ(plan.changes.size(), 1u);
  EXPECT_EQ(plan.changes[0].action, Action::replace);
  EXPECT_TRUE(plan.changes[0].reindex);
  ASSERT_TRUE(plan.changes[0].blocked);
  EXPECT_EQ(plan.changes[0].blocked->rail, "replace_not_allowed");
  EXPECT_EQ(plan.summary().replace, 0);
  EXPECT_EQ(plan.summary().blocked, 1);

  m.namespaces["default"].instances["docs"].allow_replace = true;
  plan = reconcile::diff(m, obs, s);
  EXPECT_FALSE(plan.changes[0].blocked);
  EXPECT_EQ(plan.changes[0].body["source"], "new-bucket");

  own(s, "default", "docs", /*protect=*/true);
  plan = reconcile::diff(m, obs, s);
  ASSERT_TRUE(plan.changes[0].blocked);
  EXPECT_EQ(plan.changes[0].blocked->rail, "protected");
}

TEST(Diff, UnownedRemoteInstancesAreUnmanagedNeverDeleted) {
  manifest::Manifest m;
  declare(m, instance("default", "docs", {}));
  m.namespaces["default"].prune = true;
  m.namespaces["default"].max_deletes = 100;
  auto plan = reconcile::diff(
      m, observed_with({remote("default", "docs", {}), remote("default", "hand-made", {})}), {});
  // The declared one is adopted (shown: from then on prune can delete it); no write.
  ASSERT_EQ(plan.changes.size(), 1u);
  EXPECT_EQ(plan.changes[0].action, reconcile::Action::adopt);
  EXPECT_EQ(plan.changes[0].address(), "default/docs");
  EXPECT_TRUE(plan.changes[0].fields.empty());
  ASSERT_EQ(plan.unmanaged.size(), 1u);
  EXPECT_EQ(plan.unmanaged[0].id, "hand-made");
  ASSERT_EQ(plan.adopt.size(), 1u);
  EXPECT_EQ(plan.adopt[0], "default/docs");
}

TEST(Diff, DeleteRails) {
  manifest::Manifest m;
  declare(m, instance("default", "keep", {}));
  auto obs = observed_with({remote("default", "keep", {}), remote("default", "a", {}),
                            remote("default", "b", {}), remote("default", "c", {}),
                            remote("default", "p", {})});
  state::State s;
  for (const char* id : {"keep", "a", "b", "c"}) own(s, "default", id);
  own(s, "default", "p", /*protect=*/true);

  // Prune off: every delete is blocked.
  auto plan = reconcile::diff(m, obs, s);
  EXPECT_EQ(plan.summary().delete_, 0);
  EXPECT_EQ(find(plan, "default/a")->blocked->rail, "prune_disabled");
  EXPECT_EQ(find(plan, "default/p")->blocked->rail, "protected");

  // Prune on, max_deletes 2: a and b go, c is blocked, p stays protected.
  m.namespaces["default"].prune = true;
  m.namespaces["default"].max_deletes = 2;
  plan = reconcile::diff(m, obs, s);
  EXPECT_EQ(plan.summary().delete_, 2);
  EXPECT_FALSE(find(plan, "default/a")->blocked);
  EXPECT_FALSE(find(plan, "default/b")->blocked);
  EXPECT_EQ(find(plan, "default/c")->blocked->rail, "max_deletes");
  EXPECT_EQ(find(plan, "default/p")->blocked->rail, "protected");

  // A manifest that lists nothing for the namespace never empties it.
  m.namespaces["default"].instances.clear();
  m.namespaces["default"].max_deletes = 100;
  plan = reconcile::diff(m, obs, s);
  EXPECT_EQ(plan.summary().delete_, 0);
  EXPECT_EQ(find(plan, "default/keep")->blocked->rail, "never_empty");
}

TEST(Diff, AFailedListPlansNothingForThatNamespace) {
  manifest::Manifest m;
  declare(m, instance("default", "docs", {}));
  declare(m, instance("team", "kb", {}));
  m.namespaces["team"].prune = true;
  state::State s;
  own(s, "team", "old");
  auto obs = observed_with({}, {"team"});
  obs.listings["team"].error = "list failed: HTTP 503";
  auto plan = reconcile::diff(m, obs, s);
  ASSERT_EQ(plan.changes.size(), 1u);
  EXPECT_EQ(plan.changes[0].address(), "default/docs");
  ASSERT_EQ(plan.skipped_namespaces.size(), 1u);
  EXPECT_EQ(plan.skipped_namespaces[0].ns, "team");

  obs.namespaces_error = "HTTP 500";
  plan = reconcile::diff(m, obs, s);
  EXPECT_TRUE(plan.changes.empty());
  EXPECT_EQ(plan.skipped_namespaces.size(), 2u);
}

TEST(Diff, AnOwnedInstanceThatChangedNamespaceIsMoved) {
  manifest::Manifest m;
  declare(m, instance("support", "kb", {{"max_num_results", 7}}));
  state::State s;
  own(s, "default", "kb");
  auto plan = reconcile::diff(
      m, observed_with({remote("default", "kb", {{"max_num_results", 7}})}, {"support"}), s);
  ASSERT_EQ(plan.changes.size(), 1u);
  EXPECT_EQ(plan.changes[0].action, Action::move);
  EXPECT_EQ(plan.changes[0].from_ns, "default");
  EXPECT_EQ(plan.changes[0].ns, "support");
  EXPECT_TRUE(plan.changes[0].body.empty());
}

TEST(Diff, AMissingNamespaceIsCreatedBeforeItsInstances) {
  manifest::Manifest m;
  declare(m, instance("support", "kb", {}));
  m.namespaces["support"].description = "Support";
  auto plan = reconcile::diff(m, observed_with({}), {});
  ASSERT_EQ(plan.changes.size(), 2u);
  EXPECT_TRUE(plan.changes[0].is_namespace());
  EXPECT_EQ(plan.changes[0].action, Action::create);
  EXPECT_EQ(plan.changes[0].body["description"], "Support");
  EXPECT_EQ(plan.changes[1].address(), "support/kb");
}

TEST(Diff, IgnoreChangesSkipsFieldsAndPaths) {
  manifest::Manifest m;
  auto spec = instance("default", "docs",
                       {{"max_num_results", 20}, {"indexing_options", {{"use_ocr", true}}}});
  spec.ignore_changes = {"max_num_results", "indexing_options.use_ocr"};
  declare(m, spec);
  state::State s;
  own(s, "default", "docs");
  auto plan = reconcile::diff(
      m,
      observed_with({remote("default", "docs",
                            {{"max_num_results", 5}, {"indexing_options", {{"use_ocr", false}}}})}),
      s);
  EXPECT_TRUE(plan.changes.empty());
}

TEST(Diff, FieldsTheApiNeverReturnsCompareAgainstTheAppliedDigest) {
  manifest::Manifest m;
  declare(m, instance("default", "docs", {{"system_prompt_ai_search", "Be brief."}}));
  state::State s;
  own(s, "default", "docs");
  auto obs = observed_with({remote("default", "docs", {})});
  auto plan = reconcile::diff(m, obs, s);
  ASSERT_EQ(plan.changes.size(), 1u);
  EXPECT_TRUE(plan.changes[0].fields[0].unknown_before);

  own(s, "default", "docs", false,
      {{"system_prompt_ai_search", reconcile::digest(json("Be brief."))}});
  EXPECT_TRUE(reconcile::diff(m, obs, s).changes.empty());
}

TEST(Diff, UnstableFieldsAreNotReplannedEveryCycle) {
  manifest::Manifest m;
  declare(m, instance("default", "docs", {{"max_num_results", 20}}));
  state::State s;
  own(s, "default", "docs");
  s.owned["default/docs"].unstable["max_num_results"] = reconcile::digest(json(20));
  auto plan =
      reconcile::diff(m, observed_with({remote("default", "docs", {{"max_num_results", 5}})}), s);
  EXPECT_TRUE(plan.changes.empty());
  ASSERT_FALSE(plan.warnings.empty());
  EXPECT_NE(plan.warnings[0].find("unstable"), std::string::npos);
}

TEST(Diff, SensitiveValuesAreMaskedInFieldChangesButSentInTheBody) {
  manifest::Manifest m;
  json headers = {{"Authorization", "Bearer hunter2"}};
  declare(m, instance("default", "site",
                      {{"source_params",
                        {{"web_crawler", {{"parse_options", {{"include_headers", headers}}}}}}}}));
  auto plan = reconcile::diff(m, observed_with({}), {});
  ASSERT_EQ(plan.changes.size(), 1u);
  EXPECT_EQ(
      plan.changes[0].body["source_params"]["web_crawler"]["parse_options"]["include_headers"],
      headers);
  std::string shown;
  for (const auto& f : plan.changes[0].fields) shown += f.before.dump() + f.after.dump();
  EXPECT_EQ(shown.find("hunter2"), std::string::npos) << shown;
  EXPECT_NE(shown.find("(sensitive)"), std::string::npos) << shown;
}

TEST(Diff, OwnedInstanceGoneRemotelyAndFromTheManifestIsForgotten) {
  manifest::Manifest m;
  declare(m, instance("default", "docs", {}));
  state::State s;
  own(s, "default", "docs");
  own(s, "default", "gone");
  auto plan = reconcile::diff(m, observed_with({remote("default", "docs", {})}), s);
  EXPECT_TRUE(plan.changes.empty());
  ASSERT_EQ(plan.forget.size(), 1u);
  EXPECT_EQ(plan.forget[0], "default/gone");
}

// Property test: random (manifest, remote, state) triples.
namespace {

json plan_fingerprint(const reconcile::Plan& p) {
  json j = json::array();
  for (const auto& c : p.changes) {
    json fields = json::array();
    for (const auto& f : c.fields) fields.push_back({f.path, f.before, f.after});
    j.push_back({c.address(), reconcile::to_string(c.action), reconcile::to_string(c.reason),
                 c.from_ns, c.body, fields, c.blocked ? c.blocked->rail : ""});
  }
  for (const auto& u : p.unmanaged) j.push_back({u.ns, u.id});
  for (const auto& s : p.skipped_namespaces) j.push_back({s.ns, s.error});
  return j;
}

}  // namespace

TEST(DiffProperty, DeterministicNeverDeletesUnownedOrProtectedNeverTouchesFailedNamespaces) {
  std::mt19937 rng(20261128);
  const std::vector<std::string> namespaces = {"default", "alpha", "beta"};
  const std::vector<std::string> ids = {"a", "b", "c", "d", "e", "f"};
  auto coin = [&](int percent) { return static_cast<int>(rng() % 100) < percent; };
  for (int trial = 0; trial < 500; ++trial) {
    manifest::Manifest m;
    state::State s;
    reconcile::Observed o;
    o.namespaces["default"].name = "default";
    std::set<std::string> failed;
    for (const auto& ns : namespaces) {
      if (ns != "default" && coin(70)) o.namespaces[ns].name = ns;
      if (o.namespaces.count(ns)) {
        auto& listing = o.listings[ns];
        if (coin(15)) {
          listing.error = "list failed: HTTP 503";
          failed.insert(ns);
        }
      }
      if (coin(80)) {
        auto& nspec = m.namespaces[ns];
        nspec.name = ns;
        nspec.prune = coin(50);
        nspec.max_deletes = static_cast<int>(rng() % 3);
        for (const auto& id : ids) {
          if (!coin(40)) continue;
          auto spec = instance(ns, id, {{"max_num_results", static_cast<int>(rng() % 3) + 1}});
          if (coin(20)) spec.fields["source"] = coin(50) ? "x" : "y";
          spec.protect = coin(15);
          spec.allow_replace = coin(50);
          nspec.instances[id] = spec;
        }
      }
      for (const auto& id : ids) {
        if (o.namespaces.count(ns) && !failed.count(ns) && coin(40)) {
          json f = {{"max_num_results", static_cast<int>(rng() % 3) + 1}};
          if (coin(30)) f["source"] = coin(50) ? "x" : "y";
          o.listings[ns].instances.push_back(remote(ns, id, f));
        }
        if (coin(30)) own(s, ns, id, coin(20));
      }
    }
    auto plan1 = reconcile::diff(m, o, s);
    auto plan2 = reconcile::diff(m, o, s);
    ASSERT_EQ(plan_fingerprint(plan1), plan_fingerprint(plan2)) << "trial " << trial;

    for (const auto& c : plan1.changes) {
      SCOPED_TRACE("trial " + std::to_string(trial) + " " + c.address());
      EXPECT_FALSE(failed.count(c.ns)) << "acted on a namespace whose list failed";
      if (c.action == Action::move) {
        EXPECT_FALSE(failed.count(c.from_ns));
      }
      bool destroys = c.action == Action::delete_ || c.action == Action::replace;
      if (destroys && !c.blocked) {
        const auto* owned = s.find(c.ns, c.id);
        bool remote_present = false;
        for (const auto& i : o.listings[c.ns].instances)
          remote_present = remote_present || i.id == c.id;
        if (c.action == Action::delete_) {
          ASSERT_NE(owned, nullptr) << "deleted an unowned instance";
          EXPECT_TRUE(remote_present);
        }
        if (owned) {
          EXPECT_FALSE(owned->protect) << "destroyed a protected instance";
        }
        const auto* spec = m.namespaces.count(c.ns) && m.namespaces[c.ns].instances.count(c.id)
                               ? &m.namespaces[c.ns].instances[c.id]
                               : nullptr;
        if (spec) {
          EXPECT_FALSE(spec->protect);
        }
      }
    }
  }
}
