#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "api/client.hpp"
#include "daemon/cadence.hpp"
#include "daemon/metrics.hpp"
#include "daemon/notify.hpp"
#include "jobs/freshness.hpp"
#include "jobs/runner.hpp"
#include "manifest/config.hpp"
#include "manifest/model.hpp"
#include "reconcile/plan.hpp"
#include "state/leader.hpp"
#include "state/state.hpp"
#include "state/writer.hpp"
#include "util/clock.hpp"
#include "util/env_expand.hpp"

namespace jobs {
class SyncManager;
class WebhookNotifier;
class FanoutReporter;
class LogReporter;
}  // namespace jobs

namespace service {

class HttpServer;
class ManifestWatcher;

struct DaemonOptions {
  manifest::DaemonConfig config;  // interval, jitter, mode, drift, listen, webhook, concurrency
  std::string manifest_path;      // what reloads read (file or directory)
  bool observe = false;           // mode: observe or --dry-run: plan and report, never write
  std::string node_name;          // shown in /status
  util::EnvLookup env = util::process_env();
  bool watch_manifest = true;                       // inotify on manifest_path
  std::chrono::milliseconds watch_debounce{300};    // quiet time before a reload
  std::chrono::milliseconds stop_deadline{10'000};  // SIGTERM -> exit, at most
  std::chrono::milliseconds retry_min{5'000};       // backoff after a failed cycle, doubled
                                                    // up to reconcile_interval
  jobs::FollowOptions follow;                       // sync job polling
  int sync_workers = 4;
  // The scheduler thread waits for the next slot, but looks at the clock at least this often
  // (a wall-clock step, a fake clock in tests) and evaluates freshness each time.
  std::chrono::milliseconds schedule_recheck{10'000};
  // High availability (PRODUCT.md §11): with an elector (not started yet; the daemon starts it,
  // and on stop saves state while still leading, then resigns), only the leader writes to the
  // API, triggers jobs and saves state; a standby plans each cycle without writing (state
  // re-read from the store first) and takes over when elected, re-reading the state. Null: a
  // single node that always leads. Must outlive the Daemon. Ignored in observe mode.
  state::LeaderElector* elector = nullptr;
  // The etcd client (metrics: requests sent), null without etcd.
  std::shared_ptr<state::EtcdClient> etcd;
};

// Why /readyz fails (empty when ready).
struct Readiness {
  bool ready = false;
  std::vector<std::string> reasons;
};

// The long-running service (PRODUCT.md §8): reconcile at start and every reconcile_interval ±
// jitter (a failed cycle is retried with backoff: retry_min doubling up to the interval), the sync
// scheduler in the same process, manifest reload on request (SIGHUP) and on change (inotify),
// metrics/health/status over HTTP, systemd notifications.
//
// Threads: run() is the main loop (call it on the main thread); request_*() may be called from
// any thread (the signal thread, the watcher, HTTP handlers). The loop waits on a condition
// variable until the next reconcile, woken early by stop, reload and reconcile requests; the
// scheduler thread waits for the next sync slot and takes it whatever the loop is doing (a
// reconcile stuck on a slow list delays no slot). Every step catches everything and both keep
// running.
class Daemon {
 public:
  // `manifest` is the validated manifest to start with; `state` what the store held.
  Daemon(DaemonOptions options, manifest::Manifest manifest, std::shared_ptr<api::Client> client,
         state::StateStore& store, state::State state, util::Clock& clock, Notifier& notifier);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Starts the HTTP endpoint and the watcher, then loops until request_stop(); on stop: no new
  // work, sync follows abandoned, state saved, within stop_deadline (past it the process exits
  // at once with status 0; every completed remote write is already in state). Returns the exit
  // code: 0, or 1 when the HTTP endpoint cannot listen at start.
  int run();

  void request_stop();
  // Re-read the manifest (SIGHUP, watcher). `why` is logged.
  void request_reload(const std::string& why);
  // Reconcile now instead of at the next interval.
  void request_reconcile();

  // The port /metrics is served on (after run() started it), else 0.
  int http_port() const;

  // One observe -> diff -> apply cycle with the manifest in force (also what run() calls).
  // Returns true when it succeeded (everything listed, every action done or blocked).
  bool reconcile_once();
  // Re-reads and validates the manifest; true when a new valid one is now in force.
  bool reload();

  Readiness readiness() const;
  nlohmann::json status_json() const;
  // "leader" (also a single node without an elector), "standby", or "observer" (observe mode).
  std::string role() const;
  std::string metrics_text();
  // One-line summary (systemd STATUS=).
  std::string summary_line() const;

 private:
  void describe_metrics();
  void update_scrape_metrics();
  // `say_skips`: log each namespace the plan skipped (not when one cause, a rejected token, is
  // said for all of them).
  void report_plan(const reconcile::Plan& plan, bool write, bool say_skips);
  // Why a cycle writes nothing: "observe" (observe mode) or "standby" (not the leader).
  const char* read_only_reason() const;
  // Tells the webhook each instance's last outcome, so only changes from it are notified.
  void seed_webhook(const state::State& state);
  // Logs each instance that went stale (a warning) or fresh again since the last call.
  void watch_freshness();
  // Main loop only: acts on a change of leadership (stops the sync manager on loss; on a win
  // re-reads the state and starts a sync manager). Sets `reconcile_now` on a win.
  void follow_role(bool& reconcile_now);
  std::shared_ptr<jobs::SyncManager> make_sync();
  std::shared_ptr<jobs::SyncManager> sync_manager() const;
  // Why a write must not go out now (the client's write gate), nullopt when it may.
  std::optional<std::string> write_refusal() const;
  void loop();
  // Takes sync slots when due and watches freshness, on its own thread: a slow reconcile (a
  // list that takes minutes) never delays a slot.
  void schedule_thread();
  void poke_schedules();  // the scheduler thread looks again now
  void guard_thread();
  std::shared_ptr<const manifest::Manifest> manifest_in_force() const;
  void finish();

  DaemonOptions m_options;
  std::shared_ptr<api::Client> m_client;
  state::StateStore& m_store;
  util::Clock& m_clock;
  Notifier& m_notifier;
  MetricsRegistry m_metrics;
  state::StateWriter m_writer;

  std::unique_ptr<jobs::LogReporter> m_log_reporter;
  std::unique_ptr<jobs::Reporter> m_metrics_reporter;
  std::unique_ptr<jobs::WebhookNotifier> m_webhook;
  std::unique_ptr<jobs::FanoutReporter> m_reporter;
  std::unique_ptr<jobs::Runner> m_runner;
  // Null in observe mode and on a standby (no remote writes). Replaced on the main loop only;
  // other threads take a copy under m_mutex (sync_manager()).
  std::shared_ptr<jobs::SyncManager> m_sync;
  std::unique_ptr<HttpServer> m_http;
  std::unique_ptr<ManifestWatcher> m_watcher;

  // Guarded by m_mutex.
  mutable std::mutex m_mutex;
  std::condition_variable m_cv;
  std::shared_ptr<const manifest::Manifest> m_manifest;
  std::vector<std::string> m_manifest_errors;  // the latest edit's errors (last good in force)
  bool m_reload_requested = false;
  bool m_reconcile_requested = false;
  bool m_stop_requested = false;
  util::Clock::SteadyTime m_stop_at{};
  bool m_finished = false;  // finish() is done: the guard thread ends
  std::condition_variable m_guard_cv;
  // Cycle bookkeeping (status, readiness).
  bool m_first_cycle_done = false;
  std::optional<std::chrono::system_clock::time_point> m_last_success;
  std::optional<std::chrono::system_clock::time_point> m_last_attempt;
  std::optional<std::chrono::system_clock::time_point> m_next_reconcile_wall;
  bool m_last_ok = false;
  bool m_api_reachable = true;
  std::string m_last_error;
  int m_consecutive_failures = 0;
  reconcile::Summary m_last_plan;
  int m_last_drift = 0;

  bool m_role_changed = false;    // the elector reported a change (guarded by m_mutex)
  bool m_schedules_open = false;  // the first cycle ran: slots may be taken (m_mutex)
  bool m_schedule_poke = false;   // look at the schedules now (m_mutex)
  std::condition_variable m_schedule_cv;
  jobs::FreshnessWatch m_freshness;

  std::atomic<bool> m_stopping{false};       // stop requested
  std::atomic<bool> m_halt{false};           // apply's stop flag: stopping, or leadership lost
  std::atomic<bool> m_acting_leader{false};  // writes: the state is loaded and this node leads
  std::thread m_guard;                       // watchdog pings and the stop deadline
  std::thread m_scheduler;                   // schedule_thread()
  ReconcileCadence m_cadence;
};

}  // namespace service
