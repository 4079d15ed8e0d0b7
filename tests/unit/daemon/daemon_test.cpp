#include "daemon/daemon.hpp"

#include <gtest/gtest.h>
#include <httplib.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "manifest/loader.hpp"
#include "state/file_store.hpp"
#include "support/fake_transport.hpp"
#include "support/poll.hpp"
#include "support/test_dir.hpp"
#include "util/time_format.hpp"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using support::FakeTransport;

constexpr const char* k_ns_path = "/accounts/acc/ai-search/namespaces";
constexpr const char* k_default_path = "/accounts/acc/ai-search/namespaces/default/instances";

const char* k_manifest = R"(apiVersion: aisearchd/v1
namespaces:
  default:
    instances:
      docs:
        type: r2
        source: docs-bucket
        sync:
          every: 6h
          max_staleness: 1h
)";

class Recording : public service::Notifier {
 public:
  void send(const std::string& s) override {
    std::lock_guard lock(m_mutex);
    m_sent.push_back(s);
  }
  std::optional<std::chrono::microseconds> watchdog_period() const override { return {}; }
  std::vector<std::string> sent() const {
    std::lock_guard lock(m_mutex);
    return m_sent;
  }

 private:
  mutable std::mutex m_mutex;
  std::vector<std::string> m_sent;
};

util::EnvLookup no_env() {
  return [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
}

class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = support::fresh_test_dir("aisearchd-daemon");
    fs::create_directories(dir / "state");
    manifest_path = dir / "aisearch.yaml";
    write_manifest(k_manifest);
    store = std::make_unique<state::FileStateStore>(dir / "state");
  }
  void TearDown() override {
    daemon.reset();
    fs::remove_all(dir);
  }
  void write_manifest(const std::string& text) { std::ofstream(manifest_path) << text; }

  void api_up() {
    fake->on("GET", k_ns_path, [](const support::RecordedRequest&) {
      return FakeTransport::json_response(
          200, support::list_envelope(nlohmann::json::array({{{"name", "default"}}}), 1, 100, 1));
    });
    fake->on("GET", k_default_path, [](const support::RecordedRequest&) {
      return FakeTransport::json_response(
          200, support::list_envelope(nlohmann::json::array(), 1, 100, 0));
    });
  }
  void api_down() {
    fake->on("", "/", [](const support::RecordedRequest&) {
      return FakeTransport::json_response(503, support::error_envelope(10000, "unavailable"));
    });
  }

  void make(bool observe, state::State initial = {}) {
    api::ClientConfig cc;
    cc.api_url = support::k_fake_api_url;
    cc.account_id = "acc";
    cc.token = "secret-token";
    cc.retry.max_attempts = 2;
    client = std::make_shared<api::Client>(cc, fake, clock);
    auto m = manifest::load_manifest(manifest_path, no_env());
    ASSERT_TRUE(m.ok());
    service::DaemonOptions o;
    o.manifest_path = manifest_path.string();
    o.observe = observe;
    o.env = no_env();
    o.watch_manifest = false;
    o.config.listen = "";
    o.node_name = "node-1";
    o.config.notify_webhook = webhook_url;
    o.schedule_recheck = schedule_recheck;
    daemon = std::make_unique<service::Daemon>(o, std::move(*m), client, *store, std::move(initial),
                                               *clock, notifier);
  }

  fs::path dir, manifest_path;
  std::string webhook_url;
  std::chrono::milliseconds schedule_recheck{10'000};
  std::shared_ptr<FakeTransport> fake = std::make_shared<FakeTransport>();
  std::shared_ptr<util::FakeClock> clock =
      std::make_shared<util::FakeClock>(*util::parse_rfc3339("2026-03-01T12:00:00Z"));
  std::shared_ptr<api::Client> client;
  std::unique_ptr<state::FileStateStore> store;
  Recording notifier;
  std::unique_ptr<service::Daemon> daemon;
};

bool has_reason(const service::Readiness& r, const std::string& text) {
  for (const auto& reason : r.reasons)
    if (reason.find(text) != std::string::npos) return true;
  return false;
}

