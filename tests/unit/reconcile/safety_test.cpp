// Regression tests for the reconcile safety defects of issue 12: each builds the situation a
// user met and asserts what PRODUCT.md §5/§6 promise instead.

#include <gtest/gtest.h>

#include "api/client.hpp"
#include "model/instance_fields.hpp"
#include "reconcile/apply.hpp"
#include "reconcile/compare.hpp"
#include "reconcile/diff.hpp"
#include "reconcile/observe.hpp"
#include "reconcile/render.hpp"
#include "support/fake_transport.hpp"
#include "support/memory_store.hpp"
#include "support/reference_remote.hpp"
#include "unit/reconcile/fixture.hpp"
#include "util/clock.hpp"
#include "util/strings.hpp"

using nlohmann::json;
using reconcile::Action;
using namespace reconcile_fixture;

namespace {

reconcile::Observed with_failed_list(reconcile::Observed o, const std::string& ns) {
  o.namespaces[ns].name = ns;
  o.listings[ns].instances.clear();
  o.listings[ns].error = "list failed: HTTP 500";
  return o;
}

bool has_change_for(const reconcile::Plan& plan, const std::string& id) {
  for (const auto& c : plan.changes)
    if (c.id == id) return true;
  return false;
}

// drift: report (DiffOptions' default is correct).
reconcile::DiffOptions report_mode() {
  reconcile::DiffOptions o;
  o.correct_drift = false;
  return o;
}

// The plan holds `address` as drift under drift: report (rail drift_report).
void expect_held_as_drift(const reconcile::Plan& plan, const std::string& address) {
  const auto* c = find(plan, address);
  ASSERT_NE(c, nullptr) << address;
  EXPECT_EQ(c->reason, reconcile::Reason::drift) << address;
  ASSERT_TRUE(c->blocked) << address;
  EXPECT_EQ(c->blocked->rail, "drift_report") << address;
}

// A client, state and clock around a ReferenceRemote (or any transport).
struct Rig {
  std::shared_ptr<http::Transport> transport;
  std::shared_ptr<util::FakeClock> clock =
      std::make_shared<util::FakeClock>(util::Clock::SystemTime(std::chrono::hours(500000)));
  support::MemoryStore store;
  std::unique_ptr<api::Client> client;

  explicit Rig(std::shared_ptr<http::Transport> t) : transport(std::move(t)) {
    api::ClientConfig c;
    c.api_url = support::k_fake_api_url;
    c.account_id = "acc";
    c.token = "tok";
    c.retry.max_attempts = 2;
    c.retry.jitter_seed = 1;
    c.budget.capacity = 0;
    c.concurrency = 1;
    client = std::make_unique<api::Client>(c, transport, clock);
  }

  reconcile::Plan plan(const manifest::Manifest& m, const state::State& s,
                       reconcile::DiffOptions options = {}) {
    auto observed = reconcile::observe(*client, reconcile::namespaces_to_observe(m, s), 1, s);
    return reconcile::diff(m, observed, s, options);
  }

  reconcile::ApplyResult apply(const reconcile::Plan& plan, const manifest::Manifest& m,
                               state::State s) {
    state::StateWriter writer(store, std::move(s));
    reconcile::ApplyOptions options;
    options.concurrency = 1;
    return reconcile::apply(plan, m, *client, writer, *clock, options);
  }
};

manifest::Manifest pruning(std::vector<std::string> namespaces) {
  manifest::Manifest m;
  for (const auto& n : namespaces) {
    m.namespaces[n].name = n;
    m.namespaces[n].prune = true;
    m.namespaces[n].max_deletes = 5;
  }
  return m;
}

}  // namespace

// Defect 1: a move whose target fails to list used to delete the source.
TEST(Safety, AMoveWhoseTargetListFailedDeletesNothing) {
  auto m = pruning({"a", "b"});
  declare(m, instance("a", "keep", {{"type", "r2"}}));
  declare(m, instance("b", "x", {{"type", "r2"}}));
  state::State s;
  own(s, "a", "x");
  own(s, "a", "keep");
  auto obs = with_failed_list(
      observed_with({remote("a", "x", {{"type", "r2"}}), remote("a", "keep", {{"type", "r2"}})}),
      "b");
  auto plan = reconcile::diff(m, obs, s);
  EXPECT_FALSE(has_change_for(plan, "x")) << "nothing may be planned for x in either namespace";
  EXPECT_TRUE(plan.forget.empty());
}

// Defect 1, reversed: the source fails to list; the target must not get a fresh (empty) copy.
TEST(Safety, AMoveWhoseSourceListFailedCreatesNothing) {
  auto m = pruning({"a", "b"});
  declare(m, instance("a", "keep", {{"type", "r2"}}));
  declare(m, instance("b", "x", {{"type", "r2"}}));
  state::State s;
  own(s, "a", "x");
  auto plan = reconcile::diff(m, with_failed_list(observed_with({}, {"b"}), "a"), s);
  // Shown as a blocked create (the plan differs), never done.
  const auto* c = find(plan, "b/x");
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->blocked);
  EXPECT_EQ(c->blocked->rail, "move_unknown");
  EXPECT_FALSE(plan.has_changes());
  EXPECT_TRUE(plan.has_differences());
}

// Defect 2: a move that changes source is a replace, under the replace and protect rails.
TEST(Safety, AMoveThatChangesTypeOrSourceIsAReplaceUnderItsRails) {
  auto m = pruning({"a", "b"});
  declare(m, instance("a", "keep", {{"type", "r2"}}));
  declare(m, instance("b", "x", {{"type", "web-crawler"}, {"source", "https://new.example"}}));
  state::State s;
  own(s, "a", "x");
  auto obs = observed_with({remote("a", "x", {{"type", "r2"}, {"source", "old-bucket"}}),
                            remote("a", "keep", {{"type", "r2"}})},
                           {"b"});
  auto plan = reconcile::diff(m, obs, s);
  const auto* c = find(plan, "b/x");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->action, Action::replace);
  EXPECT_EQ(c->from_ns, "a");
  ASSERT_TRUE(c->blocked);
  EXPECT_EQ(c->blocked->rail, "replace_not_allowed");
  bool type_listed = false;
  for (const auto& f : c->fields) type_listed = type_listed || f.path == "type";
  EXPECT_TRUE(type_listed) << "the type change is shown, not dropped";

  m.namespaces["b"].instances["x"].allow_replace = true;
  s.owned["a/x"].protect = true;
  plan = reconcile::diff(m, obs, s);
  ASSERT_TRUE(find(plan, "b/x")->blocked);
  EXPECT_EQ(find(plan, "b/x")->blocked->rail, "protected");

  s.owned["a/x"].protect = false;
  plan = reconcile::diff(m, obs, s);
  c = find(plan, "b/x");
  EXPECT_FALSE(c->blocked);
  EXPECT_EQ(c->body["source"], "https://new.example");
}

// An id the manifest declares anywhere is never deleted from another namespace.
TEST(Safety, AnIdDeclaredInAnotherNamespaceIsNeverDeleted) {
  auto m = pruning({"a", "b"});
  declare(m, instance("a", "keep", {{"type", "r2"}}));
  declare(m, instance("b", "x", {{"type", "r2"}}));
  state::State s;
  own(s, "a", "x");
  own(s, "b", "x");
  auto plan = reconcile::diff(
      m,
      observed_with({remote("a", "x", {{"type", "r2"}}), remote("a", "keep", {{"type", "r2"}}),
                     remote("b", "x", {{"type", "r2"}})}),
      s);
  const auto* c = find(plan, "a/x");
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->blocked);
  EXPECT_EQ(c->blocked->rail, "declared_elsewhere");
}

TEST(Safety, TwoPossibleMoveSourcesPlanNothing) {
  auto m = pruning({"a", "b", "c"});
  declare(m, instance("b", "x", {{"type", "r2"}}));
  state::State s;
  own(s, "a", "x");
  own(s, "c", "x");
  auto plan = reconcile::diff(
      m, observed_with({remote("a", "x", {{"type", "r2"}}), remote("c", "x", {{"type", "r2"}})}),
      s);
  for (const auto& c : plan.changes)
    EXPECT_TRUE(c.id != "x" || c.blocked) << c.address() << " planned";
  ASSERT_NE(find(plan, "b/x"), nullptr);
  EXPECT_EQ(find(plan, "b/x")->blocked->rail, "move_ambiguous");
  EXPECT_TRUE(plan.has_differences()) << "plan --detailed-exitcode must exit 2";
}

