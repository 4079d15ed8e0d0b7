// The sync engine (jobs::SyncManager) against the emulator (issue 13): forbid with jobs longer
// than the interval, replace over a job that never ends, a trigger whose answer is lost after the
// job was made, and `aisearchd run` killed -9 mid-job then restarted.
//
// In-process tests run the engine without worker threads on support::EmulatorClock: the test
// runs the due work, then moves both clocks (the engine's and the emulator's manual clock) to
// the next due task or slot, so every job ends and every slot comes on fake time, however busy
// the machine is.

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "api/client.hpp"
#include "http/curl_transport.hpp"
#include "jobs/reporter.hpp"
#include "jobs/runner.hpp"
#include "jobs/sync_manager.hpp"
#include "state/writer.hpp"
#include "support/daemon_process.hpp"
#include "support/emulator_clock.hpp"
#include "support/emulator_process.hpp"
#include "support/poll.hpp"
#include "support/test_dir.hpp"
#include "util/time_format.hpp"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;
using Concurrency = manifest::SyncSpec::Concurrency;

class NullStore final : public state::StateStore {
 public:
  util::Result<state::State, std::string> load() override { return state::State{}; }
  util::Result<void, std::string> save(const state::State&) override { return {}; }
  std::string describe() const override { return "memory"; }
};

class SyncEngine : public ::testing::Test {
 protected:
  SyncEngine()
      : emulator({"--job-duration", "150s", "--job-cooldown", "20s", "--clock", "manual"}),
        clock(std::make_shared<support::EmulatorClock>(emulator)),
        client(config(emulator), http::make_curl_transport(http::CurlOptions{}), clock),
        writer(store, state::State{}),
        runner(client, *clock, writer, log, jobs::FollowOptions{}),
        manager(runner, client, *clock, writer, log, jobs::SyncManagerOptions{0}) {
    emulator.control("POST", "seed",
                     {{"instances", json::array({{{"namespace", "default"},
                                                  {"id", "docs"},
                                                  {"type", "r2"},
                                                  {"source", "docs-bucket"}}})}});
  }

  static api::ClientConfig config(const support::EmulatorProcess& emu) {
    api::ClientConfig c;
    c.api_url = emu.base_url();
    c.account_id = support::EmulatorProcess::k_account;
    c.token = support::EmulatorProcess::k_token;
    c.budget.capacity = 0;
    c.retry.base_delay = 1ms;  // the client's own retries (GETs) on real time
    return c;
  }

  void use(Concurrency c) {
    manifest::Manifest m;
    auto& inst = m.namespaces["default"].instances["docs"];
    inst.ns = "default";
    inst.id = "docs";
    manifest::SyncSpec s;
    s.every = 1min;
    s.concurrency = c;
    inst.sync = s;
    manager.set_manifest(m);
  }

  // Runs the engine's work and the schedule until `until` (the engine's clock), moving both
  // clocks to each next due task or slot.
  void drive(util::Clock::SystemTime until, bool tick = true) {
    for (int guard = 0; guard < 100000; ++guard) {
      if (tick) manager.tick(clock->now());
      manager.run_due_work();
      std::optional<util::Clock::SystemTime> next;
      if (auto work = manager.next_work())
        next = clock->now() + std::max(std::chrono::duration_cast<std::chrono::milliseconds>(
                                           *work - clock->steady_now()),
                                       0ms);
      if (tick)
        if (auto due = manager.next_due(); due && (!next || *due < *next)) next = *due;
      if (!next || *next > until) break;
      if (*next > clock->now())
        clock->advance(std::chrono::ceil<std::chrono::milliseconds>(*next - clock->now()));
    }
  }

  // The emulator's jobs of default/docs, oldest first, as the API shows them.
  std::vector<json> jobs() {
    auto listed = client.list_jobs("default", "docs", 10);
    EXPECT_TRUE(listed.ok());
    std::vector<json> out;
    if (!listed.ok()) return out;
    for (auto it = listed->rbegin(); it != listed->rend(); ++it)
      out.push_back({{"id", it->id},
                     {"started_at", it->started_at.value_or("")},
                     {"description", it->description.value_or("")},
                     {"end_reason", it->end_reason.value_or("")}});
    return out;
  }

