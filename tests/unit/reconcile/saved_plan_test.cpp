// Saved plans (issue 17, item 4): `apply FILE` applies exactly the saved plan or nothing. The
// check names what changed: the manifest, an instance modified, created or deleted remotely, the
// account, or a plan that differs for another reason (state); the file holds no secret.
#include "reconcile/saved_plan.hpp"

#include <gtest/gtest.h>

#include "unit/reconcile/fixture.hpp"

using nlohmann::json;
using namespace reconcile_fixture;

namespace {

struct Situation {
  manifest::Manifest m;
  reconcile::Observed obs;
  state::State s;
  reconcile::Plan plan() const { return reconcile::diff(m, obs, s); }
  json save() const {
    reconcile::SavedPlanInputs in;
    in.account_id = "acct";
    in.api_url = "https://api.example/client/v4";
    in.created_at = "2026-12-07T00:00:00Z";
    return reconcile::make_saved_plan(plan(), m, obs, in);
  }
  std::vector<std::string> check(const json& saved, const std::string& account = "acct",
                                 const std::string& api = "https://api.example/client/v4") const {
    return reconcile::saved_plan_differences(saved, plan(), m, obs, account, api);
  }
};

Situation docs_drifted() {
  Situation x;
  declare(x.m, instance("default", "docs",
                        {{"max_num_results", 20},
                         {"source_params",
                          {{"web_crawler",
                            {{"parse_options",
                              {{"include_headers", {{"Authorization", "Bearer s3cr3t"}}}}}}}}}}));
  declare(x.m, instance("default", "new", {}));
  auto r = remote("default", "docs", {{"max_num_results", 5}});
  r.modified_at = "2026-12-01T00:00:00Z";
  x.obs = observed_with({r, remote("default", "other", {})});
  own(x.s, "default", "docs");
  return x;
}

bool mentions(const std::vector<std::string>& why, const std::string& text) {
  for (const auto& w : why)
    if (w.find(text) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST(SavedPlan, AnUnchangedSituationAppliesAndTheFileHoldsNoSecret) {
  const auto x = docs_drifted();
  const json saved = x.save();
  EXPECT_TRUE(reconcile::saved_plan_format_problems(saved).empty());
  EXPECT_TRUE(x.check(saved).empty());
  EXPECT_EQ(saved["touched"]["default/docs"]["modified_at"], "2026-12-01T00:00:00Z");
  EXPECT_EQ(saved["touched"]["default/new"]["exists"], false);
  EXPECT_FALSE(saved["touched"].contains("default/other")) << "only what a change acts on";
  EXPECT_EQ(saved.dump().find("s3cr3t"), std::string::npos) << saved.dump(2);
}

TEST(SavedPlan, AnInstanceModifiedRemotelyAfterThePlanIsNamed) {
  auto x = docs_drifted();
  const json saved = x.save();
  x.obs.listings["default"].instances[0].modified_at = "2026-12-02T00:00:00Z";
  const auto why = x.check(saved);
  ASSERT_FALSE(why.empty());
  EXPECT_TRUE(mentions(why, "default/docs: modified remotely since the plan was saved")) << why[0];
}

TEST(SavedPlan, AnInstanceCreatedOrDeletedRemotelyIsNamed) {
  auto x = docs_drifted();
  const json saved = x.save();
  auto created = x;
  created.obs.listings["default"].instances.push_back(remote("default", "new", {}));
  EXPECT_TRUE(mentions(created.check(saved), "default/new: created remotely"));
  auto deleted = x;
  deleted.obs.listings["default"].instances.erase(
      deleted.obs.listings["default"].instances.begin());
  EXPECT_TRUE(mentions(deleted.check(saved), "default/docs: deleted remotely"));
}

TEST(SavedPlan, AChangedManifestIsRefusedEvenWhenOnlyASensitiveValueChanged) {
  auto x = docs_drifted();
  const json saved = x.save();
  x.m.namespaces["default"]
      .instances["docs"]
      .fields["source_params"]["web_crawler"]["parse_options"]["include_headers"]["Authorization"] =
      "Bearer other";
  EXPECT_TRUE(mentions(x.check(saved), "the manifest changed since the plan was saved"));
}

TEST(SavedPlan, ADifferentPlanFromTheSameInputsIsNamed) {
  // The state changed (someone forgot docs): the same manifest and remote plan differently.
  auto x = docs_drifted();
  const json saved = x.save();
  x.s.owned.clear();
  const auto why = x.check(saved);
  ASSERT_FALSE(why.empty());
  EXPECT_TRUE(mentions(why, "default/docs")) << why[0];
}

TEST(SavedPlan, AnotherAccountOrABrokenFileIsRefused) {
  const auto x = docs_drifted();
  json saved = x.save();
  EXPECT_TRUE(mentions(x.check(saved, "other"), "made for account acct"));
  EXPECT_TRUE(mentions(x.check(saved, "acct", "http://127.0.0.1:9/client/v4"),
                       "made against the API at https://api.example/client/v4"));
  EXPECT_FALSE(reconcile::saved_plan_format_problems(json::array()).empty());
  saved["version"] = 99;
  EXPECT_FALSE(reconcile::saved_plan_format_problems(saved).empty());
  saved["version"] = reconcile::k_saved_plan_version;
  saved["touched"] = "x";
  EXPECT_FALSE(reconcile::saved_plan_format_problems(saved).empty());
}

TEST(SavedPlan, TheManifestDigestIgnoresWhereThingsWereWritten) {
  auto x = docs_drifted();
  const auto before = reconcile::manifest_digest(x.m);
  x.m.files = {"elsewhere.yaml"};
  x.m.namespaces["default"].instances["docs"].where.line = 99;
  EXPECT_EQ(reconcile::manifest_digest(x.m), before);
  x.m.namespaces["default"].max_deletes = 3;
  EXPECT_NE(reconcile::manifest_digest(x.m), before);
}