// Defect 5: an instance aisearchd does not own with another type/source is never adopted, so
// never replaced, even with allow_replace.
TEST(Safety, AnUnownedInstanceWithAnotherSourceIsAnAdoptConflict) {
  manifest::Manifest m;
  auto spec = instance("default", "x", {{"type", "r2"}, {"source", "mine"}});
  spec.allow_replace = true;
  declare(m, spec);
  auto plan = reconcile::diff(
      m, observed_with({remote("default", "x", {{"type", "r2"}, {"source", "theirs"}})}), {});
  ASSERT_EQ(plan.changes.size(), 1u);
  ASSERT_TRUE(plan.changes[0].blocked);
  EXPECT_EQ(plan.changes[0].blocked->rail, "adopt_conflict");
  EXPECT_TRUE(plan.adopt.empty());
  EXPECT_FALSE(plan.has_changes());
}

// Defect 5: a replace is a delete: max_deletes counts it.
TEST(Safety, ReplacesCountAgainstMaxDeletes) {
  manifest::Manifest m;
  m.namespaces["default"].max_deletes = 1;
  for (const char* id : {"p", "q"}) {
    auto spec = instance("default", id, {{"type", "r2"}, {"source", "new"}});
    spec.allow_replace = true;
    declare(m, spec);
  }
  state::State s;
  own(s, "default", "p");
  own(s, "default", "q");
  auto plan = reconcile::diff(m,
                              observed_with({remote("default", "p", {{"source", "old"}}),
                                             remote("default", "q", {{"source", "old"}})}),
                              s);
  EXPECT_EQ(plan.summary().replace, 1);
  ASSERT_TRUE(find(plan, "default/q")->blocked);
  EXPECT_EQ(find(plan, "default/q")->blocked->rail, "max_deletes");
}

// Defect 4: a short page (an item left out, total_count unchanged) is a partial list: the
// namespace is skipped; the owned instance left out is neither forgotten nor re-created.
TEST(Safety, AShortListForgetsAndCreatesNothing) {
  auto remote_side = std::make_shared<support::ReferenceRemote>();
  manifest::Manifest m;
  state::State s;
  for (int i = 0; i < 150; ++i) {
    std::string id = "i" + std::to_string(1000 + i);
    remote_side->add_instance("default", {{"id", id}, {"type", "r2"}});
    declare(m, instance("default", id, {{"type", "r2"}}));
    own(s, "default", id, i == 120);
  }
  m.namespaces["default"].prune = true;
  Rig rig(remote_side);
  // Requests: the namespace list, then page 1 and page 2 of default: page 2 comes back short.
  remote_side->fault_at(2, support::ReferenceRemote::Fault::short_page);
  auto plan = rig.plan(m, s);
  EXPECT_TRUE(plan.changes.empty());
  EXPECT_TRUE(plan.forget.empty());
  ASSERT_EQ(plan.skipped_namespaces.size(), 1u);
  EXPECT_EQ(plan.skipped_namespaces[0].ns, "default");
}

// A list whose pages add up can still leave an instance out: offset pages read while someone
// deletes an instance listed on an earlier page and adds another. A move of the owned instance
// left out was planned as a create in the target, and its record forgotten (a second, empty
// index beside an orphan). The instance is confirmed with a GET: found, the list is partial.
TEST(Safety, AnOwnedInstanceLeftOutOfAListThatAddsUpIsConfirmedBeforeAMoveCreates) {
  auto remote_side = std::make_shared<support::ReferenceRemote>();
  remote_side->add_namespace("a");
  remote_side->add_namespace("b");
  for (int i = 0; i < 100; ++i)
    remote_side->add_instance(
        "a", {{"id", "f" + std::to_string(100 + i)}, {"type", "r2"}, {"source", "hand-bucket"}});
  remote_side->add_instance("a", {{"id", "x"}, {"type", "r2"}, {"source", "bkt-x"}});
  for (int i = 0; i < 9; ++i)
    remote_side->add_instance(
        "a", {{"id", "y" + std::to_string(i)}, {"type", "r2"}, {"source", "hand-bucket"}});
  auto m = pruning({"a", "b"});
  declare(m, instance("b", "x", {{"type", "r2"}, {"source", "bkt-x"}}));
  state::State s;
  own(s, "a", "x");
  Rig rig(remote_side);
  // Requests: the namespace list, a's page 1, a's page 2 (x moved up to page 1 and is not seen;
  // a late arrival ends the list, so 110 items add up to total_count 110), then the GET of a/x.
  remote_side->fault_at(2, support::ReferenceRemote::Fault::shifted_page);
  auto plan = rig.plan(m, s);
  const auto* create = find(plan, "b/x");
  ASSERT_NE(create, nullptr) << reconcile::render_text(plan, {});
  ASSERT_TRUE(create->blocked);
  EXPECT_EQ(create->blocked->rail, "move_unknown");
  EXPECT_TRUE(plan.forget.empty());
  ASSERT_EQ(plan.skipped_namespaces.size(), 1u) << reconcile::render_text(plan, {});
  EXPECT_EQ(plan.skipped_namespaces[0].ns, "a");
  EXPECT_NE(plan.skipped_namespaces[0].error.find("a/x is missing from it but exists"),
            std::string::npos)
      << plan.skipped_namespaces[0].error;

  // Confirmed gone (404): the list is taken as it is, and the move is a create in b.
  remote_side->clear_faults();
  remote_side->remove_instance("a", "x");
  auto gone = rig.plan(m, s);
  ASSERT_NE(find(gone, "b/x"), nullptr) << reconcile::render_text(gone, {});
  EXPECT_EQ(find(gone, "b/x")->action, Action::create);
  EXPECT_TRUE(gone.skipped_namespaces.empty());
}

// A replace (or prune) killed after its DELETE went out leaves the record marked `deleting`. If
// someone else then makes an instance under the id, with another source, the record is not
// ownership of it: it was replaced (deleted) or pruned as if it were aisearchd's.
TEST(Safety, AnInstanceRemadeBySomeoneElseAfterOurDeleteIsNotOurs) {
  state::State s;
  own(s, "a", "x", false,
      {{"type", reconcile::digest("r2")}, {"source", reconcile::digest("bkt-x")}});
  s.owned["a/x"].deleting = true;
  s.owned["a/x"].deleting_identity =
      reconcile::identity_digest(remote("a", "x", {{"type", "r2"}, {"source", "bkt-x"}}).raw);
  const auto mallory = remote("a", "x", {{"type", "r2"}, {"source", "mallory-bkt"}});

  // Still declared, with the new source the interrupted replace was for.
  auto m = pruning({"a"});
  auto spec = instance("a", "x", {{"type", "r2"}, {"source", "bkt-x2"}});
  spec.allow_replace = true;
  declare(m, spec);
  auto plan = reconcile::diff(m, observed_with({mallory}), s);
  const auto* c = find(plan, "a/x");
  ASSERT_NE(c, nullptr) << reconcile::render_text(plan, {});
  ASSERT_TRUE(c->blocked) << reconcile::render_text(plan, {});
  EXPECT_EQ(c->blocked->rail, "adopt_conflict");
  EXPECT_TRUE(std::find(plan.adopt.begin(), plan.adopt.end(), "a/x") == plan.adopt.end());

  // Removed from the manifest (prune on): not deleted, listed as unmanaged, the record goes.
  auto pruned = pruning({"a"});
  declare(pruned, instance("a", "keep", {{"type", "r2"}, {"source", "keep-bkt"}}));
  auto plan2 = reconcile::diff(
      pruned,
      observed_with({mallory, remote("a", "keep", {{"type", "r2"}, {"source", "keep-bkt"}})}), s);
  EXPECT_EQ(find(plan2, "a/x"), nullptr) << reconcile::render_text(plan2, {});
  EXPECT_TRUE(std::find(plan2.adopt.begin(), plan2.adopt.end(), "a/x") == plan2.adopt.end());
  EXPECT_TRUE(std::find(plan2.forget.begin(), plan2.forget.end(), "a/x") != plan2.forget.end());

  // Someone made it again with the very type and source aisearchd's DELETE removed: a new
  // instance all the same (its created_at tells), never replaced, pruned or adopted.
  auto same_source = remote("a", "x", {{"type", "r2"}, {"source", "bkt-x"}});
  same_source.raw["created_at"] = "2026-02-01T00:00:00Z";
  auto plan_same = reconcile::diff(m, observed_with({same_source}), s);
  ASSERT_NE(find(plan_same, "a/x"), nullptr);
  EXPECT_TRUE(find(plan_same, "a/x")->blocked) << reconcile::render_text(plan_same, {});
  auto pruned_same = reconcile::diff(
      pruned,
      observed_with({same_source, remote("a", "keep", {{"type", "r2"}, {"source", "keep-bkt"}})}),
      s);
  EXPECT_EQ(find(pruned_same, "a/x"), nullptr) << reconcile::render_text(pruned_same, {});

  // The same id there as the DELETE was for: it did not happen; still ours, replaced again.
  const auto ours = remote("a", "x", {{"type", "r2"}, {"source", "bkt-x"}});
  auto plan3 = reconcile::diff(m, observed_with({ours}), s);
  ASSERT_NE(find(plan3, "a/x"), nullptr);
  EXPECT_EQ(find(plan3, "a/x")->action, Action::replace);
  EXPECT_FALSE(find(plan3, "a/x")->blocked) << reconcile::render_text(plan3, {});

  // The DELETE was for an instance whose source had been changed outside (the replace corrects
  // drift): the record's digests say bkt-x, the instance had drifted-bkt; it is still ours.
  const auto drifted = remote("a", "x", {{"type", "r2"}, {"source", "drifted-bkt"}});
  s.owned["a/x"].deleting_identity = reconcile::identity_digest(drifted.raw);
  auto plan4 = reconcile::diff(m, observed_with({drifted}), s);
  ASSERT_NE(find(plan4, "a/x"), nullptr);
  EXPECT_EQ(find(plan4, "a/x")->action, Action::replace);
  EXPECT_FALSE(find(plan4, "a/x")->blocked) << reconcile::render_text(plan4, {});
  // The plan's replace carries the identity its DELETE saves with the mark.
  EXPECT_EQ(find(plan4, "a/x")->deletes_identity, reconcile::identity_digest(drifted.raw));
}