  std::deque<state::JobRecord> history() {
    auto s = writer.snapshot();
    return s.sync.count("default/docs") ? s.sync.at("default/docs").history
                                        : std::deque<state::JobRecord>{};
  }

  support::EmulatorProcess emulator;
  std::shared_ptr<support::EmulatorClock> clock;
  api::Client client;
  NullStore store;
  state::StateWriter writer;
  jobs::LogReporter log;
  jobs::Runner runner;
  jobs::SyncManager manager;
};

// forbid, `every: 1m`, 150 s jobs: one job per run slot, started on it; every other slot is
// recorded `skipped` once; nothing runs off-slot.
TEST_F(SyncEngine, ForbidRecordsEachOverlappedSlotSkippedAndNeverRunsOffSlot) {
  use(Concurrency::forbid);
  const auto start = clock->now();
  manager.tick(start);  // first sight
  const auto first = util::parse_rfc3339(util::format_rfc3339(start)).value();
  drive(start + 12min);
  std::set<std::string> run_slots;
  for (const auto& job : jobs()) {
    const std::string d = job["description"];
    const auto at = d.find(" slot ");
    ASSERT_NE(at, std::string::npos) << d;
    const std::string slot = d.substr(at + 6);
    run_slots.insert(slot);
    EXPECT_EQ(util::parse_rfc3339(job["started_at"].get<std::string>()).value(),
              util::parse_rfc3339(slot).value())
        << "off-slot run: " << d;
  }
  std::map<std::string, int> skipped;
  for (const auto& r : history())
    if (r.outcome == "skipped") ++skipped[r.slot];
  ASSERT_GE(run_slots.size(), 3u);
  EXPECT_GE(skipped.size(), 6u);
  for (const auto& [slot, n] : skipped) {
    EXPECT_EQ(n, 1) << slot;
    EXPECT_EQ(run_slots.count(slot), 0u) << slot;
  }
  (void)first;
}

// replace over a job that never ends: each slot starts a job, the previous one is superseded.
TEST_F(SyncEngine, ReplaceSupersedesAJobThatNeverEnds) {
  emulator.control("PUT", "config", {{"job_outcome", "stall"}});
  use(Concurrency::replace);
  const auto start = clock->now();
  manager.tick(start);
  drive(start + 4min + 30s);
  // The last replaced job's outcome is recorded when its follower next polls it, which may come
  // after the last slot (the start's second within the minute is the wall clock's): follow on,
  // with no more slots, until every follower has polled again.
  drive(clock->now() + 5min, /*tick=*/false);
  const auto all = jobs();
  ASSERT_GE(all.size(), 4u);
  for (std::size_t i = 0; i + 1 < all.size(); ++i)
    EXPECT_EQ(all[i]["end_reason"], "new_job_has_started");
  int superseded = 0;
  for (const auto& r : history()) superseded += r.outcome == "superseded";
  EXPECT_EQ(superseded, static_cast<int>(all.size()) - 1);
}

