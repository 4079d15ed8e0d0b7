// Sync jobs against the emulator: every outcome for real, forbid vs replace, the cooldown, the
// timeout cancel, Cloudflare-started jobs, and the webhook against a local receiver.
//
// Time is the emulator's manual clock, shared with the code under test through
// support::EmulatorClock: the runner's waits move the emulator's clock instead of sleeping, so a
// job ends (and a cooldown passes) after the waits the runner made, never because the machine
// was slow between two requests.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "api/client.hpp"
#include "http/curl_transport.hpp"
#include "jobs/reporter.hpp"
#include "jobs/runner.hpp"
#include "jobs/sync_manager.hpp"
#include "jobs/webhook.hpp"
#include "state/writer.hpp"
#include "support/emulator_clock.hpp"
#include "support/emulator_process.hpp"
#include "support/poll.hpp"

namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using Concurrency = manifest::SyncSpec::Concurrency;

class MemoryStore final : public state::StateStore {
 public:
  util::Result<state::State, std::string> load() override { return state::State{}; }
  util::Result<void, std::string> save(const state::State&) override { return {}; }
  std::string describe() const override { return "memory"; }
};

class Recorder final : public jobs::Reporter {
 public:
  void outcome(const std::string& address, const state::JobRecord& r) override {
    std::lock_guard lock(m_mutex);
    m_outcomes.emplace_back(address, r);
  }
  void stalled(const std::string& address, const std::string&) override {
    std::lock_guard lock(m_mutex);
    m_stalls.push_back(address);
  }
  std::size_t stalls() {
    std::lock_guard lock(m_mutex);
    return m_stalls.size();
  }

 private:
  std::mutex m_mutex;
  std::vector<std::pair<std::string, state::JobRecord>> m_outcomes;
  std::vector<std::string> m_stalls;
};

// Polls `pred` (what another thread or process does) until it holds, for up to 30 s.
template <typename Pred>
bool eventually(Pred pred) {
  return support::poll_until(pred, 30s, 10ms);
}

class JobsIntegration : public ::testing::Test {
 protected:
  JobsIntegration()
      : emulator({"--job-duration", "300ms", "--job-cooldown", "1s", "--clock", "manual"}),
        clock(std::make_shared<support::EmulatorClock>(emulator)),
        client(config(emulator), http::make_curl_transport(http::CurlOptions{}), clock),
        writer(store, state::State{}) {
    emulator.control("POST", "seed",
                     {{"instances", json::array({{{"namespace", "default"},
                                                  {"id", "docs"},
                                                  {"type", "r2"},
                                                  {"source", "docs-bucket"}}})}});
    reporters.add(log);
    reporters.add(recorder);
  }

  static api::ClientConfig config(const support::EmulatorProcess& emu) {
    api::ClientConfig c;
    c.api_url = emu.base_url();
    c.account_id = support::EmulatorProcess::k_account;
    c.token = support::EmulatorProcess::k_token;
    c.budget.capacity = 0;
    return c;
  }

  static jobs::FollowOptions fast() {
    jobs::FollowOptions o;
    o.poll_min = 20ms;
    o.poll_max = 100ms;
    o.stall_after = 300ms;
    o.cooldown_wait_max = 5s;
    o.cooldown_default = 1s;
    o.cancel_grace = 2s;
    o.wait_slice = 10ms;
    return o;
  }

  static manifest::SyncSpec policy(Concurrency c = Concurrency::forbid) {
    manifest::SyncSpec s;
    s.every = 1h;
    s.concurrency = c;
    return s;
  }

  // API requests the emulator logged whose method and path match.
  std::vector<json> requests(const std::string& method, const std::string& path_suffix) {
    std::vector<json> out;
    for (const auto& r : emulator.control("GET", "requests")) {
      const std::string path = r.value("path", "");
      if (r.value("method", "") == method && path.size() >= path_suffix.size() &&
          path.compare(path.size() - path_suffix.size(), path_suffix.size(), path_suffix) == 0) {
        out.push_back(r);
      }
    }
    return out;
  }

  support::EmulatorProcess emulator;
  std::shared_ptr<support::EmulatorClock> clock;
  api::Client client;
  MemoryStore store;
  state::StateWriter writer;
  jobs::LogReporter log;
  Recorder recorder;
  jobs::FanoutReporter reporters;
};

