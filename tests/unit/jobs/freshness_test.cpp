#include "jobs/freshness.hpp"

#include <gtest/gtest.h>

#include "util/time_format.hpp"

namespace {

using namespace std::chrono_literals;

const auto k_now = util::parse_rfc3339("2027-01-15T12:00:00Z").value();

TEST(Freshness, AgeIsTheTimeSinceTheLastSuccess) {
  state::SyncState s;
  s.last_success = "2027-01-15T11:00:00Z";
  auto f = jobs::freshness(&s, 2h, k_now);
  ASSERT_TRUE(f.age.has_value());
  EXPECT_EQ(*f.age, 1h);
  EXPECT_TRUE(f.healthy);
  EXPECT_FALSE(jobs::freshness(&s, 30min, k_now).healthy);
  EXPECT_TRUE(jobs::freshness(&s, std::nullopt, k_now).healthy);
}

// Issue 13, defect 11: an instance that never succeeded is stale once max_staleness has passed
// since it was first seen, not healthy forever; and not stale before.
TEST(Freshness, NeverSucceededCountsFromFirstSight) {
  state::SyncState s;
  s.since = "2027-01-12T12:00:00Z";  // three days ago
  EXPECT_FALSE(jobs::freshness(&s, 24h, k_now).healthy);
  EXPECT_TRUE(jobs::freshness(&s, 96h, k_now).healthy);
  // A failure a minute after first sight does not make it stale at once.
  state::SyncState young;
  young.since = "2027-01-15T11:58:00Z";
  young.history.push_back(state::JobRecord{});
  young.history.back().outcome = "failed";
  EXPECT_TRUE(jobs::freshness(&young, 1h, k_now).healthy);
}

TEST(Freshness, TheWatchLogsATransitionOnce) {
  jobs::FreshnessWatch watch;
  EXPECT_EQ(watch.update("default/docs", false), jobs::FreshnessWatch::Change::became_stale);
  EXPECT_EQ(watch.update("default/docs", false), jobs::FreshnessWatch::Change::none);
  EXPECT_EQ(watch.update("default/docs", true), jobs::FreshnessWatch::Change::became_fresh);
  EXPECT_EQ(watch.update("default/docs", true), jobs::FreshnessWatch::Change::none);
  EXPECT_EQ(watch.update("default/kb", true), jobs::FreshnessWatch::Change::none);
}

}  // namespace