// The answer to POST jobs is lost after the job was made: the engine finds the job by its
// trigger id in the job list, never sends a second POST, and reports the job's real outcome.
TEST_F(SyncEngine, ATriggerWhoseAnswerIsLostLeavesExactlyOneJob) {
  emulator.control("PUT", "config",
                   {{"fault_rate", 1.0},
                    {"faults", json::array({"lost"})},
                    {"fault_path", "/instances/docs/jobs"},
                    {"fault_methods", json::array({"POST"})}});
  use(Concurrency::forbid);
  EXPECT_EQ(manager.trigger("default/docs", "manual"), jobs::SyncManager::TriggerResult::queued);
  drive(clock->now() + 10min, /*tick=*/false);
  const auto all = jobs();
  ASSERT_EQ(all.size(), 1u);
  const auto h = history();
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h[0].job_id, all[0]["id"]);
  EXPECT_EQ(h[0].outcome, "succeeded");
  std::size_t posts = 0;
  for (const auto& r : emulator.control("GET", "requests"))
    posts += r.value("method", "") == "POST";
  EXPECT_EQ(posts, 1u);
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// `aisearchd run` killed -9 while its job runs, the job ends while no daemon runs, the daemon
// restarts: the outcome is in history (and `status`) exactly once.
TEST(SyncEngineDaemon, KillDuringAJobThenRestartRecordsTheOutcomeOnce) {
  support::EmulatorProcess emu({"--job-duration", "10s", "--clock", "manual"});
  const fs::path dir = support::fresh_test_dir("aisearchd-sync-kill");
  fs::create_directories(dir / "state");
  std::ofstream(dir / "aisearch.yaml") << R"(apiVersion: aisearchd/v1
namespaces:
  default:
    instances:
      docs:
        type: r2
        source: docs-bucket
        sync: { every: 24h, on_change: true }
)";
  std::ofstream(dir / "config.yaml")
      << "api_url: " << emu.base_url() << "\naccount_id: " << support::EmulatorProcess::k_account
      << "\nstate_dir: " << (dir / "state").string()
      << "\nmanifest: " << (dir / "aisearch.yaml").string()
      << "\nreconcile_interval: 1h\nlisten: 127.0.0.1:0\n";
  const fs::path state_file = dir / "state" / "state.json";
  const auto saved = [&] {
    auto j = json::parse(read_file(state_file), nullptr, false);
    return j.is_object() && j.contains("sync") && j["sync"].contains("default/docs")
               ? j["sync"]["default/docs"]
               : json();
  };
  std::string job_id;
  {
    support::DaemonProcess daemon(dir / "config.yaml", dir / "daemon.log");
    ASSERT_TRUE(daemon.wait_listening(60s)) << daemon.log_text();
    // The create's on_change trigger starts a job; it is saved as running at once.
    ASSERT_TRUE(support::poll_until(
        [&] {
          auto s = saved();
          return s.is_object() && s.contains("running") && !s["running"].empty();
        },
        60s, 20ms))
        << daemon.log_text();
    job_id = saved()["running"][0]["job_id"].get<std::string>();
    daemon.kill9();
  }
  // The job ends while no daemon runs.
  emu.control("POST", "clock/advance", {{"ms", 20000}});
  for (int restart = 0; restart < 2; ++restart) {
    support::DaemonProcess daemon(dir / "config.yaml", dir / "daemon.log");
    ASSERT_TRUE(daemon.wait_listening(60s)) << daemon.log_text();
    ASSERT_TRUE(support::poll_until(
        [&] {
          auto s = saved();
          return s.is_object() && s.contains("history") && !s["history"].empty() &&
                 (!s.contains("running") || s["running"].empty());
        },
        60s, 20ms))
        << daemon.log_text();
    ASSERT_TRUE(support::poll_until(
        [&] {
          auto st = daemon.status();
          return st.is_object() && !st["instances"].empty() &&
                 st["instances"][0]["last_outcome"] == "succeeded";
        },
        60s, 20ms));
    daemon.signal(SIGTERM);
    EXPECT_EQ(daemon.wait_exit(30s), 0);
  }
  int records = 0;
  const json final_state = saved();
  for (const auto& r : final_state["history"]) records += r["job_id"].get<std::string>() == job_id;
  EXPECT_FALSE(job_id.empty());
  EXPECT_EQ(records, 1) << final_state.dump(2);
  std::size_t posts = 0;
  for (const auto& r : emu.control("GET", "requests"))
    posts +=
        r.value("method", "") == "POST" && r.value("path", "").find("/jobs") != std::string::npos;
  EXPECT_EQ(posts, 1u);
}

}  // namespace