TEST_F(DaemonTest, ObserveModePlansAndReportsWithoutWriting) {
  api_up();
  make(/*observe=*/true);
  EXPECT_TRUE(has_reason(daemon->readiness(), "no successful reconcile yet"));
  ASSERT_TRUE(daemon->reconcile_once());
  for (const auto& r : fake->requests()) EXPECT_EQ(r.method, "GET") << r.path;
  EXPECT_FALSE(fs::exists(dir / "state" / "state.json"));
  auto metrics = daemon->metrics_text();
  EXPECT_NE(metrics.find("aisearchd_actions_total{action=\"create\",result=\"planned\"} 1"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("aisearchd_reconciles_total{result=\"success\"} 1"), std::string::npos);
  EXPECT_NE(metrics.find("aisearchd_plan_changes{action=\"create\"} 1"), std::string::npos);
  auto status = daemon->status_json();
  EXPECT_EQ(status["role"], "leader");
  EXPECT_EQ(status["mode"], "observe");
  EXPECT_EQ(status["reconcile"]["last_result"], "success");
  ASSERT_EQ(status["instances"].size(), 1u);
  EXPECT_EQ(status["instances"][0]["address"], "default/docs");
  EXPECT_EQ(status["instances"][0]["owned"], false);
  EXPECT_TRUE(daemon->readiness().ready);
  EXPECT_NE(daemon->summary_line().find("reconcile ok"), std::string::npos);
}

TEST_F(DaemonTest, ApiDownIsAFailedCycleNotAnExit) {
  api_down();
  make(true);
  EXPECT_FALSE(daemon->reconcile_once());
  auto r = daemon->readiness();
  EXPECT_FALSE(r.ready);
  EXPECT_TRUE(has_reason(r, "API unreachable"));
  EXPECT_TRUE(has_reason(r, "no successful reconcile yet"));
  auto metrics = daemon->metrics_text();
  EXPECT_NE(metrics.find("aisearchd_reconciles_total{result=\"failure\"} 1"), std::string::npos);
  EXPECT_NE(metrics.find("aisearchd_api_reachable 0"), std::string::npos);
  EXPECT_NE(metrics.find("aisearchd_api_requests_total{status=\"5xx\"}"), std::string::npos);
  EXPECT_EQ(metrics.find("secret-token"), std::string::npos);
  EXPECT_NE(daemon->summary_line().find("FAILED"), std::string::npos);
  EXPECT_EQ(daemon->status_json().dump().find("secret-token"), std::string::npos);
}

TEST_F(DaemonTest, RecoversOnTheNextCycle) {
  api_down();
  make(true);
  EXPECT_FALSE(daemon->reconcile_once());
  api_up();  // newer handlers win
  EXPECT_TRUE(daemon->reconcile_once());
  EXPECT_TRUE(daemon->readiness().ready);
  EXPECT_EQ(daemon->status_json()["reconcile"]["consecutive_failures"], 0);
}

TEST_F(DaemonTest, AFailedReconcileAndTheRecoveryReachTheWebhook) {
  httplib::Server receiver;
  std::mutex mutex;
  std::vector<nlohmann::json> events;
  receiver.Post("/hook", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mutex);
    events.push_back(nlohmann::json::parse(req.body, nullptr, false));
    res.status = 204;
  });
  receiver.set_keep_alive_max_count(1);
  const int port = receiver.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread server([&] { receiver.listen_after_bind(); });
  struct Joiner {
    httplib::Server& receiver;
    std::thread& server;
    ~Joiner() {
      receiver.stop();
      if (server.joinable()) server.join();
    }
  } joiner{receiver, server};
  auto received = [&](std::size_t n) {  // real time: the webhook posts on its own thread
    return support::poll_until(
        [&] {
          std::lock_guard lock(mutex);
          return events.size() >= n;
        },
        10s, 10ms);
  };

  webhook_url = "http://127.0.0.1:" + std::to_string(port) + "/hook";
  api_down();
  make(false);
  EXPECT_FALSE(daemon->reconcile_once());
  EXPECT_FALSE(daemon->reconcile_once());  // the same run of failures: not posted again
  ASSERT_TRUE(received(1));
  api_up();
  fake->on("POST", k_default_path, [](const support::RecordedRequest&) {
    return FakeTransport::json_response(
        200, support::envelope({{"id", "docs"}, {"type", "r2"}, {"source", "docs-bucket"}}));
  });
  EXPECT_TRUE(daemon->reconcile_once());
  ASSERT_TRUE(received(2));
  daemon.reset();  // stops the webhook: nothing more is in flight
  std::lock_guard lock(mutex);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0]["event"], "reconcile_failed");
  EXPECT_EQ(events[0]["consecutive_failures"], 1);
  EXPECT_NE(events[0]["error"].get<std::string>().find("list failed"), std::string::npos)
      << events[0].dump();
  EXPECT_EQ(events[1]["event"], "reconcile_recovered");
  EXPECT_EQ(events[1]["failed_cycles"], 2);
  for (const auto& e : events) EXPECT_EQ(e.dump().find("secret-token"), std::string::npos);
}