// Model checker (seed 252072): a create met someone else's instance (7022) and the GET that
// would have told was lost, then the run was killed: the create's record stayed (pending) for
// good. An instance of another type or source than the POST sent is not ours: the record goes.
TEST(Safety, ACreateRecordWhoseIdHoldsSomeoneElsesInstanceGoes) {
  manifest::Manifest m;
  declare(m, instance("c", "x9", {{"type", "r2"}, {"source", "s2"}}));
  state::State s;
  own(s, "c", "x9", false,
      {{"type", reconcile::digest("r2")}, {"source", reconcile::digest("s2")}});
  s.owned["c/x9"].pending_create = true;
  auto plan =
      reconcile::diff(m, observed_with({remote("c", "x9", {{"type", "r2"}, {"source", "s3"}})}), s);
  const auto* c = find(plan, "c/x9");
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->blocked);
  EXPECT_EQ(c->blocked->rail, "adopt_conflict");
  EXPECT_NE(std::find(plan.forget.begin(), plan.forget.end(), "c/x9"), plan.forget.end());
  EXPECT_EQ(std::find(plan.adopt.begin(), plan.adopt.end(), "c/x9"), plan.adopt.end());
}

// Defect 6: an ignored sub-path of a free-form map is not compared.
TEST(Safety, AnIgnoredPathInsideAWholeComparedMapIsNotPlanned) {
  manifest::Manifest m;
  const std::string headers = "source_params.web_crawler.parse_options.include_headers";
  auto spec = instance(
      "default", "x",
      {{"source_params",
        {{"web_crawler",
          {{"parse_options", {{"include_headers", {{"x-rotating", "a"}, {"x-static", "s"}}}}}}}}}});
  spec.ignore_changes = {headers + ".x-rotating"};
  declare(m, spec);
  state::State s;
  own(s, "default", "x");
  auto plan = reconcile::diff(
      m,
      observed_with(
          {remote("default", "x",
                  {{"source_params",
                    {{"web_crawler",
                      {{"parse_options",
                        {{"include_headers", {{"x-rotating", "b"}, {"x-static", "s"}}}}}}}}}})}),
      s);
  EXPECT_TRUE(plan.changes.empty());
}

// Defect 6: a PUT of an object that holds an ignored path carries the remote value there.
TEST(Safety, AnUpdateCarriesTheRemoteValueOfAnIgnoredPath) {
  manifest::Manifest m;
  auto spec = instance("default", "x",
                       {{"source_params", {{"prefix", "mine/"}, {"include_items", {"a/**"}}}}});
  spec.ignore_changes = {"source_params.prefix"};
  declare(m, spec);
  state::State s;
  own(s, "default", "x");
  auto plan = reconcile::diff(
      m,
      observed_with(
          {remote("default", "x",
                  {{"source_params", {{"prefix", "theirs/"}, {"include_items", {"b/**"}}}}})}),
      s);
  ASSERT_EQ(plan.changes.size(), 1u);
  EXPECT_EQ(plan.changes[0].body["source_params"]["prefix"], "theirs/");
  EXPECT_EQ(plan.changes[0].body["source_params"]["include_items"], json({"a/**"}));
  ASSERT_EQ(plan.changes[0].fields.size(), 1u);
  EXPECT_EQ(plan.changes[0].fields[0].path, "source_params.include_items");
}

// Breaker: an ignore_changes path inside array items (retrieval_options.boost_by.direction) was
// erased from the PUT on a sibling change; so was a key someone added to an item without any
// ignore_changes. Both keep the remote's value, item by item.
TEST(Safety, AnUpdateKeepsRemoteKeysInsideArrayItems) {
  for (bool ignored : {true, false}) {
    manifest::Manifest m;
    auto spec = instance("default", "x",
                         {{"retrieval_options",
                           {{"keyword_match_mode", "or"}, {"boost_by", {{{"field", "year"}}}}}}});
    if (ignored) spec.ignore_changes = {"retrieval_options.boost_by.direction"};
    declare(m, spec);
    state::State s;
    own(s, "default", "x");
    auto plan = reconcile::diff(
        m,
        observed_with({remote("default", "x",
                              {{"retrieval_options",
                                {{"keyword_match_mode", "and"},
                                 {"boost_by", {{{"field", "year"}, {"direction", "desc"}}}}}}})}),
        s);
    ASSERT_EQ(plan.changes.size(), 1u) << ignored;
    const auto& body = plan.changes[0].body["retrieval_options"];
    EXPECT_EQ(body["keyword_match_mode"], "or") << ignored;
    EXPECT_EQ(body["boost_by"], json({{{"field", "year"}, {"direction", "desc"}}}))
        << (ignored ? "ignored path" : "a key the manifest does not set") << ": " << body.dump();
  }
}

// Defect 7: a header removed from the manifest is removed by the update (the map is sent whole).
TEST(Safety, AKeyRemovedFromAFreeFormMapIsRemoved) {
  manifest::Manifest m;
  auto headers = [](json h) {
    return json{
        {"source_params", {{"web_crawler", {{"parse_options", {{"include_headers", h}}}}}}}};
  };
  declare(m, instance("default", "x", headers({{"x-a", "1"}})));
  state::State s;
  own(s, "default", "x");
  auto plan = reconcile::diff(
      m, observed_with({remote("default", "x", headers({{"x-a", "1"}, {"x-secret", "2"}}))}), s);
  ASSERT_EQ(plan.changes.size(), 1u);
  EXPECT_EQ(
      plan.changes[0].body["source_params"]["web_crawler"]["parse_options"]["include_headers"],
      json({{"x-a", "1"}}));
}

// Defect 8: sensitivity is by whole words, not substrings.
TEST(Safety, SensitiveNamesAreWholeWords) {
  EXPECT_FALSE(model::is_sensitive_path("indexing_options.keyword_tokenizer"));
  EXPECT_FALSE(model::is_sensitive_path("token_id"));
  EXPECT_FALSE(model::is_sensitive_path("max_num_results"));
  EXPECT_TRUE(model::is_sensitive_path("metadata.access_token"));
  EXPECT_TRUE(model::is_sensitive_path("metadata.client_secret"));
  EXPECT_TRUE(model::is_sensitive_path("metadata.X-Api-Key"));
  EXPECT_TRUE(model::is_sensitive_path("metadata.apiKey"));
  EXPECT_TRUE(model::is_sensitive_path(
      "source_params.web_crawler.parse_options.include_headers.x-anything"));
  EXPECT_EQ(reconcile::mask_sensitive("indexing_options", {{"keyword_tokenizer", "porter"}}),
            json({{"keyword_tokenizer", "porter"}}));
}

// Defect 9: drift: report never re-creates an instance deleted outside aisearchd, and a plan
// whose only changes are blocked still reports differences (--detailed-exitcode exits 2).
TEST(Safety, ReportModeDoesNotRecreateAndStillReportsTheDifference) {
  manifest::Manifest m;
  declare(m, instance("default", "x", {{"type", "r2"}}));
  state::State s;
  own(s, "default", "x");
  const auto report = report_mode();
  auto plan = reconcile::diff(m, observed_with({}), s, report);
  ASSERT_EQ(plan.changes.size(), 1u);
  ASSERT_TRUE(plan.changes[0].blocked);
  EXPECT_EQ(plan.changes[0].blocked->rail, "drift_report");
  EXPECT_FALSE(plan.has_changes());
  EXPECT_TRUE(plan.has_differences());
}

