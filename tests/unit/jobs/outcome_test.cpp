#include "jobs/outcome.hpp"

#include <gtest/gtest.h>

#include "jobs/freshness.hpp"
#include "jobs/reporter.hpp"
#include "util/time_format.hpp"

namespace {

using jobs::Outcome;
using namespace std::chrono_literals;

api::Job ended(std::optional<std::string> reason) {
  api::Job j;
  j.id = "j1";
  j.source = "user";
  j.started_at = "2026-11-28T10:00:00Z";
  j.ended_at = "2026-11-28T10:05:00Z";
  j.end_reason = std::move(reason);
  return j;
}

api::InstanceStats stats(std::int64_t errors,
                         nlohmann::json source_errors = nlohmann::json::object()) {
  api::InstanceStats s;
  s.error = errors;
  s.raw = {{"error", errors}, {"index_source_errors", source_errors}};
  return s;
}

TEST(Outcome, EndReasonsMapToOutcomes) {
  EXPECT_EQ(jobs::derive_outcome(ended("completed"), std::nullopt), Outcome::succeeded);
  EXPECT_EQ(jobs::derive_outcome(ended("Completed"), std::nullopt), Outcome::succeeded);
  EXPECT_EQ(jobs::derive_outcome(ended("done"), std::nullopt), Outcome::succeeded);
  EXPECT_EQ(jobs::derive_outcome(ended("new_job_has_started"), std::nullopt), Outcome::superseded);
  EXPECT_EQ(jobs::derive_outcome(ended("cancelled"), std::nullopt), Outcome::cancelled);
  EXPECT_EQ(jobs::derive_outcome(ended("canceled"), std::nullopt), Outcome::cancelled);
  EXPECT_EQ(jobs::derive_outcome(ended("error"), std::nullopt), Outcome::failed);
}

TEST(Outcome, AnUnknownReasonIsAFailureEvenWithCleanStats) {
  EXPECT_EQ(jobs::derive_outcome(ended("quota_exceeded"), stats(0)), Outcome::failed);
  EXPECT_EQ(jobs::derive_outcome(ended("timeout"), std::nullopt), Outcome::failed);
}

TEST(Outcome, AMissingReasonIsDecidedByTheStats) {
  EXPECT_EQ(jobs::derive_outcome(ended(std::nullopt), stats(0)), Outcome::succeeded);
  EXPECT_EQ(jobs::derive_outcome(ended(""), stats(2)), Outcome::failed);
  EXPECT_EQ(jobs::derive_outcome(ended(std::nullopt), stats(0, {{"403", 1}})), Outcome::failed);
  EXPECT_EQ(jobs::derive_outcome(ended(std::nullopt), std::nullopt), Outcome::succeeded);
  EXPECT_TRUE(jobs::outcome_needs_stats(ended(std::nullopt)));
  EXPECT_FALSE(jobs::outcome_needs_stats(ended("completed")));
}

TEST(Outcome, ErrorCountsKeepOnlyWhatTheStatsCarry) {
  auto counts = jobs::error_counts(stats(3, {{"failed to fetch", 3}}));
  EXPECT_EQ(counts["error"], 3);
  EXPECT_EQ(counts["index_source_errors"]["failed to fetch"], 3);
  EXPECT_FALSE(counts.contains("file_embed_errors"));
}

TEST(Outcome, NamesRoundTrip) {
  for (Outcome o : {Outcome::succeeded, Outcome::failed, Outcome::superseded, Outcome::cancelled,
                    Outcome::timed_out, Outcome::skipped}) {
    EXPECT_EQ(jobs::parse_outcome(jobs::to_string(o)), o);
  }
  EXPECT_FALSE(jobs::parse_outcome("running").has_value());
}

TEST(Freshness, AgeAndHealthFollowTheLastSuccess) {
  const auto now = *util::parse_rfc3339("2026-11-28T12:00:00Z");
  state::SyncState s;
  EXPECT_TRUE(jobs::freshness(&s, 26h, now).healthy);  // never seen: not stale yet
  s.since = "2026-11-27T00:00:00Z";
  s.history.push_back({});
  EXPECT_FALSE(jobs::freshness(&s, 26h, now).healthy);  // seen 36 h ago, never succeeded
  s.last_success = "2026-11-28T10:00:00Z";
  auto f = jobs::freshness(&s, 26h, now);
  ASSERT_TRUE(f.age.has_value());
  EXPECT_EQ(*f.age, 2h);
  EXPECT_TRUE(f.healthy);
  EXPECT_FALSE(jobs::freshness(&s, 1h, now).healthy);
  EXPECT_TRUE(jobs::freshness(&s, std::nullopt, now).healthy);
  EXPECT_FALSE(jobs::freshness(nullptr, 1h, now).age.has_value());
}

TEST(LogReporter, OneKeyValueLinePerOutcome) {
  state::JobRecord r;
  r.job_id = "j1";
  r.outcome = "failed";
  r.trigger = "schedule";
  r.source = "user";
  r.duration_seconds = 12.34;
  r.end_reason = "error";
  r.error_counts = {{"error", 3}};
  r.log_tail = {"first", "Job failed: 3 errors"};
  EXPECT_EQ(jobs::LogReporter::format("default/docs", r),
            "sync outcome=failed instance=default/docs job=j1 trigger=schedule source=user "
            "duration=12.3s end_reason=error errors=3 last_log=\"Job failed: 3 errors\"");
  r.log_tail = {"bad\nline \"quoted\""};
  r.error_counts = nlohmann::json::object();
  EXPECT_EQ(jobs::LogReporter::format("default/docs", r),
            "sync outcome=failed instance=default/docs job=j1 trigger=schedule source=user "
            "duration=12.3s end_reason=error last_log=\"badline \\\"quoted\\\"\"");
}

}  // namespace
