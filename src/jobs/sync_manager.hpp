#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
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
  int workers = 4;  // instances followed at once at most (threads)
};

// The daemon's sync coordinator: the scheduler, the Runner, coalescing of triggers, on_change, and
// jobs started by Cloudflare's own schedule (PRODUCT.md §7, §8).
//
// - One operation at a time per instance: a trigger for an instance that is queued or running is
//   coalesced into ONE follow-up run after the current one (never a queue of runs); the Runner
//   waits out a sync cooldown before that run starts.
// - Each schedule slot taken by tick() is persisted (SyncState::last_slot) before its job starts,
//   so a restart neither re-runs nor skips it; missed slots run once (schedule::Scheduler). A
//   slot whose save failed is not run (at most once per slot, also across a failover).
// - Cloudflare-started jobs cost nothing per cycle: observe_instances() compares each managed
//   instance's `last_activity` (then `status`, `modified_at`) with the last value seen and only
//   when it moved (and the instance is not ours to follow right now) spends one list_jobs; jobs
//   not yet in the instance's history are followed or recorded (trigger "cloudflare" for
//   source schedule, "external" otherwise).
// Thread-safe. Work runs on `workers` threads; tick(), trigger() and observe_instances() only
// enqueue and return.
class SyncManager {
 public:
  enum class TriggerResult { queued, coalesced, ignored };

  SyncManager(Runner& runner, api::Client& client, util::Clock& clock, state::StateWriter& writer,
              Reporter& reporter, SyncManagerOptions options);
  ~SyncManager();  // stop(0)
  SyncManager(const SyncManager&) = delete;
  SyncManager& operator=(const SyncManager&) = delete;

  // Takes the instances with `sync:` (not suspended) as schedule entries; last slots are
  // restored from state. Instances that left the manifest are no longer scheduled or observed.
  void set_manifest(const manifest::Manifest& manifest);

  // A run for `address` ("ns/id") now. reason "on_change" is ignored unless the instance's sync
  // has on_change: true; any reason is ignored for an address without `sync:` in the manifest
  // except "manual". Coalesced when the instance is queued or running.
  TriggerResult trigger(const std::string& address, const std::string& reason);

  // Earliest schedule due time (may be in the past), std::nullopt when nothing is scheduled.
  std::optional<std::chrono::system_clock::time_point> next_due() const;

  // Takes every slot due at `now`, persists it, queues its run. Never blocks on the network.
  void tick(std::chrono::system_clock::time_point now);

  // Called with each reconcile's instance lists (see class comment); also warns once (Reporter::
  // paused) when an instance with a schedule of ours is `paused` at Cloudflare.
  void observe_instances(const std::vector<api::Instance>& instances);

  // Stops starting work, abandons follows at their next wait and joins the workers. In-flight
  // API calls finish (bounded by the client's http timeout). Idempotent.
  void stop(std::chrono::milliseconds deadline);

  // True when nothing is queued or running (for tests and the status page).
  bool idle() const;
  // Addresses queued or running.
  std::vector<std::string> active() const;

 private:
  struct Work {
    std::string address;
    std::string reason;  // trigger, or "observe" for a Cloudflare-job check
    std::string slot;    // RFC 3339 of the schedule slot (reason "schedule"), else ""
  };
  struct Slot {  // per address
    bool queued = false;
    bool running = false;
    std::optional<std::string> pending;  // coalesced follow-up reason
    std::string pending_slot;            // its schedule slot, if any
    std::string seen_activity;           // last_activity|status|modified_at last observed
    bool rebaseline = false;             // our job moved it: the next observation is the base
    bool paused_reported = false;
  };

  void enqueue_locked(const std::string& address, const std::string& reason,
                      const std::string& slot = "");
  void worker();
  void execute(const Work& work);
  void observe_jobs(const std::string& ns, const std::string& id, const manifest::SyncSpec& policy);

  Runner& m_runner;
  api::Client& m_client;
  util::Clock& m_clock;
  state::StateWriter& m_writer;
  Reporter& m_reporter;
  SyncManagerOptions m_options;

  mutable std::mutex m_mutex;
  std::condition_variable m_cv;
  schedule::Scheduler m_scheduler;
  struct Managed {            // a manifest instance (not suspended)
    manifest::SyncSpec spec;  // its sync: (defaults when it has none)
    bool has_sync = false;
    bool scheduled = false;  // schedule or every set
  };
  std::map<std::string, Managed> m_managed;  // by address
  std::map<std::string, Slot> m_slots;
  std::deque<Work> m_queue;
  std::atomic<bool> m_stop{false};
  std::vector<std::thread> m_threads;
};

}  // namespace jobs
