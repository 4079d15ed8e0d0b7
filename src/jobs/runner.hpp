#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "api/client.hpp"
#include "jobs/outcome.hpp"
#include "jobs/reporter.hpp"
#include "manifest/model.hpp"
#include "state/writer.hpp"
#include "util/clock.hpp"

namespace jobs {

struct FollowOptions {
  // Polling backoff: the first poll after poll_min, doubling up to poll_max between polls (used
  // while no duration history says when the job should end, and after that expected end).
  std::chrono::milliseconds poll_min{5000}, poll_max{60000};
  // A running job whose last_seen_at has not moved for this long is reported stalled (once) and
  // from then on polled only every stalled_poll, until it moves again, ends or times out.
  std::chrono::milliseconds stall_after{1'800'000};
  std::chrono::milliseconds stalled_poll{600'000};
  // The timeout of a job whose policy sets none: no job is followed forever.
  std::chrono::milliseconds default_timeout{86'400'000};
  // 429 "sync in cooldown" (7020) is waited out and retried for at most this long in total;
  // then the run is recorded `skipped` (end_reason "sync_in_cooldown"), never `failed`.
  std::chrono::milliseconds cooldown_wait_max{120000};
  // The cooldown wait when the 429 carries no Retry-After.
  std::chrono::milliseconds cooldown_default{30000};
  // After a cancel (timeout), how long to keep polling for ended_at before recording timed_out
  // without it.
  std::chrono::milliseconds cancel_grace{120000};
  // POSTs for one trigger at most. Another is sent only when the previous one certainly made no
  // job: its answer said so, or, after an unclear answer (timeout, reset, 5xx), the job list
  // shows no job carrying the trigger's id. The first retry waits trigger_retry, doubling.
  int trigger_attempts = 3;
  std::chrono::milliseconds trigger_retry{10000};
  // Fetch stats for clean successes too. Off: stats are fetched for failures only (they explain
  // them with error counts), so a clean success costs no extra request.
  bool stats_on_success = false;
  // Granularity of interruptible waits in run(): a stop request is noticed within this.
  std::chrono::milliseconds wait_slice{100};
};

// The record returned for a run that was abandoned (stop requested) or started without waiting:
// outcome "" (no outcome yet), job_id set when a job was started. Never stored in history.
inline constexpr const char* k_outcome_none = "";

// One trigger on its way to a job (PRODUCT.md §7). Filled by the caller; Runner::trigger_step
// keeps its progress in it.
struct TriggerTask {
  std::string ns, id;
  manifest::SyncSpec policy;
  std::string trigger;  // schedule | on_change | manual
  std::string slot;     // RFC 3339 of the schedule slot, "" for none
  // forbid: list the instance's jobs first and skip when one runs (cleared once listed; the
  // SyncManager clears it under replace).
  bool check_running = true;
  // forbid, a running job found: no `skipped` record, the run is held for the job's end (the
  // SyncManager's on_change and manual triggers coalesce; PRODUCT.md §7).
  bool hold_while_running = false;
  // Called inside the state save that records the job this trigger made as running, with the
  // instance's sync state (the SyncManager keeps SyncState::held there).
  std::function<void(state::SyncState&)> on_started;
  // Progress (set by trigger_step).
  std::string trigger_id;  // saved in state before the first POST
  bool unclear = false;    // the last POST's answer was unclear: list jobs before another
  int attempts = 0;        // POSTs sent
  std::chrono::milliseconds cooldown_waited{0};
  std::string address() const { return ns + "/" + id; }
};

// One job being followed to its end; Runner::poll_step keeps its progress in it.
struct FollowTask {
  std::string ns, id;
  manifest::SyncSpec policy;
  std::string trigger, slot;
  api::Job job;
  util::Clock::SystemTime since{};  // the timeout counts from here
  std::optional<util::Clock::SystemTime> cancelled_at;
  // From the instance's history of succeeded jobs: the median and the longest of the last 5.
  std::optional<std::chrono::milliseconds> expected_p50, expected_max;
  std::chrono::milliseconds backoff{0};
  std::optional<std::string> last_seen;
  util::Clock::SystemTime last_move{};
  bool stalled = false;
  int poll_errors = 0;
  std::string address() const { return ns + "/" + id; }
};

// What a trigger or poll step leads to.
struct Step {
  enum class Kind {
    follow,  // a job runs: follow `follow` (its first poll after `delay`)
    done,    // finished: `record` (when set) is stored and reported; `follow` (when set) is a
             // running job found by a forbid check, someone else's, to be followed (with no
             // record when the task holds its run for that job's end: hold_while_running)
    again,   // call the same step again after `delay`
  };
  Kind kind = Kind::done;
  std::optional<state::JobRecord> record;
  std::optional<FollowTask> follow;
  std::chrono::milliseconds delay{0};
};

// Triggers sync jobs and follows them to their end (PRODUCT.md §7), one request per step, so a
// caller may follow any number of jobs from a bounded set of threads (the SyncManager) or one
// job in a loop (run(), the `sync` command). Thread-safe; holds no per-job state.
//
// A trigger: (forbid) one list_jobs: a running job -> `skipped`; the
// trigger is saved in state (SyncState::triggers) with a fresh id; one POST (never retried by
// the client: it is not idempotent) with description "aisearchd: TRIGGER trigger ID[ slot SLOT]";
// after an unclear answer the job list is searched for that id before anything is sent again.
// The started job is saved as running (SyncState::running) in the save that drops the trigger.
//
// Polls: the first past the longest of the instance's last 5 succeeded jobs by their spread
// (longest - median, at most poll_max; plus a little slack: a job starts after its trigger),
// but at most 2 x poll_max past their median; then backing off from that spread (at least
// poll_min) to poll_max; without history, the backoff from poll_min. So a job of steady
// duration costs the trigger and one poll (and the forbid check: bench/sync_requests.sh, 3.0
// requests per job under forbid), and one that ends by its usual time is seen within 2 x
// poll_max of that. A poll due at the timeout reads the job first: one that has ended is
// recorded as it ended, only one still running is cancelled. A stalled job
// (last_seen_at still for stall_after) is reported once and polled every stalled_poll; past its
// timeout (the policy's, else default_timeout) a job is cancelled and recorded `timed_out`.
//
// Every finished outcome is stored exactly once (history capped at 20, last_job_id,
// last_success, the running entry removed, all in one save; a job already in history is not
// recorded again), then given to the Reporter.
class Runner {
 public:
  Runner(api::Client& client, util::Clock& clock, state::StateWriter& writer, Reporter& reporter,
         FollowOptions options);

