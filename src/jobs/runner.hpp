#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "api/client.hpp"
#include "jobs/outcome.hpp"
#include "jobs/reporter.hpp"
#include "manifest/model.hpp"
#include "state/writer.hpp"
#include "util/clock.hpp"

namespace jobs {

struct FollowOptions {
  // Polling backoff: the first poll after poll_min, doubling up to poll_max between polls.
  std::chrono::milliseconds poll_min{5000}, poll_max{60000};
  // A running job whose last_seen_at has not moved for this long is reported stalled (once).
  std::chrono::milliseconds stall_after{300000};
  // 429 "sync in cooldown" (7020) is waited out and retried for at most this long in total;
  // then the run is recorded `skipped` (end_reason "sync_in_cooldown"), never `failed`.
  std::chrono::milliseconds cooldown_wait_max{120000};
  // The cooldown wait when the 429 carries no Retry-After.
  std::chrono::milliseconds cooldown_default{30000};
  // After a cancel (timeout), how long to keep polling for ended_at before recording timed_out
  // without it.
  std::chrono::milliseconds cancel_grace{120000};
  // Fetch stats for clean successes too. Off: stats are fetched when they decide or explain the
  // outcome (failed, timed_out, missing end_reason), so a clean success costs no extra request.
  bool stats_on_success = false;
  // Granularity of interruptible waits: a stop request is noticed within this.
  std::chrono::milliseconds wait_slice{100};
};

// The record returned for a run that was abandoned (stop requested) or started without waiting:
// outcome "" (no outcome yet), job_id set when a job was started. Never stored in history.
inline constexpr const char* k_outcome_none = "";

// Triggers sync jobs and follows them to their end (PRODUCT.md §7). One instance is shared by the
// daemon and the `sync` command. Thread-safe; per instance at most one run at a time: a second
// concurrent run() for the same instance returns `skipped` with end_reason "already_following"
// and is neither stored nor reported (nothing happened remotely).
//
// Request cost of one run: forbid's running-job check (1, list_jobs), the create (1, plus one per
// cooldown retry), the polls, the stats (only when they decide or explain the outcome) and the
// log tail (failures only). Polls follow a backoff from poll_min to poll_max; when the instance's
// history has succeeded jobs, the longest of the last 5 is the expected duration and polls before
// it are spread evenly at most poll_max apart so that one lands on the expected end, after which
// the poll_min -> poll_max backoff starts again. A timeout and a stall are noticed at the next
// poll (waits never pass the timeout).
//
// Every finished outcome (and every skipped run) is stored in state (history capped at 20,
// last_job_id, last_success) through the StateWriter, then given to the Reporter.
class Runner {
 public:
  Runner(api::Client& client, util::Clock& clock, state::StateWriter& writer, Reporter& reporter,
         FollowOptions options);

  // Starts a job for ns/id per `policy` (forbid: a job already running or pending -> skipped;
  // replace: start anyway, superseding it) and, when `wait`, follows it to its end and returns
  // the record (also stored and reported). `trigger`: schedule | on_change | manual | ....
  // Without `wait` the record has outcome "" and the new job's id; nothing is stored.
  // `stop` (may be null): when it becomes true the run is abandoned at the next wait and a
  // record with outcome "" is returned (the remote job keeps running).
  // Failing to start (an API error other than the cooldown) is recorded as `failed` with
  // end_reason "trigger_failed" and the error in log_tail.
  // `slot` (RFC 3339, may be empty): the schedule slot the run is for, named in the job's
  // description ("aisearchd: schedule slot 2027-01-15T08:00:00Z") so the API's job list tells
  // which slot each job served.
  state::JobRecord run(const std::string& ns, const std::string& id,
                       const manifest::SyncSpec& policy, const std::string& trigger, bool wait,
                       const std::atomic<bool>* stop, const std::string& slot = "");

  // Follows a job someone else started (Cloudflare's schedule, another process) to its end, or
  // records it at once when already finished; the policy's timeout applies from its started_at.
  // Returns std::nullopt when the instance is already being followed or the run was abandoned.
  std::optional<state::JobRecord> follow_existing(const std::string& ns, const std::string& id,
                                                  const api::Job& job,
                                                  const manifest::SyncSpec& policy,
                                                  const std::string& trigger,
                                                  const std::atomic<bool>* stop);

  // True while a run or follow for the instance is in progress.
  bool busy(const std::string& address) const;

  const FollowOptions& options() const { return m_options; }

 private:
  struct Busy;
  bool claim(const std::string& address);
  void release(const std::string& address);

  bool wait(std::chrono::milliseconds d, const std::atomic<bool>* stop);
  std::optional<state::JobRecord> follow(const std::string& ns, const std::string& id, api::Job job,
                                         const manifest::SyncSpec& policy,
                                         const std::string& trigger,
                                         std::chrono::milliseconds initial_age,
                                         const std::atomic<bool>* stop);
  state::JobRecord finish(const std::string& ns, const std::string& id, const api::Job& job,
                          const std::string& trigger, bool timed_out,
                          std::chrono::milliseconds measured);
  void store_and_report(const std::string& address, const state::JobRecord& record);
  std::optional<std::chrono::milliseconds> expected_duration(const std::string& address) const;

  api::Client& m_client;
  util::Clock& m_clock;
  state::StateWriter& m_writer;
  Reporter& m_reporter;
  FollowOptions m_options;
  mutable std::mutex m_mutex;
  std::set<std::string> m_busy;
};

}  // namespace jobs