TEST_F(JobsIntegration, Succeeded) {
  jobs::Runner runner(client, *clock, writer, reporters, fast());
  auto r = runner.run("default", "docs", policy(), "manual", true, nullptr);
  EXPECT_EQ(r.outcome, "succeeded");
  EXPECT_EQ(r.end_reason, "completed");
  EXPECT_NEAR(r.duration_seconds, 0.3, 0.001);  // the emulator's clock: exactly the job's run
  const auto s = writer.snapshot().sync.at("default/docs");
  EXPECT_EQ(s.history.size(), 1u);
  EXPECT_EQ(s.last_success, r.ended_at);
}

TEST_F(JobsIntegration, FailedWithLogLinesAndErrorCounts) {
  emulator.control("PUT", "config", {{"job_outcomes", {{"default/docs", "fail"}}}});
  jobs::Runner runner(client, *clock, writer, reporters, fast());
  auto r = runner.run("default", "docs", policy(), "schedule", true, nullptr);
  EXPECT_EQ(r.outcome, "failed");
  EXPECT_EQ(r.end_reason, "error");
  const auto fetch_errors = std::count_if(r.log_tail.begin(), r.log_tail.end(), [](const auto& l) {
    return l.find("failed to fetch") != std::string::npos;
  });
  EXPECT_GT(fetch_errors, 0);
  ASSERT_FALSE(r.log_tail.empty());
  EXPECT_NE(r.log_tail.back().find("Job failed"), std::string::npos);
  EXPECT_GT(r.error_counts.value("error", 0), 0);
}

TEST_F(JobsIntegration, CooldownIsWaitedOut) {
  jobs::Runner runner(client, *clock, writer, reporters, fast());
  ASSERT_EQ(runner.run("default", "docs", policy(), "schedule", true, nullptr).outcome,
            "succeeded");
  auto r = runner.run("default", "docs", policy(), "on_change", true, nullptr);
  EXPECT_EQ(r.outcome, "succeeded");
  const auto posts = requests("POST", "/instances/docs/jobs");
  ASSERT_EQ(posts.size(), 3u);
  EXPECT_EQ(support::logged_status(posts[0]), 200);
  EXPECT_EQ(support::logged_status(posts[1]), 429);  // in the cooldown: waited out on the clock
  EXPECT_EQ(support::logged_status(posts[2]), 200);
}

TEST_F(JobsIntegration, TimeoutCancelsAStalledJob) {
  emulator.control("PUT", "config", {{"job_outcomes", {{"default/docs", "stall"}}}});
  jobs::Runner runner(client, *clock, writer, reporters, fast());
  auto p = policy();
  p.timeout = 1500ms;
  auto r = runner.run("default", "docs", p, "schedule", true, nullptr);
  EXPECT_EQ(r.outcome, "timed_out");
  EXPECT_EQ(r.end_reason, "cancelled");
  EXPECT_EQ(recorder.stalls(), 1u);  // before the timeout
  const auto patches = requests("PATCH", "/jobs/" + r.job_id);
  ASSERT_EQ(patches.size(), 1u);
  EXPECT_EQ(support::logged_status(patches[0]), 200);
  EXPECT_GE(clock->advanced(), 1500ms);  // cancelled once the runner had waited its timeout
}

TEST_F(JobsIntegration, SupersededByCloudflaresSchedule) {
  // The job never ends by itself (a stall), so it is still running, however long the follower
  // has waited, when Cloudflare's schedule starts the next one.
  emulator.control("PUT", "config", {{"job_outcomes", {{"default/docs", "stall"}}}});
  jobs::Runner runner(client, *clock, writer, reporters, fast());
  state::JobRecord r;
  std::thread follower(
      [&] { r = runner.run("default", "docs", policy(), "schedule", true, nullptr); });
  ASSERT_TRUE(eventually([&] {
    const auto posts = requests("POST", "/instances/docs/jobs");
    return !posts.empty() && support::logged_status(posts[0]) == 200;
  }));
  emulator.control("POST", "instances/default/docs/schedule-job");
  follower.join();
  EXPECT_EQ(r.outcome, "superseded");
  EXPECT_EQ(r.end_reason, "new_job_has_started");
}

