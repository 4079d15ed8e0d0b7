#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/result.hpp"

namespace state {

// The outcome of one sync job, as reported and kept in history (PRODUCT.md §7).
struct JobRecord {
  std::string job_id;
  std::string outcome;               // succeeded failed superseded cancelled timed_out skipped
  std::string trigger;               // schedule on_change manual cloudflare external
  std::string slot;                  // the schedule slot it served (or skipped), "" for none
  std::string source;                // the API's job source: user | schedule
  std::string started_at, ended_at;  // RFC 3339, empty when unknown
  double duration_seconds = 0;
  std::string end_reason;
  std::vector<std::string> log_tail;                       // last log lines, failures only
  nlohmann::json error_counts = nlohmann::json::object();  // from stats
};

// What aisearchd knows about one instance it owns (created or adopted).
struct OwnedInstance {
  std::string ns;
  std::string id;
  bool protect = false;
  std::string adopted_at;  // RFC 3339: when it was created or adopted
  // Digests of the last-applied values of the manifest's fields (field -> digest), and of the
  // values inside object fields under their dotted paths ("indexing_options.use_ocr"): a diff
  // tells by them what the manifest changed from what changed outside aisearchd.
  std::map<std::string, std::string> applied_digests;
  // Fields the API did not take on the last apply: reported, not re-sent every cycle.
  // field -> digest of the desired value that did not stick.
  std::map<std::string, std::string> unstable;
  // Recorded before the create was sent (write-ahead), not yet confirmed by an answer or a list:
  // a crash or a lost answer leaves the record, so the instance it made is still known as ours.
  // When the instance is not there, the create did not happen (a create again is config, not
  // drift).
  bool pending_create = false;
  // Recorded before aisearchd sends a DELETE of it (a prune, or a replace in place), cleared
  // when the delete surely did not happen or a new instance is recorded: when the instance is
  // not there, aisearchd deleted it itself (creating it again is config, not drift, so drift:
  // report does not hold it). When it is there, it is still ours.
  bool deleting = false;
  // With `deleting`: a digest of the type, source and created_at of the instance the DELETE was
  // for. An instance there again that differs in any was made by someone else after the DELETE
  // went through: the record is not ownership of it. Empty in records of older versions.
  std::string deleting_identity = {};
  std::string address() const { return ns + "/" + id; }
};

// A sync job being followed (PRODUCT.md §7). Saved when its trigger answers (or when a job someone
// else started is first seen running) and removed by the same save that records its outcome, so
// a restart or a new leader follows it to its end and records it exactly once.
struct RunningJob {
  std::string job_id;
  std::string trigger;       // schedule on_change manual cloudflare external
  std::string slot;          // the schedule slot it serves (RFC 3339), "" for none
  std::string since;         // RFC 3339 on this node's clock: its timeout counts from here
  std::string cancelled_at;  // RFC 3339: when the cancel for its timeout was sent, "" if none
};

// A trigger about to be sent (POST jobs is not idempotent): saved before the POST and removed
// when its job is known. Its id is in the job's description, so after an unclear answer or a
// crash the job list tells whether the trigger made a job.
struct PendingTrigger {
  std::string trigger_id;
  std::string trigger;  // schedule on_change manual
  std::string slot;     // RFC 3339, "" for none
  std::string at;       // RFC 3339: when it was saved
};

// The sync bookkeeping of one instance (owned or not).
struct SyncState {
  std::string last_slot;  // RFC 3339 of the last schedule slot that was run (or skipped)
  // RFC 3339: when the schedule was first seen, while no slot has run yet (slots before it are
  // not due); a new leader continues from it instead of seeing the schedule for the first time.
  std::string first_seen;
  std::string last_success;       // RFC 3339 end time of the last succeeded job
  std::string last_job_id;        // the last job seen, so a Cloudflare-started job is reported once
  std::deque<JobRecord> history;  // newest last, at most k_history_length
  // RFC 3339: when aisearchd first saw the instance's sync (never cleared): freshness counts
  // from it while no job has succeeded.
  std::string since;
  // The schedule last in force (schedule::Spec::describe(), or "suspended"): a new process that
  // finds another one in force starts that schedule afresh instead of catching up old slots.
  std::string schedule;
  std::vector<RunningJob> running;
  std::vector<PendingTrigger> triggers;
  // An on_change or manual run held back (coalesced) while a job of the instance ran under
  // forbid, still to start when it ends: its reason; "" for none. Kept across restarts and
  // failovers; cleared in the save that records its trigger, or when it is dropped.
  std::string held;

  // The job with this id in history (with an outcome other than skipped), or null.
  const JobRecord* recorded(const std::string& job_id) const;
};

inline constexpr std::size_t k_history_length = 20;

// An address "ns/id" as {ns, id}; {"", address} when it has no '/'.
std::pair<std::string, std::string> split_address(const std::string& address);

// An RFC 3339 time as JSON: null when absent (""), never an empty string.
nlohmann::json time_or_null(const std::string& rfc3339);

// A job record as JSON (the state file's form, also printed by `aisearchd sync -o json`);
// absent times are null.
nlohmann::json job_record_json(const JobRecord& record);

// What the last reconcile saw that state keeps for `status` only: per instance the fields
// that had drifted (and were corrected, or are reported under drift: report), and the remote
// instances aisearchd does not manage. Rewritten when its content changes, not every cycle.
struct Observation {
  std::string at;  // RFC 3339: the reconcile that first saw this content
  std::map<std::string, std::vector<std::string>> drift;  // address -> field paths
  std::vector<std::string> unmanaged;                     // addresses, sorted
  bool same_content(const Observation& o) const {
    return drift == o.drift && unmanaged == o.unmanaged;
  }
};

struct State {
  int version = 1;
  std::map<std::string, OwnedInstance> owned;  // by address "ns/id"
  std::map<std::string, SyncState> sync;       // by address
  // Namespaces aisearchd created or updated: name -> digest of the description it applied
  // (of null when none), so a later difference tells drift from a manifest change.
  std::map<std::string, std::string> namespaces;
  std::optional<Observation> observation;

  bool owns(const std::string& ns, const std::string& id) const;
  const OwnedInstance* find(const std::string& ns, const std::string& id) const;
  void add_job_record(const std::string& address, JobRecord record);

  nlohmann::json to_json() const;
  // Fails with a message on a document that is not a state file of a known version.
  static util::Result<State, std::string> from_json(const nlohmann::json& j);
};

// Where state lives (file, or etcd for high availability). Writes are whole-state, atomic.
class StateStore {
 public:
  virtual ~StateStore() = default;
  // Reads the current state; an absent store is an empty state.
  virtual util::Result<State, std::string> load() = 0;
  // Replaces the stored state atomically. Fails rather than half-writing.
  virtual util::Result<void, std::string> save(const State& state) = 0;
  // A human description ("file /var/lib/aisearchd/state.json").
  virtual std::string describe() const = 0;
};

}  // namespace state