TEST_F(DaemonTest, InvalidEditKeepsTheLastGoodManifestAndFlipsReadiness) {
  api_up();
  make(true);
  ASSERT_TRUE(daemon->reconcile_once());
  write_manifest(std::string(k_manifest) + "        chunk_sise: 512\n");
  EXPECT_FALSE(daemon->reload());
  auto r = daemon->readiness();
  EXPECT_FALSE(r.ready);
  EXPECT_TRUE(has_reason(r, "aisearch.yaml:11:9: unknown key \"chunk_sise\"")) << r.reasons.at(0);
  EXPECT_NE(daemon->metrics_text().find("aisearchd_manifest_valid 0"), std::string::npos);
  auto status = daemon->status_json();
  EXPECT_EQ(status["manifest"]["valid"], false);
  EXPECT_EQ(status["instances"].size(), 1u);  // the last good manifest is still in force
  ASSERT_TRUE(daemon->reconcile_once());      // and still reconciled

  write_manifest(std::string(k_manifest) +
                 "      kb:\n        type: r2\n        source: kb-bucket\n");
  EXPECT_TRUE(daemon->reload());
  EXPECT_TRUE(daemon->readiness().ready);
  EXPECT_EQ(daemon->status_json()["instances"].size(), 2u);
  auto metrics = daemon->metrics_text();
  EXPECT_NE(metrics.find("aisearchd_manifest_valid 1"), std::string::npos);
  EXPECT_NE(metrics.find("aisearchd_manifest_reloads_total{result=\"invalid\"} 1"),
            std::string::npos);
  EXPECT_NE(metrics.find("aisearchd_manifest_reloads_total{result=\"success\"} 1"),
            std::string::npos);
  EXPECT_NE(metrics.find("aisearchd_manifest_instances 2"), std::string::npos);
}

TEST_F(DaemonTest, StaleInstanceFailsReadinessWithDetail) {
  api_up();
  state::State st;
  st.sync["default/docs"].last_success = "2026-03-01T10:00:00Z";  // 2 h ago, max_staleness 1h
  make(true, st);
  ASSERT_TRUE(daemon->reconcile_once());
  auto r = daemon->readiness();
  EXPECT_FALSE(r.ready);
  EXPECT_TRUE(has_reason(r, "default/docs: stale (last success 2h ago"));
  auto metrics = daemon->metrics_text();
  EXPECT_NE(metrics.find("aisearchd_instance_healthy{namespace=\"default\",instance=\"docs\"} 0"),
            std::string::npos)
      << metrics;
  // Freshness as a timestamp (Prometheus convention): the last success's Unix time.
  EXPECT_NE(metrics.find("aisearchd_instance_last_success_timestamp_seconds{namespace=\"default\","
                         "instance=\"docs\"} 1772359200"),
            std::string::npos)
      << metrics;
  EXPECT_EQ(metrics.find("freshness_seconds"), std::string::npos) << "no seconds-since gauge";
  EXPECT_NE(metrics.find("aisearchd_ready 0"), std::string::npos);
}