TEST_F(JobsIntegration, ForbidSkipsAndReplaceSupersedes) {
  // On the manual clock Cloudflare's job runs until the replace ends it.
  emulator.control("PUT", "config", {{"job_duration_ms", 2000}});
  emulator.control("POST", "instances/default/docs/schedule-job");
  jobs::Runner runner(client, *clock, writer, reporters, fast());
  auto skipped =
      runner.run("default", "docs", policy(Concurrency::forbid), "schedule", true, nullptr);
  EXPECT_EQ(skipped.outcome, "skipped");
  EXPECT_EQ(skipped.source, "schedule");
  EXPECT_TRUE(requests("POST", "/instances/docs/jobs").empty());

  emulator.control("PUT", "config", {{"job_duration_ms", 300}});
  auto replaced =
      runner.run("default", "docs", policy(Concurrency::replace), "schedule", true, nullptr);
  EXPECT_EQ(replaced.outcome, "succeeded");
  auto listed = client.list_jobs("default", "docs");
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ(listed->back().end_reason.value_or(""), "new_job_has_started");
}

TEST_F(JobsIntegration, CloudflareStartedJobsAreReported) {
  jobs::Runner runner(client, *clock, writer, reporters, fast());
  jobs::SyncManager manager(runner, client, *clock, writer, reporters, {});
  manifest::Manifest m;
  auto& inst = m.namespaces["default"].instances["docs"];
  inst.ns = "default";
  inst.id = "docs";
  inst.sync = policy();
  manager.set_manifest(m);
  auto observe = [&] {
    auto listed = client.list_instances("default");
    ASSERT_TRUE(listed.ok());
    manager.observe_instances(listed.value());
  };
  observe();  // baseline
  emulator.control("POST", "instances/default/docs/schedule-job");
  observe();  // last_activity moved: one job list, then follow
  ASSERT_TRUE(eventually([&] {
    auto s = writer.snapshot();
    return s.sync.count("default/docs") != 0 && !s.sync.at("default/docs").history.empty();
  }));
  const auto rec = writer.snapshot().sync.at("default/docs").history.back();
  EXPECT_EQ(rec.trigger, "cloudflare");
  EXPECT_EQ(rec.source, "schedule");
  EXPECT_EQ(rec.outcome, "succeeded");
  manager.stop(30s);
}

TEST_F(JobsIntegration, WebhookPostsOutcomesToALocalReceiver) {
  httplib::Server receiver;
  std::mutex mutex;
  std::vector<json> events;
  receiver.Post("/hook", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mutex);
    events.push_back(json::parse(req.body, nullptr, false));
    res.status = events.size() == 1 ? 503 : 204;  // the first delivery is retried
  });
  receiver.set_keep_alive_max_count(1);  // stop() then need not wait out a kept-alive read
  const int port = receiver.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread server([&] { receiver.listen_after_bind(); });

  jobs::WebhookOptions options;
  options.url = "http://127.0.0.1:" + std::to_string(port) + "/hook";
  options.base_delay = 50ms;
  jobs::WebhookNotifier webhook(options, http::make_curl_transport(http::CurlOptions{}));
  reporters.add(webhook);
  emulator.control("PUT", "config", {{"job_outcomes", {{"default/docs", "fail"}}}});
  jobs::Runner runner(client, *clock, writer, reporters, fast());
  EXPECT_EQ(runner.run("default", "docs", policy(), "schedule", true, nullptr).outcome, "failed");

  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mutex);
    return events.size() >= 2;
  }));
  ASSERT_TRUE(eventually([&] { return webhook.counters().delivered == 1u; }));
  webhook.stop(30s);
  receiver.stop();
  server.join();
  std::lock_guard lock(mutex);
  ASSERT_EQ(events.size(), 2u);  // one event, delivered on the retry
  EXPECT_EQ(events[1]["event"], "sync_outcome");
  EXPECT_EQ(events[1]["address"], "default/docs");
  EXPECT_EQ(events[1]["outcome"], "failed");
  EXPECT_FALSE(events[1]["log_tail"].empty());
  EXPECT_EQ(webhook.counters().delivered, 1u);
}

}  // namespace