// Defect 10: a key the server adds to every array item is not drift.
TEST(Safety, AKeyTheServerAddsToArrayItemsIsNotDrift) {
  manifest::Manifest m;
  declare(m,
          instance("default", "x", {{"retrieval_options", {{"boost_by", {{{"field", "year"}}}}}}}));
  state::State s;
  own(s, "default", "x");
  auto plan = reconcile::diff(
      m,
      observed_with({remote(
          "default", "x",
          {{"retrieval_options", {{"boost_by", {{{"field", "year"}, {"dataType", "number"}}}}}}})}),
      s);
  EXPECT_TRUE(plan.changes.empty());
}

// API.md §12: token_id reads back as null; it compares against what was last applied.
TEST(Safety, AWriteOnlyTokenIdReadBackAsNullIsNotDrift) {
  const std::string token = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b";
  manifest::Manifest m;
  declare(m, instance("default", "x", {{"token_id", token}}));
  state::State s;
  own(s, "default", "x", false, {{"token_id", reconcile::digest(json(token))}});
  auto plan =
      reconcile::diff(m, observed_with({remote("default", "x", {{"token_id", nullptr}})}), s);
  EXPECT_TRUE(plan.changes.empty());
}

// Defect 3: "already exists" on create adopts only an instance whose type and source match,
// and then sends only the fields that differ (never `source`).
TEST(Safety, AlreadyExistsAdoptsOnlyAMatchingInstanceAndSendsOnlyWhatDiffers) {
  auto remote_side = std::make_shared<support::ReferenceRemote>();
  Rig rig(remote_side);
  manifest::Manifest m;
  declare(m,
          instance("default", "x", {{"type", "r2"}, {"source", "mine"}, {"max_num_results", 7}}));
  auto plan = rig.plan(m, {});
  ASSERT_EQ(plan.summary().create, 1);

  // Someone made it meanwhile, from another bucket: not adopted, nothing written to it.
  remote_side->add_instance("default", {{"id", "x"}, {"type", "r2"}, {"source", "theirs"}});
  remote_side->clear_writes();
  auto result = rig.apply(plan, m, {});
  EXPECT_EQ(result.failed, 1);
  EXPECT_NE(result.results[0].error.find("adopt_conflict"), std::string::npos);
  EXPECT_EQ(remote_side->instances()["default"]["x"]["source"], "theirs");
  EXPECT_TRUE(remote_side->writes().empty());
  EXPECT_FALSE(rig.store.saved().owns("default", "x"));

  // Made from the same bucket: adopted, and only max_num_results is sent.
  remote_side->remove_instance("default", "x");
  remote_side->add_instance("default", {{"id", "x"}, {"type", "r2"}, {"source", "mine"}});
  result = rig.apply(plan, m, {});
  EXPECT_EQ(result.done, 1);
  auto writes = remote_side->writes();
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes[0].method, "PUT");
  EXPECT_EQ(writes[0].body, json({{"max_num_results", 7}}));
  EXPECT_TRUE(rig.store.saved().owns("default", "x"));
}

// Defect 11: an update of another field keeps the unstable mark of a field it did not send.
TEST(Safety, AnUnrelatedUpdateKeepsTheUnstableMark) {
  auto remote_side = std::make_shared<support::ReferenceRemote>();
  remote_side->add_instance("default", {{"id", "x"}, {"max_num_results", 5}, {"paused", false}});
  Rig rig(remote_side);
  manifest::Manifest m;
  declare(m, instance("default", "x", {{"max_num_results", 7}, {"paused", true}}));
  state::State s;
  own(s, "default", "x");
  s.owned["default/x"].unstable["paused"] = reconcile::digest(json(true));
  auto plan = rig.plan(m, s);
  ASSERT_EQ(plan.summary().update, 1);
  rig.apply(plan, m, s);
  auto saved = rig.store.saved();
  ASSERT_TRUE(saved.owns("default", "x"));
  EXPECT_EQ(saved.owned["default/x"].unstable.count("paused"), 1u);
  EXPECT_TRUE(rig.plan(m, saved).changes.empty()) << "paused is not re-sent";
}

// Defect 12: forgetting an instance drops its sync history too.
TEST(Safety, ForgettingAnInstanceDropsItsSyncHistory) {
  auto remote_side = std::make_shared<support::ReferenceRemote>();
  Rig rig(remote_side);
  manifest::Manifest m;
  declare(m, instance("default", "keep", {{"type", "r2"}}));
  remote_side->add_instance("default", {{"id", "keep"}, {"type", "r2"}});
  state::State s;
  own(s, "default", "keep");
  own(s, "default", "gone");
  s.sync["default/gone"].last_job_id = "job-1";
  auto plan = rig.plan(m, s);
  ASSERT_EQ(plan.forget, std::vector<std::string>{"default/gone"});
  rig.apply(plan, m, s);
  EXPECT_EQ(rig.store.saved().sync.count("default/gone"), 0u);
}

// Defect 12: only "already exists" makes a namespace create a success, not any 409.
TEST(Safety, ANamespaceConflictOtherThanAlreadyExistsFails) {
  auto fake = std::make_shared<support::FakeTransport>();
  fake->on("POST", "/accounts/acc/ai-search/namespaces", [](const support::RecordedRequest&) {
    return support::FakeTransport::json_response(
        409, support::error_envelope(7099, "modified concurrently, try again"));
  });
  Rig rig(fake);
  manifest::Manifest m;
  m.namespaces["team"].name = "team";
  reconcile::Plan plan;
  reconcile::Change c;
  c.action = Action::create;
  c.ns = "team";
  c.body = {{"name", "team"}};
  plan.changes.push_back(c);
  auto result = rig.apply(plan, m, {});
  EXPECT_EQ(result.failed, 1);
}

// A move whose state record was lost (a crash after the PATCH): the instance is adopted where
// it is now, and its sync history follows it.
TEST(Safety, AnInstanceFoundMovedIsAdoptedWithItsHistory) {
  auto remote_side = std::make_shared<support::ReferenceRemote>();
  remote_side->add_namespace("a");
  remote_side->add_instance("b", {{"id", "x"}, {"type", "r2"}});
  Rig rig(remote_side);
  auto m = pruning({"a", "b"});
  declare(m, instance("b", "x", {{"type", "r2"}}));
  state::State s;
  own(s, "a", "x");
  s.sync["a/x"].last_job_id = "job-7";
  auto plan = rig.plan(m, s);
  EXPECT_EQ(plan.adopt, std::vector<std::string>{"b/x"});
  EXPECT_EQ(plan.forget, std::vector<std::string>{"a/x"});
  rig.apply(plan, m, s);
  auto saved = rig.store.saved();
  EXPECT_TRUE(saved.owns("b", "x"));
  EXPECT_FALSE(saved.owns("a", "x"));
  EXPECT_EQ(saved.sync["b/x"].last_job_id, "job-7");
}

// a/x (owned, from `source`) and a/keep (owned, declared) remotely, namespace b empty; the
// manifest prunes a and b and declares keep: each test declares x where it goes.
struct MoveSetup {
  std::shared_ptr<support::ReferenceRemote> remote = std::make_shared<support::ReferenceRemote>();
  manifest::Manifest manifest = pruning({"a", "b"});
  state::State state;
  explicit MoveSetup(const std::string& source) {
    remote->add_instance("a", {{"id", "x"}, {"type", "r2"}, {"source", source}});
    remote->add_instance("a", {{"id", "keep"}, {"type", "r2"}});
    remote->add_namespace("b");
    declare(manifest, instance("a", "keep", {{"type", "r2"}}));
    own(state, "a", "x");
    own(state, "a", "keep");
  }
};

// A move that changes source, once allowed: deleted where it was, created where it goes.
TEST(Safety, AnAllowedReplacingMoveDeletesTheSourceAndCreatesTheTarget) {
  MoveSetup setup("old");
  auto& remote_side = setup.remote;
  auto& m = setup.manifest;
  const auto& s = setup.state;
  Rig rig(remote_side);
  auto spec = instance("b", "x", {{"type", "r2"}, {"source", "new"}});
  spec.allow_replace = true;
  declare(m, spec);
  auto plan = rig.plan(m, s);
  ASSERT_EQ(plan.summary().replace, 1);
  auto result = rig.apply(plan, m, s);
  EXPECT_TRUE(result.ok());
  EXPECT_FALSE(remote_side->has("a", "x"));
  EXPECT_EQ(remote_side->instances()["b"]["x"]["source"], "new");
  auto saved = rig.store.saved();
  EXPECT_TRUE(saved.owns("b", "x"));
  EXPECT_FALSE(saved.owns("a", "x"));
  EXPECT_FALSE(rig.plan(m, saved).has_changes());
}

