// Issue 17: markdown plans with adoptions.
#include <gtest/gtest.h>

#include <cstdio>

#include "reconcile/compare.hpp"
#include "reconcile/diff.hpp"
#include "reconcile/render.hpp"
#include "unit/reconcile/fixture.hpp"

using nlohmann::json;
using namespace reconcile_fixture;

namespace {

// Issue 17 (breaker): 5,000 adoptions pushed every create and update out of a truncated
// pull-request comment, and its note counted the adoptions as "creates, updates and moves".
// Rows that write come first; adoptions are counted as such.
TEST(RenderMarkdown, AdoptionsGiveWayToWritesWhenThePlanIsTruncated) {
  manifest::Manifest m;
  std::vector<api::Instance> rs;
  for (int i = 0; i < 5000; ++i) {
    char id[32];
    snprintf(id, sizeof id, "inst-%05d", i);
    declare(m, instance("default", id, {{"type", "r2"}, {"source", "b"}}));
    rs.push_back(remote("default", id, {{"type", "r2"}, {"source", "b"}}));
  }
  // plus a few creates and updates of owned instances
  state::State s;
  for (int i = 0; i < 5; ++i) {
    std::string id = "zz-upd-" + std::to_string(i);
    declare(m, instance("default", id, {{"type", "r2"}, {"source", "b"}, {"max_num_results", 20}}));
    rs.push_back(remote("default", id, {{"type", "r2"}, {"source", "b"}, {"max_num_results", 5}}));
    own(s, "default", id, false, {{"max_num_results", reconcile::digest(json(10))}});
    declare(m,
            instance("default", "zz-new-" + std::to_string(i), {{"type", "r2"}, {"source", "n"}}));
  }
  auto plan = reconcile::diff(m, observed_with(rs), s);
  auto md = reconcile::render_markdown(plan);
  auto pos = md.find("zz-upd-0");
  auto pos2 = md.find("zz-new-0");
  EXPECT_LE(md.size(), 65535u);
  EXPECT_NE(pos, std::string::npos) << "updates pushed out of the PR comment by 5000 adopt rows";
  EXPECT_NE(pos2, std::string::npos) << "creates pushed out of the PR comment by 5000 adopt rows";
  EXPECT_EQ(md.find(" creates, updates and moves._"), std::string::npos)
      << "note counts adopts as creates/updates/moves";
  EXPECT_NE(md.find(" adoptions._"), std::string::npos) << "the note does not count adoptions";
}

}  // namespace
