#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "api/client.hpp"
#include "jobs/runner.hpp"
#include "manifest/model.hpp"
#include "schedule/scheduler.hpp"
#include "state/writer.hpp"

namespace jobs {

struct SyncManagerOptions {
  // Threads that send the requests of triggers, polls and job checks. However many jobs run,
  // these are all the threads the sync work uses. 0: none; the caller runs the work with
  // run_due_work() (tests, on a fake clock).
  int workers = 4;
};

// The daemon's sync engine (PRODUCT.md §7, §11): the scheduler, the policies, on_change, the
// jobs Cloudflare's own schedule starts, and the follow of every running job.
//
// Work is a queue of tasks ordered by due time (a trigger step, a poll of one followed job, a
// job-list check), run by `workers` threads; no thread is held by a job, so a stalled or
// endless job never delays another instance's trigger.
//
// Per instance:
// - A schedule slot taken by tick() is persisted (SyncState::last_slot) before anything else,
//   then a trigger. `forbid` with a job of the instance followed (ours, or one someone else
//   started) asks the job list first: a running job makes the slot `skipped` (end_reason
//   job_already_running; one record per slot, never run later). `replace` triggers at once (the
//   running job ends `superseded`). A slot that comes while a trigger of the instance is still
//   on its way is recorded `skipped` (trigger_in_progress).
// - on_change and manual triggers: with a job running under `forbid` (or a trigger on its way,
//   or a running job the forbid check finds), they coalesce into ONE run after the job ends,
//   kept in state (SyncState::held) across restarts; under `replace` they supersede it.
// - `sync.suspend` (or a suspended instance or namespace) ignores every trigger.
// - Running jobs are saved in state (SyncState::running) and resume() follows them again in a
//   new process or on a new leader; a trigger saved but never answered is settled from the job
//   list (its id is in the job's description), never sent again.
// - Cloudflare-started jobs cost nothing per cycle: observe_instances() compares each managed
//   instance's `last_activity` (then `status`, `modified_at`) with the last value seen and only
//   when it moved (and the instance is not ours to follow right now) spends one list_jobs; jobs
//   not yet in the instance's history are followed or recorded (trigger "cloudflare" for
//   source schedule, "external" otherwise). A running job found by a forbid check is followed
//   too, and a job of ours superseded by someone else makes the engine look for the newer job.
// - forbid lists the instance's jobs before every trigger: a job Cloudflare, a person or
//   `aisearchd sync` started since the last one ended would otherwise be superseded.
// Thread-safe.
class SyncManager {
 public:
  enum class TriggerResult { queued, coalesced, skipped, ignored };

  SyncManager(Runner& runner, api::Client& client, util::Clock& clock, state::StateWriter& writer,
              Reporter& reporter, SyncManagerOptions options);
  ~SyncManager();  // stop(0)
  SyncManager(const SyncManager&) = delete;
  SyncManager& operator=(const SyncManager&) = delete;

  // Takes the instances with `sync:` as schedule entries (suspended ones as suspended entries).
  // A schedule new to this engine continues from state (last slot or first sight); one whose
  // recorded schedule differs (it changed or was suspended while no process ran it) starts
  // afresh: no slot from before now runs. Instances that left the manifest are no longer
  // scheduled or observed (jobs already followed are followed to their end).
  void set_manifest(const manifest::Manifest& manifest);

  // Follows the jobs state records as running and settles the triggers state records as sent
  // but unanswered (list the instance's jobs, follow the one carrying the trigger's id); a held
  // on_change/manual run (SyncState::held) is held again for their end, or starts now when
  // none runs. Call once after the first set_manifest() (a new process, a new leader).
  void resume();

  // A run for `address` ("ns/id") now, per the policies above. reason "on_change" is ignored
  // unless the instance's sync has on_change: true; any reason is ignored for an address without
  // `sync:` in the manifest except "manual", and for a suspended one (sync.suspend, or the
  // instance or its namespace suspended).
  TriggerResult trigger(const std::string& address, const std::string& reason);

  // Earliest schedule due time (may be in the past), std::nullopt when nothing is scheduled.
  std::optional<std::chrono::system_clock::time_point> next_due() const;

  // Takes every slot due at `now`, persists it, then acts on it (above). Never blocks on the
  // network (a forbid skip is one state save).
  void tick(std::chrono::system_clock::time_point now);

  // Called with each reconcile's instance lists (see class comment); also warns once (Reporter::
  // paused) when an instance with a schedule of ours is `paused` at Cloudflare.
  void observe_instances(const std::vector<api::Instance>& instances);

  // Stops starting work and joins the workers (each finishes the request it is sending). Jobs
  // being followed stay recorded as running in state. Idempotent.
  void stop(std::chrono::milliseconds deadline);