// A move whose answer was lost is retried; the retry meets "not found" because the first attempt
// moved it. The move happened: the destination stays ours (found by the model checker).
TEST(Safety, AMoveWhoseAnswerWasLostStaysOwnedWhereItWent) {
  MoveSetup setup("s");
  auto& remote_side = setup.remote;
  auto& m = setup.manifest;
  const auto& s = setup.state;
  Rig rig(remote_side);
  declare(m, instance("b", "x", {{"type", "r2"}, {"source", "s"}}));
  auto plan = rig.plan(m, s);
  ASSERT_EQ(plan.summary().move, 1);
  remote_side->fault_at(remote_side->request_count(), support::ReferenceRemote::Fault::lost);
  auto result = rig.apply(plan, m, s);
  EXPECT_TRUE(result.ok()) << (result.results.empty() ? "" : result.results[0].error);
  EXPECT_TRUE(remote_side->has("b", "x"));
  auto saved = rig.store.saved();
  EXPECT_TRUE(saved.owns("b", "x")) << "the moved instance is still aisearchd's";
  EXPECT_FALSE(saved.owns("a", "x"));
  EXPECT_FALSE(rig.plan(m, saved).has_changes());
}

// Taking `protect` off in the same change as a source change does not let a later run replace
// the instance unseen: the record stays protected until a run without the replace releases it,
// and only then does a plan show the replace (found by the model checker).
TEST(Safety, ProtectIsReleasedOnlyByARunThatDoesNotAlsoReplace) {
  auto remote_side = std::make_shared<support::ReferenceRemote>();
  remote_side->add_instance("default", {{"id", "x"}, {"type", "r2"}, {"source", "old"}});
  Rig rig(remote_side);
  manifest::Manifest m;
  auto spec = instance("default", "x", {{"type", "r2"}, {"source", "new"}});
  spec.allow_replace = true;  // protect: false
  declare(m, spec);
  state::State s;
  own(s, "default", "x", /*protect=*/true);
  auto plan = rig.plan(m, s);
  ASSERT_NE(find(plan, "default/x"), nullptr);
  ASSERT_TRUE(find(plan, "default/x")->blocked);
  EXPECT_EQ(find(plan, "default/x")->blocked->rail, "protected");
  rig.apply(plan, m, s);
  EXPECT_TRUE(remote_side->writes().empty());
  auto saved = rig.store.saved();
  EXPECT_TRUE(saved.owned["default/x"].protect) << "released in the same run as the replace";
  ASSERT_TRUE(find(rig.plan(m, saved), "default/x")->blocked) << "the next run would replace";

  // protect: false applied on its own releases it; then the replace shows, unblocked.
  m.namespaces["default"].instances["x"].fields["source"] = "old";
  plan = rig.plan(m, saved);
  EXPECT_FALSE(plan.has_changes());
  rig.apply(plan, m, saved);
  saved = rig.store.saved();
  EXPECT_FALSE(saved.owned["default/x"].protect);
  m.namespaces["default"].instances["x"].fields["source"] = "new";
  plan = rig.plan(m, saved);
  ASSERT_NE(find(plan, "default/x"), nullptr);
  EXPECT_EQ(find(plan, "default/x")->action, Action::replace);
  EXPECT_FALSE(find(plan, "default/x")->blocked);
}

// A move that also changes type/source outside aisearchd is drift: drift: report holds it.
TEST(Safety, ReportModeHoldsAReplacingMoveCausedByDrift) {
  manifest::Manifest m;
  auto spec = instance("b", "x", {{"type", "r2"}, {"source", "mine"}});
  spec.allow_replace = true;
  declare(m, spec);
  state::State s;
  own(s, "a", "x", false,
      {{"type", reconcile::digest(json("r2"))}, {"source", reconcile::digest(json("mine"))}});
  auto obs = observed_with({remote("a", "x", {{"type", "r2"}, {"source", "theirs"}})}, {"b"});
  const auto report = report_mode();
  auto plan = reconcile::diff(m, obs, s, report);
  const auto* c = find(plan, "b/x");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->action, Action::replace);
  EXPECT_EQ(c->reason, reconcile::Reason::drift);
  ASSERT_TRUE(c->blocked);
  EXPECT_EQ(c->blocked->rail, "drift_report");
  // In correct mode the drift is corrected, as in place.
  EXPECT_FALSE(find(reconcile::diff(m, obs, s), "b/x")->blocked);
}

// drift: report: an update the manifest asked for does not carry a field that differs only by
// drift; that field is reported in a warning (found by the model checker, with a move).
TEST(Safety, ReportModeSendsOnlyWhatTheManifestChanged) {
  manifest::Manifest m;
  declare(m, instance("default", "x", {{"max_num_results", 20}, {"paused", false}}));
  state::State s;
  own(s, "default", "x", false,
      {{"max_num_results", reconcile::digest(json(10))},
       {"paused", reconcile::digest(json(false))}});
  auto obs = observed_with({remote("default", "x", {{"max_num_results", 10}, {"paused", true}})});
  const auto report = report_mode();
  auto plan = reconcile::diff(m, obs, s, report);
  const auto* c = find(plan, "default/x");
  ASSERT_NE(c, nullptr);
  EXPECT_FALSE(c->blocked);
  EXPECT_EQ(c->body, json({{"max_num_results", 20}})) << "paused was changed outside: not sent";
  ASSERT_EQ(c->fields.size(), 1u);
  bool warned = false;
  for (const auto& w : plan.warnings) warned = warned || w.find("paused") != std::string::npos;
  EXPECT_TRUE(warned);
  // drift: correct sends both.
  EXPECT_EQ(find(reconcile::diff(m, obs, s), "default/x")->body.size(), 2u);
}

// Breaker: drift: report with the manifest changing one key of an object and the remote another
// key of it. The update sends the manifest's change and keeps the remote's value of the key that
// drifted (state keeps digests per path inside objects); the drifted key is reported.
TEST(Safety, ReportModeKeepsADriftedKeyInsideAnObjectTheManifestChanged) {
  const json before = {{"indexing_options", {{"keyword_tokenizer", "porter"}, {"use_ocr", false}}}};
  const json after = {{"indexing_options", {{"keyword_tokenizer", "porter"}, {"use_ocr", true}}}};
  manifest::Manifest m;
  declare(m, instance("default", "x", after));
  state::State s;
  own(s, "default", "x", false, reconcile::field_digests(instance("default", "x", before)));
  auto obs = observed_with(
      {remote("default", "x",
              {{"indexing_options", {{"keyword_tokenizer", "trigram"}, {"use_ocr", false}}}})});
  const auto report = report_mode();
  auto plan = reconcile::diff(m, obs, s, report);
  const auto* c = find(plan, "default/x");
  ASSERT_NE(c, nullptr);
  EXPECT_FALSE(c->blocked);
  EXPECT_EQ(c->body["indexing_options"]["keyword_tokenizer"], "trigram")
      << "the drifted key is not reverted: " << c->body.dump();
  EXPECT_EQ(c->body["indexing_options"]["use_ocr"], true);
  ASSERT_EQ(c->fields.size(), 1u);
  EXPECT_EQ(c->fields[0].path, "indexing_options.use_ocr");
  bool warned = false;
  for (const auto& w : plan.warnings)
    warned = warned || w.find("indexing_options.keyword_tokenizer") != std::string::npos;
  EXPECT_TRUE(warned);
  // drift: correct sends both.
  EXPECT_EQ(
      find(reconcile::diff(m, obs, s), "default/x")->body["indexing_options"]["keyword_tokenizer"],
      "porter");
  // Only drift inside the object: the change is drift, held under report.
  auto s2 = s;
  own(s2, "default", "x", false, reconcile::field_digests(instance("default", "x", after)));
  auto held = reconcile::diff(m, obs, s2, report);
  expect_held_as_drift(held, "default/x");
}