TEST_F(DaemonTest, MetricsFollowPrometheusConventions) {
  api_up();
  state::State st;
  state::JobRecord failed;
  failed.outcome = "failed";
  st.sync["default/docs"].history.push_back(failed);
  make(true, st);
  ASSERT_TRUE(daemon->reconcile_once());
  ASSERT_TRUE(daemon->reconcile_once());
  const auto metrics = daemon->metrics_text();
  // Reconcile duration: a histogram of every cycle, not the last one's value.
  EXPECT_NE(metrics.find("# TYPE aisearchd_reconcile_duration_seconds histogram"),
            std::string::npos);
  EXPECT_NE(metrics.find("aisearchd_reconcile_duration_seconds_bucket{le=\"+Inf\"} 2"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("aisearchd_reconcile_duration_seconds_count 2"), std::string::npos);
  // The last outcome per instance: 1 for it, 0 for the others.
  const std::string prefix =
      "aisearchd_sync_last_outcome{namespace=\"default\",instance=\"docs\",outcome=";
  EXPECT_NE(metrics.find(prefix + "\"failed\"} 1"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find(prefix + "\"succeeded\"} 0"), std::string::npos);
  // States are gauges: paused is 0/1 per scheduled instance, no "_total" counter.
  EXPECT_NE(metrics.find("# TYPE aisearchd_sync_paused gauge"), std::string::npos);
  EXPECT_EQ(metrics.find("sync_paused_total"), std::string::npos);
  // The standard process metrics.
  for (const char* name : {"process_cpu_seconds_total", "process_resident_memory_bytes",
                           "process_open_fds", "process_max_fds", "process_start_time_seconds"})
    EXPECT_NE(metrics.find(std::string("\n") + name + " "), std::string::npos) << name;
}

TEST_F(DaemonTest, RunStopsOnRequestAndReportsReadyOnce) {
  api_up();
  make(true);
  std::thread stopper([&] {
    (void)support::poll_until([&] { return !notifier.sent().empty(); }, 10s, 5ms);
    daemon->request_stop();
  });
  EXPECT_EQ(daemon->run(), 0);
  stopper.join();
  auto sent = notifier.sent();
  ASSERT_FALSE(sent.empty());
  EXPECT_EQ(sent.front(), "READY=1");
  bool stopping = false;
  for (const auto& s : sent) stopping = stopping || s == "STOPPING=1";
  EXPECT_TRUE(stopping);
}

// Breaker (issue 13): sync slots were taken on the reconcile thread after reconcile_once, so a
// list that took minutes delayed every slot by as much. The scheduler has its own thread now.
TEST_F(DaemonTest, ASlowListDelaysNoSyncSlot) {
  const std::string docs_path = std::string(k_default_path) + "/docs";
  const nlohmann::json docs = {{"id", "docs"}, {"type", "r2"}, {"source", "docs-bucket"}};
  std::mutex mutex;
  std::condition_variable cv;
  bool hold_lists = false, released = false;
  int held = 0;
  api_up();
  fake->on("GET", k_default_path, [&](const support::RecordedRequest&) {
    std::unique_lock lock(mutex);
    if (hold_lists) {
      ++held;
      cv.notify_all();
      cv.wait_for(lock, 60s, [&] { return released; });  // bounded: a broken test ends
    }
    return FakeTransport::json_response(
        200, support::list_envelope(nlohmann::json::array({docs}), 1, 100, 1));
  });
  fake->on("GET", docs_path + "/jobs", [](const support::RecordedRequest&) {
    return FakeTransport::json_response(200,
                                        support::list_envelope(nlohmann::json::array(), 1, 100, 0));
  });
  fake->on("POST", docs_path + "/jobs", [](const support::RecordedRequest&) {
    return FakeTransport::json_response(
        200, support::envelope(
                 {{"id", "job-1"}, {"source", "user"}, {"started_at", "2026-03-01T12:00:00Z"}}));
  });
  fake->on("GET", docs_path + "/jobs/job-1", [](const support::RecordedRequest&) {
    return FakeTransport::json_response(200,
                                        support::envelope({{"id", "job-1"},
                                                           {"source", "user"},
                                                           {"started_at", "2026-03-01T12:00:00Z"},
                                                           {"ended_at", "2026-03-01T12:05:00Z"},
                                                           {"end_reason", "completed"}}));
  });
  fake->on("", docs_path, [&](const support::RecordedRequest&) {  // adoption, if it writes
    return FakeTransport::json_response(200, support::envelope(docs));
  });
  schedule_recheck = 20ms;  // the fake clock moves without waking anyone: look often
  make(false);
  std::thread runner([&] { EXPECT_EQ(daemon->run(), 0); });
  auto release = [&] {
    {
      std::lock_guard lock(mutex);
      released = true;
    }
    cv.notify_all();
  };
  struct Stop {
    std::function<void()> f;
    ~Stop() { f(); }
  } stop{[&] {
    release();
    daemon->request_stop();
    runner.join();
  }};
  ASSERT_TRUE(support::poll_until([&] { return !notifier.sent().empty(); }, 10s));  // READY=1
  auto posts = [&] {
    int n = 0;
    for (const auto& r : fake->requests())
      if (r.method == "POST" && r.path == docs_path + "/jobs") ++n;
    return n;
  };
  // A schedule never run before runs at once, the next slot 6 h later.
  ASSERT_TRUE(support::poll_until([&] { return posts() == 1; }, 10s));
  {
    std::lock_guard lock(mutex);
    hold_lists = true;
  }
  daemon->request_reconcile();
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return held > 0; }));  // the cycle hangs on its list
  }
  clock->advance(7h);  // a slot is due
  EXPECT_TRUE(support::poll_until([&] { return posts() == 2; }, 10s))
      << "the slot waited for the stuck reconcile";
  release();
}

}  // namespace
