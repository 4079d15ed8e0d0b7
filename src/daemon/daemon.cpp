#include "daemon/daemon.hpp"

#include <malloc.h>

#include <algorithm>
#include <cstdlib>
#include <set>
#include <utility>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "aisearchd_version.hpp"
#include "daemon/http_server.hpp"
#include "daemon/process_metrics.hpp"
#include "daemon/status.hpp"
#include "daemon/watcher.hpp"
#include "http/curl_transport.hpp"
#include "http/transport.hpp"
#include "jobs/freshness.hpp"
#include "jobs/reporter.hpp"
#include "jobs/sync_manager.hpp"
#include "jobs/webhook.hpp"
#include "manifest/loader.hpp"
#include "reconcile/apply.hpp"
#include "reconcile/diff.hpp"
#include "reconcile/observe.hpp"
#include "util/duration.hpp"
#include "util/random.hpp"
#include "util/strings.hpp"
#include "util/time_format.hpp"

namespace service {

namespace {

using std::chrono::milliseconds;

constexpr const char* k_text = "text/plain; charset=utf-8";

double epoch_seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

// Job outcomes into metrics.
class MetricsReporter final : public jobs::Reporter {
 public:
  explicit MetricsReporter(MetricsRegistry& metrics) : m_metrics(metrics) {}
  void outcome(const std::string&, const state::JobRecord& record) override {
    m_metrics.inc("aisearchd_sync_outcomes_total", {{"outcome", record.outcome}});
  }
  void stalled(const std::string&, const std::string&) override {
    m_metrics.inc("aisearchd_sync_stalled_total");
  }