// Breaker (round 4): drift: report with the manifest changing one item of an array of objects
// and the remote another item of it: the update sent the manifest's whole array, reverting the
// drifted item (digests stopped at arrays). Items are told apart by position now: the drifted
// item keeps the remote's value and is reported; an array whose only difference is drift is held.
// Breaker (issue 12): under drift: report, a header rotated outside aisearchd was reverted when
// the manifest removed (or added) another key of the same free-form map: state kept one digest
// for the whole map. Keys are told apart now (digests per key).
TEST(Safety, ReportModeKeepsADriftedKeyOfAMapTheManifestChanged) {
  const auto headers = [](json h) {
    return json{
        {"type", "web-crawler"},
        {"source", "https://docs.example.com"},
        {"source_params", {{"web_crawler", {{"parse_options", {{"include_headers", h}}}}}}}};
  };
  manifest::Manifest m;
  declare(m, instance("default", "x", headers({{"x-a", "s1"}})));  // x-b removed
  state::State s;
  own(s, "default", "x", false,
      reconcile::field_digests(instance("default", "x", headers({{"x-a", "s1"}, {"x-b", "s2"}}))));
  // Someone rotated x-a and added x-c.
  auto obs = observed_with(
      {remote("default", "x", headers({{"x-a", "rotated"}, {"x-b", "s2"}, {"x-c", "theirs"}}))});
  auto plan = reconcile::diff(m, obs, s, report_mode());
  const auto* c = find(plan, "default/x");
  ASSERT_NE(c, nullptr) << reconcile::render_text(plan, {});
  EXPECT_FALSE(c->blocked);
  const auto sent = c->body["source_params"]["web_crawler"]["parse_options"]["include_headers"];
  EXPECT_EQ(sent, json({{"x-a", "rotated"}, {"x-c", "theirs"}})) << c->body.dump();
  bool warned = false;
  for (const auto& w : plan.warnings)
    warned = warned || w.find("include_headers.x-a") != std::string::npos;
  EXPECT_TRUE(warned) << util::join(plan.warnings, "\n");
  // drift: correct sends the manifest's map as it is.
  EXPECT_EQ(find(reconcile::diff(m, obs, s), "default/x")
                ->body["source_params"]["web_crawler"]["parse_options"]["include_headers"],
            json({{"x-a", "s1"}}));
  // After the apply (digests of the manifest's map), the rotation alone is held as drift.
  auto s2 = s;
  own(s2, "default", "x", false,
      reconcile::field_digests(instance("default", "x", headers({{"x-a", "s1"}}))));
  expect_held_as_drift(
      reconcile::diff(m, observed_with({remote("default", "x", headers({{"x-a", "rotated"}}))}), s2,
                      report_mode()),
      "default/x");
}

TEST(Safety, ReportModeKeepsADriftedItemOfAnArrayTheManifestChanged) {
  const auto opts = [](const char* d0, const char* d1) {
    return json{{"retrieval_options",
                 {{"boost_by",
                   {{{"field", "a"}, {"direction", d0}}, {{"field", "b"}, {"direction", d1}}}}}}};
  };
  const json before = opts("asc", "asc"), after = opts("desc", "asc");
  manifest::Manifest m;
  declare(m, instance("default", "x", after));
  state::State s;
  own(s, "default", "x", false, reconcile::field_digests(instance("default", "x", before)));
  // The remote changed item 1 (b: asc -> exists) and adds a key to every item.
  json theirs = opts("asc", "exists");
  for (auto& item : theirs["retrieval_options"]["boost_by"]) item["dataType"] = "text";
  auto obs = observed_with({remote("default", "x", theirs)});
  const auto report = report_mode();
  auto plan = reconcile::diff(m, obs, s, report);
  const auto* c = find(plan, "default/x");
  ASSERT_NE(c, nullptr);
  EXPECT_FALSE(c->blocked);
  const auto& sent = c->body["retrieval_options"]["boost_by"];
  ASSERT_EQ(sent.size(), 2u) << c->body.dump();
  EXPECT_EQ(sent[0]["direction"], "desc") << "the manifest's change is sent: " << c->body.dump();
  EXPECT_EQ(sent[1]["direction"], "exists")
      << "the drifted item is not reverted: " << c->body.dump();
  bool warned = false;
  for (const auto& w : plan.warnings)
    warned = warned || w.find("retrieval_options.boost_by[1]") != std::string::npos;
  EXPECT_TRUE(warned);
  // drift: correct sends the manifest's array.
  EXPECT_EQ(find(reconcile::diff(m, obs, s), "default/x")
                ->body["retrieval_options"]["boost_by"][1]["direction"],
            "asc");
  // Only the drifted item differs: held as drift under report.
  auto s2 = s;
  own(s2, "default", "x", false, reconcile::field_digests(instance("default", "x", after)));
  json drifted_only = opts("desc", "exists");
  expect_held_as_drift(
      reconcile::diff(m, observed_with({remote("default", "x", drifted_only)}), s2, report),
      "default/x");
  // A top-level array (custom_metadata) alike.
  const auto meta = [](const char* t0, const char* t1) {
    return json{
        {"custom_metadata",
         {{{"field_name", "a"}, {"data_type", t0}}, {{"field_name", "b"}, {"data_type", t1}}}}};
  };
  manifest::Manifest m2;
  declare(m2, instance("default", "y", meta("number", "text")));
  state::State s3;
  own(s3, "default", "y", false,
      reconcile::field_digests(instance("default", "y", meta("text", "text"))));
  auto plan2 = reconcile::diff(m2, observed_with({remote("default", "y", meta("text", "boolean"))}),
                               s3, report);
  const auto* c2 = find(plan2, "default/y");
  ASSERT_NE(c2, nullptr);
  EXPECT_FALSE(c2->blocked);
  EXPECT_EQ(c2->body["custom_metadata"][0]["data_type"], "number") << c2->body.dump();
  EXPECT_EQ(c2->body["custom_metadata"][1]["data_type"], "boolean") << c2->body.dump();
}

// Breaker: a replace in place whose DELETE happened but whose answer was lost (and the retry
// failed) leaves the instance gone; under drift: report the next plan must still create it (the
// delete was aisearchd's own, not drift), and the create lands with the new source.
TEST(Safety, AReplaceWhoseDeleteAnswerWasLostIsFinishedUnderReportMode) {
  auto remote_side = std::make_shared<support::ReferenceRemote>();
  remote_side->add_instance("default", {{"id", "x"}, {"type", "r2"}, {"source", "old"}});
  Rig rig(remote_side);
  manifest::Manifest m;
  auto spec = instance("default", "x", {{"type", "r2"}, {"source", "new"}});
  spec.allow_replace = true;
  declare(m, spec);
  state::State s;
  own(s, "default", "x", false,
      reconcile::field_digests(instance("default", "x", {{"type", "r2"}, {"source", "old"}})));
  auto plan = rig.plan(m, s);
  ASSERT_EQ(plan.summary().replace, 1);
  const auto at = remote_side->request_count();
  remote_side->fault_at(at, support::ReferenceRemote::Fault::lost);      // the DELETE happens
  remote_side->fault_at(at + 1, support::ReferenceRemote::Fault::fail);  // its retry fails
  auto result = rig.apply(plan, m, s);
  EXPECT_FALSE(result.ok());
  ASSERT_FALSE(remote_side->has("default", "x"));
  auto saved = rig.store.saved();
  ASSERT_TRUE(saved.owns("default", "x"));
  const auto report = report_mode();
  auto again = rig.plan(m, saved, report);
  const auto* c = find(again, "default/x");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->action, Action::create);
  EXPECT_EQ(c->reason, reconcile::Reason::config);
  EXPECT_FALSE(c->blocked) << c->blocked->message;
  EXPECT_TRUE(rig.apply(again, m, saved).ok());
  ASSERT_TRUE(remote_side->has("default", "x"));
  EXPECT_EQ(remote_side->instances()["default"]["x"]["source"], "new");
  EXPECT_FALSE(rig.store.saved().find("default", "x")->deleting);
}

// The `deleting` mark of a DELETE that did not happen (500 twice) goes when a plan finds the
// instance still there and does not replace it again: a later delete outside is drift again.
TEST(Safety, ADeleteThatDidNotHappenIsForgottenOnceTheInstanceIsSeenAgain) {
  auto remote_side = std::make_shared<support::ReferenceRemote>();
  remote_side->add_instance("default", {{"id", "x"}, {"type", "r2"}, {"source", "old"}});
  Rig rig(remote_side);
  manifest::Manifest m;
  auto spec = instance("default", "x", {{"type", "r2"}, {"source", "new"}});
  spec.allow_replace = true;
  declare(m, spec);
  state::State s;
  own(s, "default", "x", false,
      reconcile::field_digests(instance("default", "x", {{"type", "r2"}, {"source", "old"}})));
  auto plan = rig.plan(m, s);
  const auto at = remote_side->request_count();
  remote_side->fault_at(at, support::ReferenceRemote::Fault::fail);
  remote_side->fault_at(at + 1, support::ReferenceRemote::Fault::fail);
  EXPECT_FALSE(rig.apply(plan, m, s).ok());
  ASSERT_TRUE(remote_side->has("default", "x"));
  auto saved = rig.store.saved();
  EXPECT_TRUE(saved.find("default", "x")->deleting) << "a 5xx may have deleted it";
  // The manifest goes back to the old source: nothing to change, the mark goes.
  manifest::Manifest back;
  declare(back, instance("default", "x", {{"type", "r2"}, {"source", "old"}}));
  auto again = rig.plan(back, saved);
  EXPECT_FALSE(again.has_changes());
  EXPECT_TRUE(rig.apply(again, back, saved).ok());
  saved = rig.store.saved();
  EXPECT_FALSE(saved.find("default", "x")->deleting);
  // Deleted outside now: drift, held by drift: report.
  remote_side->remove_instance("default", "x");
  const auto report = report_mode();
  auto drift = rig.plan(back, saved, report);
  expect_held_as_drift(drift, "default/x");
}