  // workers == 0: runs every task due at the clock's steady time on this thread; returns how
  // many ran.
  std::size_t run_due_work();
  // When the next task is due (steady clock), std::nullopt when none is queued.
  std::optional<util::Clock::SteadyTime> next_work() const;

  // True when no trigger is on its way and no job is followed.
  bool idle() const;
  // Addresses with a trigger on its way or a job followed.
  std::vector<std::string> active() const;
  // True when no trigger is queued, on its way or waiting out a cooldown (jobs may still be
  // followed): what a one-shot apply waits for before it reports its on_change runs.
  bool triggers_answered() const;
  // Scheduled instances the last observe_instances() found paused at Cloudflare.
  std::vector<std::string> paused() const;
  // Jobs followed right now.
  std::size_t following() const;
  // Schedules that could not be used ("ns/id: why"); empty normally (validate rejects them).
  std::vector<std::string> schedule_problems() const;

 private:
  struct Task {
    enum class Kind { trigger, poll, observe, settle } kind = Kind::trigger;
    std::string address;
    std::shared_ptr<TriggerTask> trigger;
    std::shared_ptr<FollowTask> follow;
    std::vector<state::PendingTrigger> pending;  // settle: the triggers to settle
  };
  struct Inst {
    bool triggering = false;               // a trigger task is queued or running
    std::set<std::string> jobs;            // job ids followed
    std::optional<std::string> follow_up;  // a coalesced on_change/manual run after the job
    bool observing = false;                // an observe task is queued or running
    std::string seen_activity;             // last_activity|status|modified_at last observed
    bool rebaseline = false;               // our job moved it: the next observation is the base
    bool paused_reported = false;
  };
  struct Managed {            // a manifest instance (not suspended)
    manifest::SyncSpec spec;  // its sync: (defaults when it has none)
    bool has_sync = false;
    bool scheduled = false;  // schedule or every set
    std::string schedule;    // what SyncState::schedule records for it
  };

  // Decides what a trigger does (under m_mutex); a skip record to store is put in `skip`.
  TriggerResult request_locked(const std::string& address, const std::string& reason,
                               const std::string& slot, std::optional<state::JobRecord>& skip);
  void start_trigger_locked(const std::string& address, const std::string& reason,
                            const std::string& slot, bool check_running);
  void add_follow_locked(FollowTask follow, std::chrono::milliseconds delay);
  void push_locked(util::Clock::SteadyTime at, Task task);
  // After a job or trigger of `address` ended: a coalesced follow-up, if any.
  // Starts the held on_change/manual run once nothing of the instance runs; true when it was
  // dropped instead (the reloaded manifest suspends or no longer allows it): the caller clears
  // SyncState::held (save_held(address)) after unlocking.
  bool after_locked(const std::string& address);
  // Writes SyncState::held as m_held says now; never called under m_mutex.
  void save_held(const std::string& address);
  void worker();
  void execute(Task& task);
  void observe_jobs(const std::string& address);
  void settle(const std::string& address, const std::vector<state::PendingTrigger>& pending);
  manifest::SyncSpec policy_of_locked(const std::string& address) const;

  Runner& m_runner;
  api::Client& m_client;
  util::Clock& m_clock;
  state::StateWriter& m_writer;
  Reporter& m_reporter;
  SyncManagerOptions m_options;

  mutable std::mutex m_mutex;
  std::condition_variable m_cv;
  schedule::Scheduler m_scheduler;
  std::map<std::string, Managed> m_managed;  // by address
  std::set<std::string> m_left_alone;  // suspended instances, instances of suspended namespaces
  std::map<std::string, std::string> m_schedule_desc;      // what state should say, by address
  std::map<std::string, std::string> m_recorded_schedule;  // what state says, by address
  std::set<std::string> m_since_known;  // addresses whose SyncState::since is set
  std::vector<std::string> m_schedule_problems;
  std::map<std::string, Inst> m_inst;
  // What SyncState::held should say, by address: the reason of an on_change/manual run waiting
  // for a job's end (Inst::follow_up), else of a held run started whose trigger is not saved yet.
  // Its own mutex (taken under m_mutex, and inside the writer's saves; it takes no other lock),
  // so the trigger's save reads it without m_mutex.
  struct HeldRun {
    std::string waiting, in_flight;
    std::string value() const { return waiting.empty() ? in_flight : waiting; }
  };
  mutable std::mutex m_held_mutex;
  std::map<std::string, HeldRun> m_held;
  std::multimap<util::Clock::SteadyTime, Task> m_tasks;
  std::size_t m_running_tasks = 0;
  std::atomic<bool> m_stop{false};
  std::vector<std::thread> m_threads;
};

}  // namespace jobs