  // One step of a trigger (see the class comment). `again` after a cooldown 429, a rate limit,
  // or an unclear answer whose job list did not show the job; `follow` with the job; `done`
  // with a record for a forbid skip (and the running job), a cooldown that lasted too long
  // (`skipped` sync_in_cooldown), or a failure (`failed` trigger_failed, the error in log_tail).
  // `done` without a record when the trigger could not be saved (nothing was sent).
  Step trigger_step(TriggerTask& task);

  // A follow of `job` (started by us or anyone) with `since` as the start of its timeout; its
  // expected duration from `history` (the instance's sync state; null: read from state).
  FollowTask make_follow(const std::string& ns, const std::string& id, const api::Job& job,
                         const manifest::SyncSpec& policy, const std::string& trigger,
                         const std::string& slot, util::Clock::SystemTime since,
                         const state::SyncState* history = nullptr) const;
  // Saves `task`'s job as running in state (for a job someone else started, first seen now).
  void save_running(const FollowTask& task);
  // When to poll a follow first.
  std::chrono::milliseconds first_wait(FollowTask& task) const;

  // One poll (or the timeout cancel) of a followed job: `again` with the next wait, or `done`
  // with the stored and reported record.
  Step poll_step(FollowTask& task);

  // Records an already finished job at once (a job seen only after its end).
  std::optional<state::JobRecord> finish(FollowTask& task);

  // Stores (history, last_job_id, last_success; the running entry dropped) and reports a record
  // unless its job is already recorded. Returns false when it was already recorded.
  bool store_and_report(const std::string& address, const state::JobRecord& record);

  // The `sync` command: trigger_step then poll_step in a loop on this thread, sleeping on the
  // clock between steps. Without `wait` the record has outcome "" and the new job's id, and
  // nothing is stored. `stop` (may be null): when it becomes true the run is abandoned at the
  // next wait and a record with outcome "" is returned (the remote job keeps running, and stays
  // recorded as running in state). `on_started` (may be empty) is called with the job the
  // trigger made (or found), before the run waits for its end.
  state::JobRecord run(const std::string& ns, const std::string& id,
                       const manifest::SyncSpec& policy, const std::string& trigger, bool wait,
                       const std::atomic<bool>* stop, const std::string& slot = "",
                       const std::function<void(const api::Job&)>& on_started = {});

  // The `sync` command under `forbid` (a manual trigger during a run coalesces into one run after
  // it ends): while a job of the instance runs, waits for its end, polling it (poll_min doubling
  // to poll_max; a failed poll is retried), and returns once none runs. Nothing is recorded or
  // cancelled: the job's own follower does that. `waiting` is told of each job waited for.
  // Fails (message) when the jobs cannot be listed, a job cannot be polled 10 times in a row, or
  // `stop` was set.
  util::Result<void, std::string> wait_until_idle(
      const std::string& ns, const std::string& id, const std::atomic<bool>* stop,
      const std::function<void(const api::Job&)>& waiting);

  const FollowOptions& options() const { return m_options; }
  // The HTTP status of the last answer that rejected the API token (ErrorKind::auth) while
  // triggering or checking for a running job; 0 when none did.
  int token_rejected() const { return m_token_rejected.load(std::memory_order_relaxed); }
  // The timeout that applies to a policy.
  std::chrono::milliseconds timeout_of(const manifest::SyncSpec& policy) const;

 private:
  void note_token(const api::ApiError& error);
  bool wait(std::chrono::milliseconds d, const std::atomic<bool>* stop);
  std::chrono::milliseconds next_wait(FollowTask& task) const;
  std::chrono::milliseconds first_poll_at(const FollowTask& task) const;
  Step finished(const std::string& address, state::JobRecord record);
  void drop_trigger(const std::string& address, const std::string& trigger_id);

  api::Client& m_client;
  util::Clock& m_clock;
  state::StateWriter& m_writer;
  Reporter& m_reporter;
  FollowOptions m_options;
  std::atomic<int> m_token_rejected{0};
};

}  // namespace jobs