// Breaker: a create that happened unanswered leaves a record never confirmed; someone then
// changes a field. Under drift: report that difference is drift (the write-ahead record holds the
// digests of what the create sent), not a change for the manifest.
TEST(Safety, AnUnansweredCreateRecordsWhatItSentSoLaterDriftIsDrift) {
  auto remote_side = std::make_shared<support::ReferenceRemote>();
  Rig rig(remote_side);
  manifest::Manifest m;
  declare(m,
          instance("default", "docs", {{"type", "r2"}, {"source", "b"}, {"max_num_results", 10}}));
  state::State s;
  auto plan = rig.plan(m, s);
  const auto at = remote_side->request_count();
  remote_side->fault_at(at, support::ReferenceRemote::Fault::lost);      // the POST happens
  remote_side->fault_at(at + 1, support::ReferenceRemote::Fault::kill);  // and the process dies
  (void)rig.apply(plan, m, s);
  remote_side->revive();
  ASSERT_TRUE(remote_side->has("default", "docs"));
  auto saved = rig.store.saved();
  ASSERT_TRUE(saved.find("default", "docs")->pending_create);
  remote_side->set_field("default", "docs", "max_num_results", 42);
  const auto report = report_mode();
  auto again = rig.plan(m, saved, report);
  expect_held_as_drift(again, "default/docs");
}

// Breaker: drift: report wrote back a namespace description changed outside aisearchd and
// re-created a namespace deleted outside. State records the description aisearchd applied, so
// both are drift: shown, held under report, corrected under correct.
TEST(Safety, ReportModeNeverWritesBackNamespaceDrift) {
  manifest::Manifest m;
  m.namespaces["team"].name = "team";
  m.namespaces["team"].description = "Team docs";
  state::State s;
  s.namespaces["team"] = reconcile::digest(json("Team docs"));
  auto obs = observed_with({}, {"team"});
  obs.namespaces["team"].description = "changed by ops";
  const auto report = report_mode();
  auto plan = reconcile::diff(m, obs, s, report);
  ASSERT_EQ(plan.changes.size(), 1u);
  EXPECT_EQ(plan.changes[0].reason, reconcile::Reason::drift);
  ASSERT_TRUE(plan.changes[0].blocked);
  EXPECT_EQ(plan.changes[0].blocked->rail, "drift_report");
  EXPECT_FALSE(reconcile::diff(m, obs, s).changes[0].blocked) << "correct mode corrects it";
  // The manifest changed the description: config, written in report mode too.
  m.namespaces["team"].description = "Team knowledge";
  auto config = reconcile::diff(m, obs, s, report);
  ASSERT_EQ(config.changes.size(), 1u);
  EXPECT_EQ(config.changes[0].reason, reconcile::Reason::config);
  EXPECT_FALSE(config.changes[0].blocked);
  // Deleted outside: not re-created under report.
  auto gone = reconcile::diff(m, observed_with({}), s, report);
  ASSERT_EQ(gone.changes.size(), 1u);
  EXPECT_EQ(gone.changes[0].action, Action::create);
  ASSERT_TRUE(gone.changes[0].blocked);
  EXPECT_EQ(gone.changes[0].blocked->rail, "drift_report");
  // apply records what it applied.
  auto remote_side = std::make_shared<support::ReferenceRemote>();
  Rig rig(remote_side);
  state::State empty;
  auto create = rig.plan(m, empty);
  ASSERT_TRUE(rig.apply(create, m, empty).ok());
  EXPECT_EQ(rig.store.saved().namespaces.at("team"), reconcile::digest(json("Team knowledge")));
}

// Breaker: the write-ahead record claimed the follow-up PUT's fields (paused) too; when the POST
// happened unanswered and the PUT was never sent, report mode held them as drift forever.
TEST(Safety, AnUnansweredCreateDoesNotClaimItsFollowUpFields) {
  auto remote_side = std::make_shared<support::ReferenceRemote>();
  Rig rig(remote_side);
  manifest::Manifest m;
  declare(m, instance("default", "docs", {{"type", "r2"}, {"source", "b"}, {"paused", true}}));
  state::State s;
  auto plan = rig.plan(m, s);
  ASSERT_FALSE(plan.changes.empty());
  ASSERT_FALSE(plan.changes[0].followup_update.empty()) << "paused goes in the follow-up PUT";
  const auto at = remote_side->request_count();
  remote_side->fault_at(at, support::ReferenceRemote::Fault::lost);
  remote_side->fault_at(at + 1, support::ReferenceRemote::Fault::kill);
  (void)rig.apply(plan, m, s);
  remote_side->revive();
  ASSERT_TRUE(remote_side->has("default", "docs"));
  const auto report = report_mode();
  auto again = rig.plan(m, rig.store.saved(), report);
  const auto* c = find(again, "default/docs");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->reason, reconcile::Reason::config);
  EXPECT_FALSE(c->blocked) << c->blocked->message;
  EXPECT_TRUE(c->body.contains("paused"));
}

// Breaker: a prune DELETE that failed (500 twice) left the record marked `deleting`; prune was
// then turned off and the mark stayed, so a later delete outside was re-created in report mode.
// A complete list that still shows the instance takes the mark off.
TEST(Safety, AFailedPruneDeleteMarkGoesOnceAListShowsTheInstance) {
  auto remote_side = std::make_shared<support::ReferenceRemote>();
  remote_side->add_instance("default", {{"id", "keep"}, {"type", "r2"}, {"source", "k"}});
  remote_side->add_instance("default", {{"id", "y"}, {"type", "r2"}, {"source", "s"}});
  Rig rig(remote_side);
  auto m = pruning({"default"});
  declare(m, instance("default", "keep", {{"type", "r2"}, {"source", "k"}}));
  state::State s;
  own(s, "default", "keep");
  own(s, "default", "y");
  auto plan = rig.plan(m, s);
  ASSERT_EQ(plan.summary().delete_, 1);
  const auto at = remote_side->request_count();
  remote_side->fault_at(at, support::ReferenceRemote::Fault::fail);
  remote_side->fault_at(at + 1, support::ReferenceRemote::Fault::fail);
  EXPECT_FALSE(rig.apply(plan, m, s).ok());
  auto saved = rig.store.saved();
  ASSERT_TRUE(saved.find("default", "y")->deleting);
  m.namespaces["default"].prune = false;
  auto quiet = rig.plan(m, saved);
  EXPECT_TRUE(rig.apply(quiet, m, saved).ok());
  saved = rig.store.saved();
  ASSERT_TRUE(saved.owns("default", "y"));
  EXPECT_FALSE(saved.find("default", "y")->deleting) << "the list showed it: not deleted";
  remote_side->remove_instance("default", "y");
  declare(m, instance("default", "y", {{"type", "r2"}, {"source", "s"}}));
  const auto report = report_mode();
  auto again = rig.plan(m, saved, report);
  const auto* c = find(again, "default/y");
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->blocked) << "deleted outside: drift, held";
  EXPECT_EQ(c->blocked->rail, "drift_report");
}

// Breaker: a namespace that already matched the manifest was never recorded, so its later change
// or deletion outside was "config" and report mode wrote it back. It is recorded when first seen.
TEST(Safety, ANamespaceSeenAsTheManifestHasItIsRecorded) {
  manifest::Manifest m;
  m.namespaces["team"].name = "team";
  m.namespaces["team"].description = "Team docs";
  auto obs = observed_with({}, {"team"});
  obs.namespaces["team"].description = "Team docs";
  auto plan = reconcile::diff(m, obs, state::State{});
  EXPECT_TRUE(plan.changes.empty());
  ASSERT_EQ(plan.namespace_records.count("team"), 1u);
  EXPECT_EQ(plan.namespace_records.at("team"), reconcile::digest(json("Team docs")));
  // Recorded on apply (here a namespace declared without a description).
  auto remote_side = std::make_shared<support::ReferenceRemote>();
  remote_side->add_namespace("team");
  Rig rig(remote_side);
  manifest::Manifest bare;
  bare.namespaces["team"].name = "team";
  auto p = rig.plan(bare, state::State{});
  ASSERT_TRUE(rig.apply(p, bare, state::State{}).ok());
  EXPECT_EQ(rig.store.saved().namespaces.count("team"), 1u);
  // Then deleted outside: drift, held under report.
  const auto report = report_mode();
  auto gone = reconcile::diff(bare, observed_with({}), rig.store.saved(), report);
  ASSERT_EQ(gone.changes.size(), 1u);
  ASSERT_TRUE(gone.changes[0].blocked);
  EXPECT_EQ(gone.changes[0].blocked->rail, "drift_report");
}

