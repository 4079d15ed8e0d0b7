#include "jobs/runner.hpp"

#include <atomic>

#include <gtest/gtest.h>

#include "fixture.hpp"

namespace jobs_test {
namespace {

using namespace std::chrono_literals;
using Concurrency = manifest::SyncSpec::Concurrency;

constexpr const char* k_addr = "default/docs";

TEST(Runner, FollowsAJobToSuccessAndRecordsIt) {
  Harness h;
  auto r = h.runner.run("default", "docs", policy(), "manual", true, nullptr);
  EXPECT_EQ(r.outcome, "succeeded");
  EXPECT_EQ(r.end_reason, "completed");
  EXPECT_EQ(r.trigger, "manual");
  EXPECT_EQ(r.source, "user");
  EXPECT_DOUBLE_EQ(r.duration_seconds, 300.0);
  EXPECT_TRUE(r.log_tail.empty());
  // forbid looks for a running job first; a clean success needs no stats.
  EXPECT_EQ(h.sim->count("list_jobs"), 1u);
  EXPECT_EQ(h.sim->count("create_job"), 1u);
  EXPECT_EQ(h.sim->count("stats"), 0u);
  EXPECT_EQ(h.sim->count("job_logs"), 0u);
  // Polls back off 5 s -> 60 s: 5, 15, 35, 75, 135, 195, 255, 315.
  EXPECT_EQ(h.sim->count("get_job"), 8u);

  const auto* s = h.sync(k_addr);
  ASSERT_NE(s, nullptr);
  ASSERT_EQ(s->history.size(), 1u);
  EXPECT_EQ(s->history.back().job_id, r.job_id);
  EXPECT_EQ(s->last_job_id, r.job_id);
  EXPECT_EQ(s->last_success, r.ended_at);
  // Durably saved, and reported once.
  EXPECT_EQ(h.store.saved().sync.at(k_addr).history.size(), 1u);
  ASSERT_EQ(h.reporter.outcomes.size(), 1u);
  EXPECT_EQ(h.reporter.outcomes[0].first, k_addr);
}

// Breaker (issue 13): ten failed polls recorded a running job `failed lost_track`; the instance
// looked idle, forbid started a second job that superseded the first, whose real end was never
// recorded. Failing polls now keep the job followed until its real end.
TEST(Runner, FailingPollsKeepFollowingTheJobToItsRealEnd) {
  Harness h;
  h.sim->fail_polls(60);
  auto r = h.runner.run("default", "docs", policy(), "manual", true, nullptr);
  EXPECT_EQ(r.outcome, "succeeded");
  EXPECT_EQ(r.end_reason, "completed");
  EXPECT_EQ(h.sim->count("create_job"), 1u);
  const auto* s = h.sync(k_addr);
  ASSERT_NE(s, nullptr);
  ASSERT_EQ(s->history.size(), 1u);
  EXPECT_EQ(s->history[0].outcome, "succeeded");
  EXPECT_TRUE(s->running.empty());
}

TEST(Runner, PollsLessOnceTheUsualDurationIsKnown) {
  Harness h;
  h.runner.run("default", "docs", policy(), "schedule", true, nullptr);
  h.clock->advance(1h);
  h.sim->reset_counts();
  auto r = h.runner.run("default", "docs", policy(), "schedule", true, nullptr);
  EXPECT_EQ(r.outcome, "succeeded");
  // One poll at the expected end (the median and the longest of the history: 300 s); the
  // forbid check and the trigger: 3 requests.
  EXPECT_EQ(h.sim->count("get_job"), 1u);
  EXPECT_EQ(h.sim->total(), 3u);
}

TEST(Runner, ForbidSkipsWhenAJobIsRunning) {
  Harness h;
  const std::string running = h.sim->start_schedule_job(k_addr);
  auto r = h.runner.run("default", "docs", policy(Concurrency::forbid), "schedule", true, nullptr);
  EXPECT_EQ(r.outcome, "skipped");
  EXPECT_EQ(r.job_id, running);
  EXPECT_EQ(r.end_reason, "job_already_running");
  EXPECT_EQ(h.sim->count("create_job"), 0u);
  const auto* s = h.sync(k_addr);
  ASSERT_NE(s, nullptr);
  ASSERT_EQ(s->history.size(), 1u);
  EXPECT_EQ(s->history.back().outcome, "skipped");
  // The running job was left alone.
  EXPECT_TRUE(h.sim->jobs(k_addr).back()["ended_at"].is_null());
}

// Breaker (issue 13): `aisearchd sync` while a job ran (the daemon's) under forbid was skipped;
// a manual trigger during a run coalesces into one run after it ends. The command waits for the
// running job (without recording or cancelling it), then starts one.
TEST(Runner, WaitUntilIdleWaitsForTheRunningJobThenAManualRunStarts) {
  Harness h;
  const std::string running = h.sim->start_schedule_job(k_addr);
  std::vector<std::string> waited;
  auto idle = h.runner.wait_until_idle("default", "docs", nullptr,
                                       [&](const api::Job& job) { waited.push_back(job.id); });
  ASSERT_TRUE(idle.ok()) << idle.error();
  EXPECT_EQ(waited, std::vector<std::string>{running});
  EXPECT_EQ(h.sim->count("create_job"), 0u);
  EXPECT_EQ(h.sync(k_addr), nullptr);  // nothing recorded for the job waited for
  auto r = h.runner.run("default", "docs", policy(Concurrency::forbid), "manual", true, nullptr);
  EXPECT_EQ(r.outcome, "succeeded");
  EXPECT_NE(r.job_id, running);
  const auto jobs = h.sim->jobs(k_addr);
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_EQ(jobs[0]["end_reason"], "completed");  // ended by itself, not superseded
}

TEST(Runner, WaitUntilIdleFailsWhenTheJobsCannotBeListedAndStopsOnRequest) {
  Harness h;
  h.sim->start_schedule_job(k_addr);
  std::atomic<bool> stop{true};
  auto stopped = h.runner.wait_until_idle("default", "docs", &stop, nullptr);
  ASSERT_FALSE(stopped.ok());
  EXPECT_NE(stopped.error().find("stopped"), std::string::npos);
  h.sim->remove(k_addr);
  auto gone = h.runner.wait_until_idle("default", "docs", nullptr, nullptr);
  ASSERT_FALSE(gone.ok());
  EXPECT_NE(gone.error().find("could not check for a running job"), std::string::npos)
      << gone.error();
}

TEST(Runner, ReplaceStartsAnywayAndSupersedesTheRunningJob) {
  Harness h;
  const std::string running = h.sim->start_schedule_job(k_addr);
  auto r = h.runner.run("default", "docs", policy(Concurrency::replace), "schedule", true, nullptr);
  EXPECT_EQ(r.outcome, "succeeded");
  EXPECT_NE(r.job_id, running);
  EXPECT_EQ(h.sim->count("list_jobs"), 0u);
  const auto jobs = h.sim->jobs(k_addr);
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_EQ(jobs[0]["end_reason"], "new_job_has_started");
}

TEST(Runner, AJobSupersededMidwayIsReportedSuperseded) {
  Harness h;
  h.sim->schedule_job_at(k_addr, t0() + 100s);
  auto r = h.runner.run("default", "docs", policy(), "schedule", true, nullptr);
  EXPECT_EQ(r.outcome, "superseded");
  EXPECT_EQ(r.end_reason, "new_job_has_started");
  EXPECT_DOUBLE_EQ(r.duration_seconds, 100.0);
  EXPECT_TRUE(r.log_tail.empty());
  EXPECT_TRUE(h.sync(k_addr)->last_success.empty());
}

TEST(Runner, CooldownIsWaitedOutAndRetriedNotAFailure) {
  Harness h;
  h.runner.run("default", "docs", policy(), "schedule", true, nullptr);
  h.sim->reset_counts();
  // The previous job ended at most 15 s ago: the create meets 429 code 7020 first.
  auto r = h.runner.run("default", "docs", policy(), "on_change", true, nullptr);
  EXPECT_EQ(r.outcome, "succeeded");
  EXPECT_EQ(h.sim->count("create_job"), 2u);
  const auto* s = h.sync(k_addr);
  ASSERT_EQ(s->history.size(), 2u);
  for (const auto& rec : s->history) EXPECT_EQ(rec.outcome, "succeeded");
}

TEST(Runner, CooldownLongerThanTheWaitLimitIsSkipped) {
  jobs::FollowOptions options;
  options.cooldown_wait_max = 10s;
  Harness h(options);
  h.runner.run("default", "docs", policy(), "schedule", true, nullptr);
  auto r = h.runner.run("default", "docs", policy(), "manual", true, nullptr);
  EXPECT_EQ(r.outcome, "skipped");
  EXPECT_EQ(r.end_reason, "sync_in_cooldown");
}

TEST(Runner, TimeoutCancelsTheJobAndReportsTimedOutAfterAStall) {
  jobs::FollowOptions options;
  options.stall_after = 5min;
  Harness h(options);
  h.sim->set_mode(k_addr, SimApi::Mode::stall);
  auto p = policy();
  p.timeout = 20min;
  auto r = h.runner.run("default", "docs", p, "schedule", true, nullptr);
  EXPECT_EQ(r.outcome, "timed_out");
  EXPECT_EQ(r.end_reason, "cancelled");
  EXPECT_EQ(h.sim->count("cancel_job"), 1u);
  ASSERT_EQ(h.sim->cancel_bodies().size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(h.sim->cancel_bodies()[0]),
            (nlohmann::json{{"action", "cancel"}}));
  // Cancelled on time: 20 minutes after it started.
  EXPECT_NEAR(r.duration_seconds, 1200.0, 1.0);
  // last_seen_at stopped at 150 s: reported stalled (once) before the timeout.
  ASSERT_EQ(h.reporter.stalls.size(), 1u);
  EXPECT_EQ(h.reporter.stalls[0].second, r.job_id);
  // A timeout is a failure: the log tail comes with it.
  EXPECT_FALSE(r.log_tail.empty());
}

TEST(Runner, AFailedJobCarriesItsLastTwentyLogLinesAndErrorCounts) {
  Harness h;
  h.sim->set_mode(k_addr, SimApi::Mode::fail);
  auto r = h.runner.run("default", "docs", policy(), "schedule", true, nullptr);
  EXPECT_EQ(r.outcome, "failed");
  EXPECT_EQ(r.end_reason, "error");
  ASSERT_EQ(r.log_tail.size(), 20u);
  EXPECT_EQ(r.log_tail.back(), "Job failed: 24 errors");
  EXPECT_EQ(r.log_tail.front(), "failed to fetch page-6");
  EXPECT_EQ(r.error_counts["error"], 3);
  EXPECT_EQ(r.error_counts["index_source_errors"]["failed to fetch"], 3);
  EXPECT_TRUE(h.sync(k_addr)->last_success.empty());
}

TEST(Runner, AMissingEndReasonIsDecidedByTheJobsOwnLogs) {
  Harness h;
  h.sim->set_mode(k_addr, SimApi::Mode::reason, std::nullopt, /*errors=*/false);
  EXPECT_EQ(h.runner.run("default", "docs", policy(), "schedule", true, nullptr).outcome,
            "succeeded");
  h.clock->advance(1h);
  h.sim->set_mode(k_addr, SimApi::Mode::reason, std::nullopt, /*errors=*/true);
  EXPECT_EQ(h.runner.run("default", "docs", policy(), "schedule", true, nullptr).outcome, "failed");
}

// Issue 13, defect 4: one bad file in the source shows in the instance-wide stats forever; a job
// without end_reason whose own logs show no error is a success, not a failure.
TEST(Runner, AMissingEndReasonIsNotJudgedByInstanceWideStats) {
  Harness h;
  h.sim->set_instance_errors(k_addr, 1);
  h.sim->set_mode(k_addr, SimApi::Mode::reason, std::nullopt, /*errors=*/false);
  auto r = h.runner.run("default", "docs", policy(), "schedule", true, nullptr);
  EXPECT_EQ(r.outcome, "succeeded");
  EXPECT_FALSE(h.sync(k_addr)->last_success.empty());
}

// Issue 13, defect 5: a job cancelled for its timeout is timed_out whatever end_reason says,
// null included.
TEST(Runner, ATimeoutCancelWithANullEndReasonIsTimedOut) {
  Harness h;
  h.sim->set_mode(k_addr, SimApi::Mode::stall);
  h.sim->cancel_end_reason.reset();
  auto p = policy();
  p.timeout = 20min;
  auto r = h.runner.run("default", "docs", p, "schedule", true, nullptr);
  EXPECT_EQ(r.outcome, "timed_out");
  EXPECT_TRUE(h.sync(k_addr)->last_success.empty());
}

// Issue 13, defect 13: the log tail is the job's real last lines, also past 500 entries.
TEST(Runner, TheLogTailIsTheLastLinesOfALongLog) {
  Harness h;
  h.sim->fail_log_lines = 1200;
  h.sim->set_mode(k_addr, SimApi::Mode::fail);
  auto r = h.runner.run("default", "docs", policy(), "schedule", true, nullptr);
  EXPECT_EQ(r.outcome, "failed");
  ASSERT_EQ(r.log_tail.size(), 20u);
  EXPECT_EQ(r.log_tail.back(), "Job failed: 1200 errors");
  EXPECT_EQ(r.log_tail.front(), "failed to fetch page-1182");
}

// Issue 13, defect 3: a trigger whose answer is lost after the job was made is not sent again
// blindly: the job list finds the job by the trigger id in its description; one job, its real
// outcome.
TEST(Runner, ATriggerWhoseAnswerIsLostLeavesExactlyOneJob) {
  for (int attempts : {1, 5}) {
    auto config = Harness::make_config();
    config.retry.max_attempts = attempts;
    config.retry.base_delay = 10ms;
    Harness h({}, config);
    h.sim->lose_create_answers(1);
    auto r = h.runner.run("default", "docs", policy(), "manual", true, nullptr);
    EXPECT_EQ(r.outcome, "succeeded") << "client attempts " << attempts;
    const auto jobs = h.sim->jobs(k_addr);
    ASSERT_EQ(jobs.size(), 1u) << "client attempts " << attempts;
    EXPECT_EQ(r.job_id, jobs[0]["id"]);
    EXPECT_EQ(h.sim->count("create_job"), 1u);
  }
}

// A trigger that certainly made nothing (503, not applied) is tried again after the job list
// shows no job carrying its id.
TEST(Runner, ATriggerThatMadeNoJobIsRetriedAfterTheListShowsNone) {
  Harness h;
  h.sim->fail_creates(1, 503);
  auto r = h.runner.run("default", "docs", policy(), "manual", true, nullptr);
  EXPECT_EQ(r.outcome, "succeeded");
  EXPECT_EQ(h.sim->jobs(k_addr).size(), 1u);
  EXPECT_EQ(h.sim->count("create_job"), 2u);
}

TEST(Runner, AnUnknownEndReasonIsNeverASuccess) {
  Harness h;
  h.sim->set_mode(k_addr, SimApi::Mode::reason, std::string("quota_exceeded"), false);
  auto r = h.runner.run("default", "docs", policy(), "schedule", true, nullptr);
  EXPECT_EQ(r.outcome, "failed");
  EXPECT_EQ(r.end_reason, "quota_exceeded");
}

TEST(Runner, AnInstanceThatDoesNotExistFailsToTrigger) {
  Harness h;
  h.sim->remove(k_addr);
  auto r = h.runner.run("default", "docs", policy(Concurrency::replace), "manual", true, nullptr);
  EXPECT_EQ(r.outcome, "failed");
  EXPECT_EQ(r.end_reason, "trigger_failed");
  ASSERT_EQ(r.log_tail.size(), 1u);
  EXPECT_NE(r.log_tail[0].find("404"), std::string::npos);
  EXPECT_EQ(r.log_tail[0].find("test-token"), std::string::npos);
}

TEST(Runner, NoWaitReturnsTheStartedJobWithoutRecordingIt) {
  Harness h;
  auto r = h.runner.run("default", "docs", policy(), "manual", false, nullptr);
  EXPECT_EQ(r.outcome, "");
  EXPECT_FALSE(r.job_id.empty());
  EXPECT_EQ(h.sim->count("get_job"), 0u);
  // No outcome; the job is saved as running (a daemon follows it and records it).
  ASSERT_NE(h.sync(k_addr), nullptr);
  EXPECT_TRUE(h.sync(k_addr)->history.empty());
  ASSERT_EQ(h.sync(k_addr)->running.size(), 1u);
  EXPECT_EQ(h.sync(k_addr)->running[0].job_id, r.job_id);
  EXPECT_TRUE(h.reporter.outcomes.empty());
}

TEST(Runner, StopAbandonsTheFollowWithoutRecording) {
  Harness h;
  std::atomic<bool> stop{true};
  auto r = h.runner.run("default", "docs", policy(), "schedule", true, &stop);
  EXPECT_EQ(r.outcome, "");
  EXPECT_FALSE(r.job_id.empty());
  ASSERT_NE(h.sync(k_addr), nullptr);
  EXPECT_TRUE(h.sync(k_addr)->history.empty());
  EXPECT_EQ(h.sync(k_addr)->running.size(), 1u);
}

TEST(Runner, HistoryKeepsTheLastTwenty) {
  Harness h;
  std::string first_kept;
  for (int i = 0; i < 25; ++i) {
    auto r = h.runner.run("default", "docs", policy(), "schedule", true, nullptr);
    ASSERT_EQ(r.outcome, "succeeded");
    if (i == 5) first_kept = r.job_id;
    h.clock->advance(1h);
  }
  const auto* s = h.sync(k_addr);
  ASSERT_EQ(s->history.size(), 20u);
  EXPECT_EQ(s->history.front().job_id, first_kept);
}

TEST(Runner, FollowsAJobCloudflareStarted) {
  Harness h;
  const std::string id = h.sim->start_schedule_job(k_addr);
  api::Job job;
  job.id = id;
  job.source = "schedule";
  job.started_at = util::format_rfc3339(t0());
  auto follow = h.runner.make_follow("default", "docs", job, policy(), "cloudflare", "", t0());
  std::optional<state::JobRecord> r;
  for (int i = 0; i < 100 && !r; ++i) {
    auto step = h.runner.poll_step(follow);
    if (step.kind == jobs::Step::Kind::done) r = step.record;
    h.clock->advance(step.delay);
  }
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->outcome, "succeeded");
  EXPECT_EQ(r->source, "schedule");
  EXPECT_EQ(r->trigger, "cloudflare");
  EXPECT_EQ(h.sync(k_addr)->last_job_id, id);
  // Recorded once: finishing it again records nothing.
  EXPECT_FALSE(h.runner.finish(follow).has_value());
  EXPECT_EQ(h.sync(k_addr)->history.size(), 1u);
}

TEST(Runner, PastTheLongestRecentRunPollsBackOffFromTheSpreadOfDurations) {
  Harness h;
  // History: 280 s, 300 s, 320 s (median 300, longest 320, spread 20 s).
  for (auto d : {280s, 300s, 320s}) {
    h.sim->job_duration = d;
    h.runner.run("default", "docs", policy(), "schedule", true, nullptr);
    h.clock->advance(1h);
  }
  h.sim->job_duration = 380s;  // longer than any before
  h.sim->reset_counts();
  auto r = h.runner.run("default", "docs", policy(), "schedule", true, nullptr);
  EXPECT_EQ(r.outcome, "succeeded");
  // The first poll past the longest run by the spread (320 s + 6.4 s of slack + 20 s), then
  // 20 s and 40 s later: the job ended at 380 s is seen at 406 s. Backing off from poll_min (5 s)
  // would have taken six polls there.
  EXPECT_EQ(h.sim->count("get_job"), 3u);
}

// Issue 13 (bench/sync_requests.sh: 3.78 requests per job under forbid, target 3.0): the first
// poll came at the median run, so half the jobs of a steady instance took a second poll (and
// one a little longer than any recent run, a third). A job within the usual spread of durations
// is seen ended by its first poll: under forbid the check, the trigger and one poll.
TEST(Runner, AJobWithinTheUsualSpreadIsSeenEndedByItsFirstPoll) {
  Harness h;
  for (auto d : {280s, 300s, 320s}) {
    h.sim->job_duration = d;
    h.runner.run("default", "docs", policy(), "schedule", true, nullptr);
    h.clock->advance(1h);
  }
  for (auto d : {330s, 300s, 290s}) {
    h.sim->job_duration = d;
    h.sim->reset_counts();
    auto r = h.runner.run("default", "docs", policy(), "schedule", true, nullptr);
    EXPECT_EQ(r.outcome, "succeeded");
    EXPECT_EQ(h.sim->count("get_job"), 1u) << "a job of " << d.count() << " s";
    EXPECT_EQ(h.sim->total(), 3u) << "a job of " << d.count() << " s";
    h.clock->advance(1h);
  }
}

}  // namespace
}  // namespace jobs_test
