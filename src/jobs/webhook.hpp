#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "http/transport.hpp"
#include "jobs/reporter.hpp"

namespace jobs {

struct WebhookOptions {
  std::string url;  // http(s) URL that receives the POSTs
  enum class NotifyOn { changes, all };
  // changes: only a failure (failed, timed_out) that follows a success or nothing known, and the
  // first success after a failure (the recovery); repeated failures and successes stay quiet.
  // all: every outcome and every stall.
  NotifyOn notify_on = NotifyOn::changes;
  std::size_t queue_max = 256;  // events waiting; beyond it the oldest is dropped (logged)
  int max_attempts = 5;         // per event, first try included
  std::chrono::milliseconds base_delay{1000};  // doubled per retry ...
  std::chrono::milliseconds max_delay{60000};  // ... up to this
  std::chrono::milliseconds timeout{10000};    // per POST
  // Never sent: replaced by "[redacted]" in any free text of an event (a reconcile error, a
  // job's end_reason and log lines), as is any "Bearer <credential>". The daemon passes the API
  // token here.
  std::string secret;
  // When set, every POST carries `X-Aisearchd-Signature: sha256=<hex>`, the HMAC-SHA256 of the
  // exact body under this key, so the receiver can tell the event came from this daemon
  // (config `notify_secret`).
  std::string signing_secret;
};

// The signature header's value for `body` under `key`: "sha256=" + 64 hex digits.
std::string webhook_signature(std::string_view key, std::string_view body);

// Parses the config's notify_on: "changes" | "all".
util::Result<WebhookOptions::NotifyOn, std::string> parse_notify_on(std::string_view text);

// POSTs one JSON event per job outcome to `url` (Content-Type: application/json):
//   {"event": "sync_outcome", "address": "ns/id", "namespace": "ns", "id": "id",
//    "outcome": "failed", "previous_outcome": "succeeded" | null, "job_id", "trigger", "source",
//    "started_at", "ended_at", "duration_seconds", "end_reason", "log_tail": [...],
//    "error_counts": {...}}
// (end_reason and each of the at most 20 log_tail lines sanitized: `secret` and Bearer
// credentials redacted, cut to 300 bytes)
// and, with notify_on all, {"event": "sync_stalled", "address", "namespace", "id", "job_id"}.
// Daemon-wide reconcile events carry no address and nothing node-specific:
//   {"event": "reconcile_failed", "error": "...", "consecutive_failures": 3}
//   {"event": "reconcile_recovered", "failed_cycles": 3, "last_error": "..."}
// A 2xx answer delivers; a transport error, 408, 429 or 5xx is retried with backoff; another 4xx
// drops the event (logged). A background thread sends: outcome() only enqueues, never blocks on
// the network. Thread-safe.
class WebhookNotifier final : public Reporter {
 public:
  WebhookNotifier(WebhookOptions options, std::shared_ptr<http::Transport> transport);
  ~WebhookNotifier() override;  // stop(0)
  WebhookNotifier(const WebhookNotifier&) = delete;
  WebhookNotifier& operator=(const WebhookNotifier&) = delete;

  // Tells the change filter the last known outcome of an instance (from state history at start),
  // so a restart neither re-announces a known failure nor misses a recovery.
  void seed(const std::string& address, const std::string& outcome);
  // seed() with the newest outcome in `history` that says something about the index's health
  // (succeeded, failed, timed_out), so a skipped or superseded run after a failure does not hide
  // the failure from the next success (the recovery is still sent after a restart).
  void seed_history(const std::string& address, const std::deque<state::JobRecord>& history);

  void outcome(const std::string& address, const state::JobRecord& record) override;
  void stalled(const std::string& address, const std::string& job_id) override;

  // A reconcile cycle failed with `error` (sanitized: `secret` and Bearer credentials redacted,
  // cut to 300 bytes); `consecutive_failures` counts this one (1 = the first of a run). Posts
  // "reconcile_failed": with notify_on changes only for the first failure of a run (later ones
  // count as filtered), with all for every failed cycle. Never blocks on the network.
  void reconcile_failed(const std::string& error, int consecutive_failures);
  // A reconcile cycle succeeded; call it after every successful cycle. When it ends a run of
  // failures (one reported to reconcile_failed since the last success) it posts
  // "reconcile_recovered" (both notify_on modes); otherwise it sends and counts nothing.
  void reconcile_succeeded();

  // Stops accepting events, tries to deliver what is queued until `deadline` has passed (no
  // retries after it), then stops the thread. Idempotent.
  void stop(std::chrono::milliseconds deadline);

  struct Counters {
    std::uint64_t delivered = 0, failed = 0, dropped = 0, filtered = 0;
  };
  Counters counters() const;
  // Events enqueued or being sent right now.
  std::size_t pending() const;

 private:
  void enqueue(std::string body);
  void run();

  WebhookOptions m_options;
  std::shared_ptr<http::Transport> m_transport;
  mutable std::mutex m_mutex;
  std::condition_variable m_cv;
  std::deque<std::string> m_queue;
  std::size_t m_in_flight = 0;
  std::map<std::string, std::string> m_last;  // address -> last success/failure outcome seen
  int m_reconcile_failures = 0;               // failed cycles since the last success
  std::string m_reconcile_error;              // the last one's error (sanitized)
  bool m_stopping = false;
  std::chrono::steady_clock::time_point m_deadline{};
  Counters m_counters;
  std::thread m_thread;
};

}  // namespace jobs