// Breaker B1: a create that failed leaves a record never confirmed (pending_create); an instance
// someone then makes there with another source is an adopt_conflict, and leaving the manifest
// never deletes it.
TEST(Safety, AnUnconfirmedCreateRecordNeitherAdoptsNorDeletesAHandMadeInstance) {
  auto remote_side = std::make_shared<support::ReferenceRemote>();
  Rig rig(remote_side);
  auto m = pruning({"default"});
  declare(m, instance("default", "keep", {{"type", "r2"}}));
  auto spec = instance("default", "x", {{"type", "r2"}, {"source", "mine"}});
  spec.allow_replace = true;
  declare(m, spec);
  state::State s;
  own(s, "default", "keep");
  s.owned["default/x"].ns = "default";
  s.owned["default/x"].id = "x";
  s.owned["default/x"].pending_create = true;
  remote_side->add_instance("default", {{"id", "keep"}, {"type", "r2"}});
  remote_side->add_instance("default", {{"id", "x"}, {"type", "r2"}, {"source", "theirs"}});
  auto plan = rig.plan(m, s);
  ASSERT_NE(find(plan, "default/x"), nullptr);
  ASSERT_TRUE(find(plan, "default/x")->blocked);
  EXPECT_EQ(find(plan, "default/x")->blocked->rail, "adopt_conflict");
  EXPECT_TRUE(plan.adopt.empty());

  m.namespaces["default"].instances.erase("x");
  plan = rig.plan(m, s);
  EXPECT_EQ(find(plan, "default/x"), nullptr) << "no delete on an unconfirmed record";
  rig.apply(plan, m, s);
  EXPECT_TRUE(remote_side->has("default", "x"));
}

// Breaker B2: the destination record written before a move that failed claims nothing: an
// instance someone makes there with another source is never replaced.
TEST(Safety, AFailedMovesDestinationRecordDoesNotClaimAHandMadeInstance) {
  MoveSetup setup("s");
  auto& remote_side = setup.remote;
  auto& m = setup.manifest;
  Rig rig(remote_side);
  auto spec = instance("b", "x", {{"type", "r2"}, {"source", "s"}});
  spec.allow_replace = true;
  declare(m, spec);
  auto plan = rig.plan(m, setup.state);
  ASSERT_EQ(plan.summary().move, 1);
  for (int i = 0; i < 3; ++i)
    remote_side->fault_at(remote_side->request_count() + i, support::ReferenceRemote::Fault::fail);
  rig.apply(plan, m, setup.state);
  ASSERT_TRUE(remote_side->has("a", "x")) << "the move failed";
  auto saved = rig.store.saved();

  remote_side->add_instance("b", {{"id", "x"}, {"type", "r2"}, {"source", "bobs"}});
  remote_side->clear_writes();
  plan = rig.plan(m, saved);
  const auto* c = find(plan, "b/x");
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->blocked);
  EXPECT_EQ(c->blocked->rail, "adopt_conflict");
  rig.apply(plan, m, saved);
  EXPECT_TRUE(remote_side->writes().empty());
  EXPECT_EQ(remote_side->instances()["b"]["x"]["source"], "bobs");
}

// Breaker B3: one owned instance that two declarations could each be the move of is ambiguous:
// nothing is planned for either, and the instance stays where it is.
TEST(Safety, OneSourceTwoPossibleDestinationsPlanNothing) {
  manifest::Manifest m = pruning({"a", "b", "c"});
  auto to_b = instance("b", "x", {{"type", "r2"}, {"source", "other"}});
  to_b.allow_replace = true;
  declare(m, to_b);
  auto to_c = instance("c", "x", {{"type", "r2"}, {"source", "s"}});
  to_c.protect = true;
  declare(m, to_c);
  declare(m, instance("a", "keep", {{"type", "r2"}}));
  state::State s;
  own(s, "a", "x");
  own(s, "a", "keep");
  auto obs = observed_with(
      {remote("a", "x", {{"type", "r2"}, {"source", "s"}}), remote("a", "keep", {{"type", "r2"}})},
      {"b", "c"});
  auto plan = reconcile::diff(m, obs, s);
  EXPECT_FALSE(plan.has_changes()) << "neither a move nor a replace nor a create";
  // Both shown blocked (breaker: `plan --detailed-exitcode` said 0, "No changes").
  EXPECT_TRUE(plan.has_differences());
  for (const char* address : {"b/x", "c/x"}) {
    const auto* c = find(plan, address);
    ASSERT_NE(c, nullptr) << address;
    ASSERT_TRUE(c->blocked) << address;
    EXPECT_EQ(c->blocked->rail, "move_ambiguous") << address;
  }
}

// Breaker B5: ignore_changes on type/source does not skip the adopt rule.
TEST(Safety, IgnoringTypeOrSourceDoesNotAdoptAnotherInstance) {
  manifest::Manifest m;
  auto spec = instance("default", "x", {{"type", "r2"}, {"source", "mine"}});
  spec.ignore_changes = {"source", "type"};
  declare(m, spec);
  auto obs =
      observed_with({remote("default", "x", {{"type", "web-crawler"}, {"source", "carols"}})});
  auto plan = reconcile::diff(m, obs, {});
  EXPECT_TRUE(plan.adopt.empty());
  ASSERT_NE(find(plan, "default/x"), nullptr);
  ASSERT_TRUE(find(plan, "default/x")->blocked);
  EXPECT_EQ(find(plan, "default/x")->blocked->rail, "adopt_conflict");
  // Owned, the same ignore leaves the drift alone.
  state::State s;
  own(s, "default", "x");
  EXPECT_FALSE(reconcile::diff(m, obs, s).has_changes());
}

// Second breaker: a record never confirmed is a move's source only when the instance there has
// the manifest's type and source; someone else's instance is neither moved nor replaced.
TEST(Safety, AnUnconfirmedRecordIsNoMoveSourceForSomeoneElsesInstance) {
  manifest::Manifest m = pruning({"a", "b"});
  auto spec = instance("b", "x", {{"type", "r2"}, {"source", "mine"}});
  spec.allow_replace = true;
  declare(m, spec);
  declare(m, instance("a", "keep", {{"type", "r2"}}));
  state::State s;
  own(s, "a", "keep");
  own(s, "a", "x");
  s.owned["a/x"].pending_create = true;
  auto obs = observed_with({remote("a", "x", {{"type", "r2"}, {"source", "theirs"}}),
                            remote("a", "keep", {{"type", "r2"}})},
                           {"b"});
  auto plan = reconcile::diff(m, obs, s);
  const auto* c = find(plan, "b/x");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->action, Action::create) << "not a move or replace of a/x";
  EXPECT_TRUE(c->from_ns.empty());
  EXPECT_EQ(find(plan, "a/x"), nullptr) << "a/x is never deleted";
  // With the manifest's type and source it is ours: moved.
  s.owned["a/x"].pending_create = true;
  obs = observed_with({remote("a", "x", {{"type", "r2"}, {"source", "mine"}}),
                       remote("a", "keep", {{"type", "r2"}})},
                      {"b"});
  EXPECT_EQ(find(reconcile::diff(m, obs, s), "b/x")->action, Action::move);
}

// Second breaker: protect is not released by a run that could not list the instance's namespace
// (nor by one that leaves it suspended): no plan showed the replace the release allows.
TEST(Safety, ProtectIsNotReleasedWhereThePlanCouldNotSeeTheInstance) {
  auto remote_side = std::make_shared<support::ReferenceRemote>();
  remote_side->add_instance("default", {{"id", "x"}, {"type", "r2"}, {"source", "old"}});
  Rig rig(remote_side);
  manifest::Manifest m;
  auto spec = instance("default", "x", {{"type", "r2"}, {"source", "new"}});
  spec.allow_replace = true;  // protect: false
  declare(m, spec);
  state::State s;
  own(s, "default", "x", /*protect=*/true);
  for (int i = 0; i < 3; ++i)
    remote_side->fault_at(remote_side->request_count() + i, support::ReferenceRemote::Fault::fail);
  auto plan = rig.plan(m, s);
  ASSERT_FALSE(plan.skipped_namespaces.empty());
  rig.apply(plan, m, s);
  EXPECT_TRUE(rig.store.saved().owned["default/x"].protect);

  m.namespaces["default"].instances["x"].suspend = true;
  plan = rig.plan(m, s);
  rig.apply(plan, m, s);
  EXPECT_TRUE(rig.store.saved().owned["default/x"].protect);
}