 private:
  MetricsRegistry& m_metrics;
};

std::string fields_of(const reconcile::Change& c) {
  std::vector<std::string> names;
  for (const auto& f : c.fields) names.push_back(f.path);
  return names.empty() ? "-" : util::join(names, ",");
}

template <typename F>
bool guarded(const char* step, F&& f) {
  try {
    return f();
  } catch (const std::exception& e) {
    spdlog::error("{}: unexpected error: {}", step, e.what());
  } catch (...) {
    spdlog::error("{}: unexpected error", step);
  }
  return false;
}

}  // namespace

Daemon::Daemon(DaemonOptions options, manifest::Manifest manifest,
               std::shared_ptr<api::Client> client, state::StateStore& store, state::State state,
               util::Clock& clock, Notifier& notifier)
    : m_options(std::move(options)),
      m_client(std::move(client)),
      m_store(store),
      m_clock(clock),
      m_notifier(notifier),
      m_writer(store, state),
      m_manifest(std::make_shared<const manifest::Manifest>(std::move(manifest))),
      m_cadence(m_options.config.reconcile_interval, m_options.config.reconcile_jitter,
                m_options.retry_min, util::random_unit) {
  describe_metrics();
  m_log_reporter = std::make_unique<jobs::LogReporter>();
  m_metrics_reporter = std::make_unique<MetricsReporter>(m_metrics);
  m_reporter = std::make_unique<jobs::FanoutReporter>();
  m_reporter->add(*m_log_reporter);
  m_reporter->add(*m_metrics_reporter);
  const auto& cfg = m_options.config;
  if (!m_options.observe && !cfg.notify_webhook.empty()) {
    jobs::WebhookOptions wo;
    wo.url = cfg.notify_webhook;
    wo.signing_secret = cfg.notify_secret;
    wo.notify_on = cfg.notify_on == manifest::DaemonConfig::NotifyOn::all
                       ? jobs::WebhookOptions::NotifyOn::all
                       : jobs::WebhookOptions::NotifyOn::changes;
    http::CurlOptions co;
    co.user_agent = std::string("aisearchd/") + util::k_version;
    m_webhook = std::make_unique<jobs::WebhookNotifier>(wo, http::make_curl_transport(co));
    seed_webhook(state);
    m_reporter->add(*m_webhook);
  }
  if (m_options.observe) m_options.elector = nullptr;
  if (!m_options.observe) {
    m_runner =
        std::make_unique<jobs::Runner>(*m_client, m_clock, m_writer, *m_reporter, m_options.follow);
    if (!m_options.elector) {
      m_sync = make_sync();
      m_acting_leader = true;
    }
  }
  if (m_options.elector) {
    // The last check before any write leaves: a node that is not the leader (or whose lease may
    // have run out, e.g. after a pause) sends none, whatever thread is about to.
    m_client->set_write_gate([this] { return write_refusal(); });
  }
  m_metrics.set("aisearchd_leader", m_acting_leader ? 1 : 0);
  m_metrics.set("aisearchd_manifest_valid", 1);
  m_metrics.set("aisearchd_manifest_instances", static_cast<double>(m_manifest->instance_count()));
}

Daemon::~Daemon() {
  m_stopping = true;
  m_halt = true;
  if (m_scheduler.joinable()) {
    {
      std::lock_guard lock(m_mutex);
      m_stop_requested = true;
    }
    m_schedule_cv.notify_all();
    m_scheduler.join();
  }
  if (m_options.elector) m_options.elector->stop();
  if (m_watcher) m_watcher->stop();
  if (m_sync) m_sync->stop(milliseconds(0));
  if (m_webhook) m_webhook->stop(milliseconds(0));
  if (m_http) m_http->stop();
  if (m_guard.joinable()) {
    {
      std::lock_guard lock(m_mutex);
      m_finished = true;
    }
    m_guard_cv.notify_all();
    m_guard.join();
  }
}

void Daemon::describe_metrics() {
  using T = MetricsRegistry::Type;
  auto& m = m_metrics;
  m.describe("aisearchd_build_info", T::gauge, "Always 1; the version in a label.");
  m.set("aisearchd_build_info", {{"version", util::k_version}}, 1);
  m.describe("aisearchd_reconciles_total", T::counter, "Reconcile cycles by result.");
  m.set("aisearchd_reconciles_total", {{"result", "success"}}, 0);
  m.set("aisearchd_reconciles_total", {{"result", "failure"}}, 0);
  m.describe_histogram("aisearchd_reconcile_duration_seconds",
                       "Duration of reconcile cycles (observe, plan, apply).",
                       {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300});
  m.describe("aisearchd_last_successful_reconcile_timestamp_seconds", T::gauge,
             "Unix time of the last successful reconcile (0: none yet).");
  m.set("aisearchd_last_successful_reconcile_timestamp_seconds", 0);
  m.describe("aisearchd_actions_total", T::counter,
             "Planned actions by kind and result (done, failed, blocked, skipped, planned in "
             "observe mode).");
  m.describe("aisearchd_plan_changes", T::gauge,
             "Changes in the last plan by action (blocked ones under action=\"blocked\").");
  m.describe("aisearchd_drift_changes", T::gauge,
             "Changes in the last plan caused by remote drift.");
  m.describe("aisearchd_unmanaged_instances", T::gauge,
             "Remote instances in observed namespaces that aisearchd does not manage.");
  m.describe("aisearchd_api_requests_total", T::counter,
             "API requests by HTTP status class (\"none\": no response).");
  m.describe("aisearchd_api_retries_total", T::counter, "API request retries.");
  m.describe("aisearchd_api_budget_tokens", T::gauge, "Requests left in the client-side budget.");
  m.describe("aisearchd_api_reachable", T::gauge,
             "1 when the last reconcile could list the remote state.");
  m.describe("aisearchd_manifest_valid", T::gauge,
             "1 when the latest manifest on disk is valid and in force; 0 while an invalid edit "
             "is pending (the last good manifest stays in force).");
  m.describe("aisearchd_manifest_reloads_total", T::counter, "Manifest reloads by result.");
  m.set("aisearchd_manifest_reloads_total", {{"result", "success"}}, 0);
  m.set("aisearchd_manifest_reloads_total", {{"result", "invalid"}}, 0);
  m.describe("aisearchd_manifest_instances", T::gauge, "Instances in the manifest in force.");
  m.describe("aisearchd_sync_outcomes_total", T::counter, "Sync job outcomes by result.");
  for (const char* o : {"succeeded", "failed", "superseded", "cancelled", "timed_out", "skipped"})
    m.set("aisearchd_sync_outcomes_total", {{"outcome", o}}, 0);
  m.describe("aisearchd_sync_stalled_total", T::counter, "Running jobs reported stalled.");
  m.set("aisearchd_sync_stalled_total", 0);
  m.describe("aisearchd_sync_jobs_following", T::gauge,
             "Running sync jobs this node follows (its own and Cloudflare-started ones).");
  m.set("aisearchd_sync_jobs_following", 0);
  m.describe("aisearchd_sync_paused", T::gauge,
             "1 while a scheduled instance is paused at Cloudflare (its schedule cannot run), "
             "else 0.");
  m.describe("aisearchd_sync_last_outcome", T::gauge,
             "1 for the outcome of the instance's last recorded sync job, 0 for the others.");
  m.describe("aisearchd_instance_last_success_timestamp_seconds", T::gauge,
             "Unix time the instance's last succeeded sync job ended (absent: none yet); "
             "freshness is time() minus it.");
  m.describe("aisearchd_instance_healthy", T::gauge,
             "1 unless the instance is past its max_staleness since its last success (since it "
             "was first seen, while it never succeeded).");
  m.describe("aisearchd_webhook_events_total", T::counter, "Webhook events by result.");
  m.describe("aisearchd_ready", T::gauge, "1 when /readyz answers 200.");
  m.describe("aisearchd_leader", T::gauge,
             "1 while this node leads (writes to the API, triggers jobs); 0 on a standby.");
  m.describe("aisearchd_leadership_changes_total", T::counter,
             "Leadership won and lost by this node.");
  m.set("aisearchd_leadership_changes_total", {{"change", "won"}}, 0);
  m.set("aisearchd_leadership_changes_total", {{"change", "lost"}}, 0);
  describe_process_metrics(m);
  if (m_options.elector) {
    m.describe("aisearchd_etcd_reachable", T::gauge,
               "1 when the last leadership round reached etcd.");
    m.set("aisearchd_etcd_reachable", 1);
  }
  if (m_options.etcd) {
    m.describe("aisearchd_etcd_requests_total", T::counter,
               "Requests sent to etcd (leadership rounds, state reads and writes).");
    m.set("aisearchd_etcd_requests_total", 0);
  }
}

void Daemon::seed_webhook(const state::State& state) {
  for (const auto& [address, sync] : state.sync) m_webhook->seed_history(address, sync.history);
}

const char* Daemon::read_only_reason() const {
  return m_options.observe ? "observe" : "standby";
}

std::shared_ptr<jobs::SyncManager> Daemon::make_sync() {
  jobs::SyncManagerOptions so;
  so.workers = m_options.sync_workers;
  auto sync =
      std::make_shared<jobs::SyncManager>(*m_runner, *m_client, m_clock, m_writer, *m_reporter, so);
  sync->set_manifest(*manifest_in_force());
  // Jobs the last process (or leader) left running are followed to their end and recorded.
  sync->resume();
  return sync;
}

std::shared_ptr<jobs::SyncManager> Daemon::sync_manager() const {
  std::lock_guard lock(m_mutex);
  return m_sync;
}

std::optional<std::string> Daemon::write_refusal() const {
  if (!m_options.elector) return std::nullopt;
  if (!m_acting_leader) return std::string("this node is not the leader");
  if (!m_options.elector->is_leader())
    return std::string("this node's leadership lease ran out (not renewed in time)");
  return std::nullopt;
}

std::string Daemon::role() const {
  if (m_options.observe) return m_options.elector ? "observer" : "leader";
  return m_acting_leader ? "leader" : "standby";
}

void Daemon::follow_role(bool& reconcile_now) {
  if (!m_options.elector || m_options.observe) return;
  auto& elector = *m_options.elector;
  const bool leader = elector.is_leader();
  if (leader == m_acting_leader) return;
  if (!leader) {
    m_halt = true;
    m_acting_leader = false;
    std::shared_ptr<jobs::SyncManager> old;
    {
      std::lock_guard lock(m_mutex);
      old = std::move(m_sync);
    }
    if (old) old->stop(milliseconds(0));
    m_metrics.set("aisearchd_leader", 0);
    m_metrics.inc("aisearchd_leadership_changes_total", {{"change", "lost"}});
    const auto holder = elector.leader_name();
    const auto why = elector.last_error();
    spdlog::warn("leadership lost: no more writes from this node; standing by (leader: {}){}",
                 holder.empty() ? "unknown" : holder, why.empty() ? "" : " etcd: " + why);
    m_notifier.status(summary_line());
    return;
  }
  if (m_stopping) return;
  // Won: continue from what the last leader saved, never from this node's older copy.
  auto loaded = m_writer.reload([this] { return m_store.load(); });
  if (!loaded) {
    spdlog::error("leadership won, but the state cannot be read from {} (not acting yet): {}",
                  m_store.describe(), loaded.error());
    return;
  }
  if (m_webhook) seed_webhook(m_writer.snapshot());
  auto sync = make_sync();
  {
    std::lock_guard lock(m_mutex);
    m_sync = std::move(sync);
  }
  m_halt = m_stopping.load();
  m_acting_leader = true;
  poke_schedules();
  m_metrics.set("aisearchd_leader", 1);
  m_metrics.inc("aisearchd_leadership_changes_total", {{"change", "won"}});
  spdlog::info("leadership won: node {} leads; state read from {}", m_options.node_name,
               m_store.describe());
  m_notifier.status(summary_line());
  reconcile_now = true;
}

std::shared_ptr<const manifest::Manifest> Daemon::manifest_in_force() const {
  std::lock_guard lock(m_mutex);
  return m_manifest;
}

int Daemon::http_port() const {
  return m_http ? m_http->port() : 0;
}

void Daemon::request_stop() {
  m_stopping = true;
  m_halt = true;
  {
    std::lock_guard lock(m_mutex);
    if (!m_stop_requested) {
      m_stop_requested = true;
      m_stop_at = m_clock.steady_now();
    }
  }
  m_cv.notify_all();
  m_guard_cv.notify_all();
  m_schedule_cv.notify_all();
}

void Daemon::request_reload(const std::string& why) {
  spdlog::info("reload requested: {}", why);
  {
    std::lock_guard lock(m_mutex);
    m_reload_requested = true;
  }
  m_cv.notify_all();
}

void Daemon::request_reconcile() {
  {
    std::lock_guard lock(m_mutex);
    m_reconcile_requested = true;
  }
  m_cv.notify_all();
}

bool Daemon::reload() {
  auto loaded = manifest::load_manifest(m_options.manifest_path, m_options.env);
  if (!loaded) {
    std::vector<std::string> errors;
    for (const auto& e : loaded.error()) {
      errors.push_back(e.to_string());
      spdlog::error("manifest invalid, the last good one stays in force: {}", e.to_string());
    }
    {
      std::lock_guard lock(m_mutex);
      m_manifest_errors = std::move(errors);
    }
    m_metrics.set("aisearchd_manifest_valid", 0);
    m_metrics.inc("aisearchd_manifest_reloads_total", {{"result", "invalid"}});
    return false;
  }
  auto next = std::make_shared<const manifest::Manifest>(std::move(*loaded));
  {
    std::lock_guard lock(m_mutex);
    m_manifest = next;
    m_manifest_errors.clear();
  }
  if (auto sync = sync_manager()) sync->set_manifest(*next);
  poke_schedules();  // a changed schedule may be due sooner
  m_metrics.set("aisearchd_manifest_valid", 1);
  m_metrics.set("aisearchd_manifest_instances", static_cast<double>(next->instance_count()));
  m_metrics.inc("aisearchd_manifest_reloads_total", {{"result", "success"}});
  spdlog::info("manifest reloaded: {} instance(s) from {} file(s)", next->instance_count(),
               next->files.size());
  return true;
}

void Daemon::report_plan(const reconcile::Plan& plan, bool write, bool say_skips) {
  const std::string not_applied =
      write ? "" : fmt::format(" ({}: not applied)", read_only_reason());
  for (const auto& c : plan.changes) {
    const std::string action = reconcile::action_name(c);
    const char* reason = reconcile::to_string(c.reason);
    std::string who = c.modified_by.empty() ? "" : " modified_by=" + c.modified_by;
    if (c.blocked) {
      auto level = c.blocked->rail == "drift_report" ? spdlog::level::warn : spdlog::level::info;
      spdlog::log(level, "plan action={} address={} reason={} fields={}{} blocked={}: {}", action,
                  c.address(), reason, fields_of(c), who, c.blocked->rail, c.blocked->message);
    } else {
      spdlog::info("plan action={} address={} reason={} fields={}{}{}", action, c.address(), reason,
                   fields_of(c), who, not_applied);
    }
  }
  if (say_skips)
    for (const auto& s : plan.skipped_namespaces)
      spdlog::warn("plan skipped namespace={}: {}", s.ns, s.error);
  for (const auto& w : plan.warnings) spdlog::warn("plan: {}", w);
}

bool Daemon::reconcile_once() {
  const auto started = m_clock.steady_now();
  const auto wall = m_clock.now();
  auto desired = manifest_in_force();
  bool ok = true;
  bool reachable = true;
  std::string error;
  reconcile::Summary summary;
  int drift = 0;
  {
    std::lock_guard lock(m_mutex);
    m_last_attempt = wall;
  }
  const bool write = !m_options.observe && m_acting_leader;
  try {
    const auto& cfg = m_options.config;
    if (m_options.elector && !write) {
      // A standby plans from what the leader saved last.
      auto loaded = m_writer.reload([this] { return m_store.load(); });
      if (!loaded)
        spdlog::warn("state: cannot re-read {} (planning from the last copy): {}",
                     m_store.describe(), loaded.error());
    }
    state::State current = m_writer.snapshot();
    auto observed = reconcile::observe(
        *m_client, reconcile::namespaces_to_observe(*desired, current), cfg.concurrency, current);
    std::size_t failed_lists = 0;
    std::vector<api::Instance> listed;
    for (const auto& [ns, listing] : observed.listings) {
      if (listing.error) {
        ++failed_lists;
        continue;
      }
      listed.insert(listed.end(), listing.instances.begin(), listing.instances.end());
    }
    if (observed.token_rejected) {
      // Said once, not once per namespace the plan then skips.
      reachable = false;
      error = "the API token was rejected (HTTP " + std::to_string(observed.token_rejected) +
              "): check CLOUDFLARE_API_TOKEN, api_token_file or the credential "
              "cloudflare-api-token, and that the token may edit AI Search in this account";
    } else if (observed.namespaces_error) {
      reachable = false;
      error = "namespace list failed: " + *observed.namespaces_error;
    } else if (!observed.listings.empty() && failed_lists == observed.listings.size()) {
      reachable = false;
      error = "every instance list failed";
    }
    reconcile::DiffOptions dopt;
    dopt.correct_drift = cfg.drift == manifest::DaemonConfig::Drift::correct;
    auto plan = reconcile::diff(*desired, observed, current, dopt);
    summary = plan.summary();
    for (const auto& c : plan.changes)
      if (c.reason == reconcile::Reason::drift) ++drift;
    report_plan(plan, write, /*say_skips=*/observed.token_rejected == 0);
    if (!plan.skipped_namespaces.empty()) {
      ok = false;
      if (error.empty())
        error =
            std::to_string(plan.skipped_namespaces.size()) + " namespace(s) could not be listed";
    }
    m_metrics.set("aisearchd_unmanaged_instances", static_cast<double>(plan.unmanaged.size()));
    if (!write) {
      for (const auto& c : plan.changes)
        m_metrics.inc("aisearchd_actions_total", {{"action", reconcile::action_name(c)},
                                                  {"result", c.blocked ? "blocked" : "planned"}});
    } else if (!m_halt) {
      auto sync = sync_manager();
      if (sync && !listed.empty()) sync->observe_instances(listed);
      reconcile::ApplyOptions ao;
      ao.concurrency = cfg.concurrency;
      ao.stop = &m_halt;
      ao.on_indexing_change = [sync](const std::string& ns, const std::string& id) {
        if (sync) sync->trigger(ns + "/" + id, "on_change");
      };
      auto result = reconcile::apply(plan, *desired, *m_client, m_writer, m_clock, ao);
      reconcile::save_observation(plan, m_writer, m_clock);
      // apply() logs each action's result and each failed state save itself.
      for (const auto& r : result.results) {
        std::string action = r.action;  // "namespace create" -> "namespace_create"
        std::replace(action.begin(), action.end(), ' ', '_');
        m_metrics.inc("aisearchd_actions_total", {{"action", action}, {"result", r.status}});
      }
      if (!result.ok()) {
        ok = false;
        if (error.empty())
          error = std::to_string(result.failed) + " action(s) failed" +
                  (result.state_errors.empty() ? "" : ", state not saved");
      }
    }
  } catch (const std::exception& e) {
    ok = false;
    error = std::string("unexpected error: ") + e.what();
  }
  if (!reachable) ok = false;
  const double seconds = std::chrono::duration<double>(m_clock.steady_now() - started).count();
  m_metrics.inc("aisearchd_reconciles_total", {{"result", ok ? "success" : "failure"}});
  m_metrics.observe("aisearchd_reconcile_duration_seconds", seconds);
  m_metrics.set("aisearchd_api_reachable", reachable ? 1 : 0);
  m_metrics.set("aisearchd_drift_changes", drift);
  m_metrics.set("aisearchd_plan_changes", {{"action", "adopt"}}, summary.adopt);
  m_metrics.set("aisearchd_plan_changes", {{"action", "create"}}, summary.create);
  m_metrics.set("aisearchd_plan_changes", {{"action", "update"}}, summary.update);
  m_metrics.set("aisearchd_plan_changes", {{"action", "replace"}}, summary.replace);
  m_metrics.set("aisearchd_plan_changes", {{"action", "delete"}}, summary.delete_);
  m_metrics.set("aisearchd_plan_changes", {{"action", "move"}}, summary.move);
  m_metrics.set("aisearchd_plan_changes", {{"action", "blocked"}}, summary.blocked);
  if (ok)
    m_metrics.set("aisearchd_last_successful_reconcile_timestamp_seconds", epoch_seconds(wall));
  int failures = 0;
  {
    std::lock_guard lock(m_mutex);
    m_first_cycle_done = true;
    m_last_ok = ok;
    m_api_reachable = reachable;
    m_last_error = error;
    m_last_plan = summary;
    m_last_drift = drift;
    if (ok) {
      m_last_success = wall;
      m_consecutive_failures = 0;
    } else {
      ++m_consecutive_failures;
    }
    failures = m_consecutive_failures;
  }
  // The leader speaks for the pair: a standby's failures would repeat the leader's.
  if (m_webhook && write) {
    if (ok)
      m_webhook->reconcile_succeeded();
    else
      m_webhook->reconcile_failed(error, failures);
  }
  if (ok)
    spdlog::info("reconcile ok: {} change(s), {} blocked, {} drift, {:.2f}s{}", summary.total(),
                 summary.blocked, drift, seconds,
                 write ? "" : fmt::format(" ({}: nothing written)", read_only_reason()));
  else
    spdlog::error("reconcile failed: {} ({:.2f}s); retrying with backoff", error, seconds);
  return ok;
}

void Daemon::loop() {
  bool first = true;
  for (;;) {
    // When to wake: the next reconcile (sync slots are the scheduler thread's).
    auto wake = m_cadence.next_due(m_clock.steady_now());
    // Elected but the state could not be read yet: try again soon.
    if (m_options.elector && m_options.elector->is_leader() && !m_acting_leader)
      wake = std::min(wake, m_clock.steady_now() + milliseconds(1'000));
    bool do_reload = false, do_reconcile = false;
    {
      std::unique_lock lock(m_mutex);
      m_cv.wait_until(lock, wake, [&] {
        return m_stop_requested || m_reload_requested || m_reconcile_requested || m_role_changed;
      });
      if (m_stop_requested) return;
      do_reload = std::exchange(m_reload_requested, false);
      do_reconcile = std::exchange(m_reconcile_requested, false);
      m_role_changed = false;
    }
    guarded("leadership", [&] {
      follow_role(do_reconcile);
      return true;
    });
    if (do_reload) {
      m_notifier.reloading();
      if (guarded("reload", [&] { return reload(); })) do_reconcile = true;
      if (!first) m_notifier.ready();
      m_notifier.status(summary_line());
    }
    if (do_reconcile || m_cadence.due(m_clock.steady_now())) {
      bool ok = guarded("reconcile", [&] { return reconcile_once(); });
      const milliseconds wait = m_cadence.on_result(ok, m_clock.steady_now());
      {
        std::lock_guard lock(m_mutex);
        m_next_reconcile_wall = m_clock.now() + wait;
      }
      // A cycle parses every list page and builds the plan, then frees it all; hand the freed
      // pages back so an idle daemon's RSS is its steady state, not the cycle's peak.
      ::malloc_trim(0);
      if (first) {
        m_notifier.ready();
        first = false;
      }
      m_notifier.status(summary_line());
      // Slots open after the first cycle (an instance it creates exists before its first job);
      // after every cycle freshness is looked at again (the state may have changed).
      {
        std::lock_guard lock(m_mutex);
        m_schedules_open = true;
        m_schedule_poke = true;
      }
      m_schedule_cv.notify_all();
    }
  }
}

void Daemon::schedule_thread() {
  std::unique_lock lock(m_mutex);
  for (;;) {
    auto wake = m_clock.steady_now() + m_options.schedule_recheck;
    auto sync = m_sync;
    if (sync && m_schedules_open) {
      lock.unlock();
      auto due = sync->next_due();
      auto in = due ? std::chrono::duration_cast<milliseconds>(*due - m_clock.now())
                    : m_options.schedule_recheck;
      lock.lock();
      wake = std::min(wake, m_clock.steady_now() + std::max(in, milliseconds(0)));
    }
    m_schedule_cv.wait_until(lock, wake,
                             [&] { return m_stop_requested || m_finished || m_schedule_poke; });
    m_schedule_poke = false;
    if (m_stop_requested || m_finished) return;
    if (!m_schedules_open) continue;
    sync = m_sync;
    lock.unlock();
    if (sync && !m_halt)
      guarded("sync", [&] {
        sync->tick(m_clock.now());
        return true;
      });
    guarded("freshness", [&] {
      watch_freshness();
      return true;
    });
    lock.lock();
  }
}

void Daemon::poke_schedules() {
  {
    std::lock_guard lock(m_mutex);
    m_schedule_poke = true;
  }
  m_schedule_cv.notify_all();
}

void Daemon::guard_thread() {
  const auto watchdog = m_notifier.watchdog_period();
  std::unique_lock lock(m_mutex);
  while (!m_finished) {
    auto wake =
        m_clock.steady_now() + (watchdog ? std::chrono::duration_cast<milliseconds>(*watchdog) / 2
                                         : milliseconds(3'600'000));
    if (m_stop_requested) wake = std::min(wake, m_stop_at + m_options.stop_deadline);
    m_guard_cv.wait_until(lock, wake);
    if (m_finished) break;
    if (m_stop_requested && m_clock.steady_now() >= m_stop_at + m_options.stop_deadline) {
      // What is in flight is abandoned. A write whose record was not saved yet (apply saves
      // its records in the background, at most ~100 ms behind) is found again by the next run:
      // a created instance is declared and exists, so it is adopted; the run converges.
      spdlog::warn("stop: in-flight work did not finish within {}; abandoning it",
                   util::format_duration(m_options.stop_deadline));
      spdlog::default_logger()->flush();
      m_notifier.stopping();
      std::_Exit(0);
    }
    if (watchdog) {
      lock.unlock();
      m_notifier.watchdog();
      lock.lock();
    }
  }
}

void Daemon::finish() {
  m_stopping = true;
  m_notifier.stopping();
  spdlog::info("stopping: no new work; waiting for in-flight work (at most {})",
               util::format_duration(m_options.stop_deadline));
  auto left = [&] {
    std::lock_guard lock(m_mutex);
    auto remaining = m_stop_at + m_options.stop_deadline - m_clock.steady_now();
    return std::max(milliseconds(0),
                    std::chrono::duration_cast<milliseconds>(remaining) - milliseconds(500));
  };
  if (m_scheduler.joinable()) m_scheduler.join();  // it ends on the stop request
  if (m_watcher) m_watcher->stop();
  if (auto sync = sync_manager()) sync->stop(left());
  if (m_webhook) m_webhook->stop(left());
  if (m_options.elector) m_options.elector->stop();
  if (!m_options.observe && m_acting_leader) {
    auto saved = m_writer.update([](state::State&) {});
    if (!saved)
      spdlog::error("state: final save failed: {}", saved.error());
    else
      spdlog::info("state saved to {}", m_store.describe());
  }
  if (m_options.elector && m_options.elector->is_leader()) {
    // Hand over at once instead of letting the lease run out.
    m_acting_leader = false;
    if (auto r = m_options.elector->resign(); !r)
      spdlog::warn("leadership: resign failed (the lease runs out by itself): {}", r.error());
    else
      spdlog::info("leadership handed over");
  }
  if (m_http) m_http->stop();
  spdlog::info("stopped");
  spdlog::default_logger()->flush();
  {
    std::lock_guard lock(m_mutex);
    m_finished = true;
  }
  m_guard_cv.notify_all();
  if (m_guard.joinable()) m_guard.join();
}

int Daemon::run() {
  const auto& cfg = m_options.config;
  if (!cfg.listen.empty()) {
    HttpHandlers h;
    h.metrics = [this] {
      return HttpReply{200, "text/plain; version=0.0.4; charset=utf-8", metrics_text()};
    };
    h.healthz = [] { return HttpReply{200, k_text, "ok\n"}; };
    h.readyz = [this] {
      auto r = readiness();
      std::string body = r.ready ? "ready\n" : "";
      for (const auto& reason : r.reasons) body += reason + "\n";
      return HttpReply{r.ready ? 200 : 503, k_text, body};
    };
    h.status = [this] { return HttpReply{200, "application/json", status_json().dump(2) + "\n"}; };
    m_http = std::make_unique<HttpServer>(std::move(h));
    auto started = m_http->start(cfg.listen);
    if (!started) {
      spdlog::error("{}", started.error());
      m_http.reset();
      return 1;
    }
    spdlog::info("http listening on {} (/metrics /healthz /readyz /status) port={}", cfg.listen,
                 m_http->port());
  }
  if (m_options.watch_manifest && !m_options.manifest_path.empty()) {
    m_watcher =
        std::make_unique<ManifestWatcher>(m_options.manifest_path, m_options.watch_debounce,
                                          m_clock, [this] { request_reload("manifest changed"); });
    auto w = m_watcher->start();
    if (!w) {
      spdlog::warn("manifest watch unavailable ({}); reload with SIGHUP", w.error());
      m_watcher.reset();
    }
  }
  spdlog::info("aisearchd {} running: mode={} drift={} interval={} jitter={}% manifest={}",
               util::k_version, m_options.observe ? "observe" : "apply",
               cfg.drift == manifest::DaemonConfig::Drift::correct ? "correct" : "report",
               util::format_duration(cfg.reconcile_interval),
               static_cast<int>(cfg.reconcile_jitter * 100), m_options.manifest_path);
  if (m_options.elector) {
    // One round before the first cycle, so a node that can lead at once does not plan as a
    // standby first.
    if (auto r = m_options.elector->step(); !r)
      spdlog::warn("leadership: etcd not reachable yet: {}", r.error());
    m_options.elector->start([this](bool leader) {
      if (!leader) m_halt = true;  // stop an apply in flight at its next action
      {
        std::lock_guard lock(m_mutex);
        m_role_changed = true;
      }
      m_cv.notify_all();
    });
  }
  m_guard = std::thread([this] { guard_thread(); });
  m_scheduler = std::thread([this] { schedule_thread(); });
  loop();
  finish();
  return 0;
}

void Daemon::watch_freshness() {
  auto desired = manifest_in_force();
  auto st = m_writer.snapshot();
  auto now = m_clock.now();
  for (const auto& [ns_name, ns] : desired->namespaces) {
    for (const auto& [id, inst] : ns.instances) {
      if (!inst.sync || !inst.sync->max_staleness || ns.suspend || inst.suspend) continue;
      auto it = st.sync.find(inst.address());
      auto f = jobs::freshness(it == st.sync.end() ? nullptr : &it->second,
                               inst.sync->max_staleness, now);
      switch (m_freshness.update(inst.address(), f.healthy)) {
        case jobs::FreshnessWatch::Change::became_stale:
          spdlog::warn("sync stale instance={} last_success={} max_staleness={}", inst.address(),
                       f.age ? util::format_duration(*f.age) + "_ago" : std::string("never"),
                       util::format_duration(*inst.sync->max_staleness));
          break;
        case jobs::FreshnessWatch::Change::became_fresh:
          spdlog::info("sync fresh again instance={}", inst.address());
          break;
        case jobs::FreshnessWatch::Change::none:
          break;
      }
    }
  }
}

Readiness Daemon::readiness() const {
  Readiness r;
  auto desired = manifest_in_force();
  {
    std::lock_guard lock(m_mutex);
    if (!m_last_success) r.reasons.push_back("no successful reconcile yet");
    for (const auto& e : m_manifest_errors)
      r.reasons.push_back("manifest invalid (the last good one stays in force): " + e);
    if (m_first_cycle_done && !m_api_reachable)
      r.reasons.push_back("API unreachable in the last reconcile: " + m_last_error);
  }
  if (m_options.elector && !m_options.elector->etcd_reachable())
    r.reasons.push_back("etcd unreachable (no writes until it is back): " +
                        m_options.elector->last_error());
  if (auto sync = sync_manager())
    for (const auto& problem : sync->schedule_problems()) r.reasons.push_back(problem);
  auto st = m_writer.snapshot();
  auto now = m_clock.now();
  for (const auto& [ns_name, ns] : desired->namespaces) {
    for (const auto& [id, inst] : ns.instances) {
      if (!inst.sync || !inst.sync->max_staleness || ns.suspend || inst.suspend) continue;
      auto it = st.sync.find(inst.address());
      auto f = jobs::freshness(it == st.sync.end() ? nullptr : &it->second,
                               inst.sync->max_staleness, now);
      if (f.healthy) continue;
      r.reasons.push_back(inst.address() + ": stale (last success " +
                          (f.age ? util::format_duration(*f.age) + " ago" : std::string("never")) +
                          ", max_staleness " + util::format_duration(*inst.sync->max_staleness) +
                          ")");
    }
  }
  r.ready = r.reasons.empty();
  return r;
}

nlohmann::json Daemon::status_json() const {
  auto desired = manifest_in_force();
  auto st = m_writer.snapshot();
  auto now = m_clock.now();
  auto ready = readiness();
  auto opt_time = [](const std::optional<std::chrono::system_clock::time_point>& t) {
    return t ? nlohmann::json(util::format_rfc3339(*t)) : nlohmann::json(nullptr);
  };
  nlohmann::json j;
  j["role"] = role();
  j["node"] = m_options.node_name;
  if (m_options.elector) {
    const auto holder = m_options.elector->leader_name();
    j["leader"] = holder.empty() ? nlohmann::json(nullptr) : nlohmann::json(holder);
    j["etcd_reachable"] = m_options.elector->etcd_reachable();
  } else {
    j["leader"] = m_options.node_name;
  }
  j["version"] = util::k_version;
  j["mode"] = m_options.observe ? "observe" : "apply";
  j["drift"] =
      m_options.config.drift == manifest::DaemonConfig::Drift::correct ? "correct" : "report";
  j["ready"] = ready.ready;
  j["not_ready_reasons"] = ready.reasons;
  {
    std::lock_guard lock(m_mutex);
    j["manifest"] = {{"path", m_options.manifest_path},
                     {"valid", m_manifest_errors.empty()},
                     {"errors", m_manifest_errors},
                     {"files", desired->files},
                     {"instances", desired->instance_count()}};
    j["reconcile"] = {
        {"last_attempt", opt_time(m_last_attempt)},
        {"last_success", opt_time(m_last_success)},
        {"last_result", m_first_cycle_done ? (m_last_ok ? "success" : "failure") : "none"},
        {"last_error",
         m_last_error.empty() ? nlohmann::json(nullptr) : nlohmann::json(m_last_error)},
        {"consecutive_failures", m_consecutive_failures},
        {"api_reachable", m_api_reachable},
        {"next_at", opt_time(m_next_reconcile_wall)},
        {"interval_seconds", m_options.config.reconcile_interval.count() / 1000.0},
        {"last_plan",
         {{"create", m_last_plan.create},
          {"update", m_last_plan.update},
          {"replace", m_last_plan.replace},
          {"delete", m_last_plan.delete_},
          {"move", m_last_plan.move},
          {"blocked", m_last_plan.blocked},
          {"drift", m_last_drift}}}};
  }
  auto instances = instances_status(desired.get(), st, now);
  if (auto sync = sync_manager()) {
    auto active = sync->active();
    for (auto& i : instances)
      i["syncing"] =
          std::find(active.begin(), active.end(), i["address"].get<std::string>()) != active.end();
  }
  j["instances"] = std::move(instances);
  return j;
}

void Daemon::update_scrape_metrics() {
  auto c = m_client->counters();
  static constexpr const char* k_classes[6] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};
  for (int i = 0; i < 6; ++i)
    m_metrics.set("aisearchd_api_requests_total", {{"status", k_classes[i]}},
                  static_cast<double>(c.by_status[i]));
  m_metrics.set("aisearchd_api_retries_total", static_cast<double>(c.retries));
  m_metrics.set("aisearchd_api_budget_tokens", m_client->budget_tokens());
  if (m_options.etcd)
    m_metrics.set("aisearchd_etcd_requests_total", static_cast<double>(m_options.etcd->requests()));
  if (m_options.elector)
    m_metrics.set("aisearchd_etcd_reachable", m_options.elector->etcd_reachable() ? 1 : 0);
  if (m_webhook) {
    auto w = m_webhook->counters();
    m_metrics.set("aisearchd_webhook_events_total", {{"result", "delivered"}}, w.delivered);
    m_metrics.set("aisearchd_webhook_events_total", {{"result", "failed"}}, w.failed);
    m_metrics.set("aisearchd_webhook_events_total", {{"result", "dropped"}}, w.dropped);
  }
  {
    auto sync = sync_manager();
    m_metrics.set("aisearchd_sync_jobs_following",
                  sync ? static_cast<double>(sync->following()) : 0.0);
  }
  auto desired = manifest_in_force();
  auto st = m_writer.snapshot();
  auto now = m_clock.now();
  std::set<std::string> paused;
  if (auto sync = sync_manager()) {
    for (auto& a : sync->paused()) paused.insert(std::move(a));
  }
  m_metrics.clear("aisearchd_instance_last_success_timestamp_seconds");
  m_metrics.clear("aisearchd_instance_healthy");
  m_metrics.clear("aisearchd_sync_paused");
  m_metrics.clear("aisearchd_sync_last_outcome");
  for (const auto& [ns_name, ns] : desired->namespaces) {
    for (const auto& [id, inst] : ns.instances) {
      if (!inst.sync || ns.suspend || inst.suspend) continue;
      auto it = st.sync.find(inst.address());
      const state::SyncState* ss = it == st.sync.end() ? nullptr : &it->second;
      auto f = jobs::freshness(ss, inst.sync->max_staleness, now);
      Labels labels{{"namespace", ns_name}, {"instance", id}};
      if (ss && !ss->last_success.empty()) {
        if (auto t = util::parse_rfc3339(ss->last_success)) {
          m_metrics.set("aisearchd_instance_last_success_timestamp_seconds", labels,
                        std::chrono::duration<double>(t->time_since_epoch()).count());
        }
      }
      m_metrics.set("aisearchd_instance_healthy", labels, f.healthy ? 1 : 0);
      if (inst.sync->schedule || inst.sync->every)
        m_metrics.set("aisearchd_sync_paused", labels, paused.count(inst.address()) ? 1 : 0);
      if (ss && !ss->history.empty()) {
        const std::string& last = ss->history.back().outcome;
        for (const char* o :
             {"succeeded", "failed", "superseded", "cancelled", "timed_out", "skipped"}) {
          Labels with = labels;
          with.emplace_back("outcome", o);
          m_metrics.set("aisearchd_sync_last_outcome", with, last == o ? 1 : 0);
        }
      }
    }
  }
  update_process_metrics(m_metrics);
  m_metrics.set("aisearchd_ready", readiness().ready ? 1 : 0);
}

std::string Daemon::metrics_text() {
  update_scrape_metrics();
  return m_metrics.render();
}

std::string Daemon::summary_line() const {
  auto desired = manifest_in_force();
  std::string s = m_options.observe ? "observe" : "apply";
  if (m_options.elector && !m_options.observe) {
    const auto holder = m_options.elector->leader_name();
    s = m_acting_leader ? "leader" : "standby (leader: " + (holder.empty() ? "none" : holder) + ")";
  }
  std::lock_guard lock(m_mutex);
  s += ": " + std::to_string(desired->instance_count()) + " instance(s)";
  if (!m_first_cycle_done) {
    s += "; first reconcile pending";
  } else if (m_last_ok) {
    s += "; reconcile ok at " + util::format_rfc3339(*m_last_attempt) + " (" +
         std::to_string(m_last_plan.total()) + " change(s), " +
         std::to_string(m_last_plan.blocked) + " blocked)";
  } else {
    s += "; reconcile FAILED (" + m_last_error + "), " + std::to_string(m_consecutive_failures) +
         " in a row";
  }
  if (!m_manifest_errors.empty()) s += "; manifest edit INVALID, last good in force";
  return s;
}

}  // namespace service
