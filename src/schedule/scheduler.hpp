#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "schedule/spec.hpp"

namespace schedule {

// One scheduled thing: a key ("ns/id") and when it is due.
struct Entry {
  std::string key;
  Spec spec;
  bool suspended = false;  // never due while suspended
};

// Which keys are due when: a state machine driven by the caller's time (it never sleeps nor reads
// a clock). The caller's loop: run_due(now), persist each returned slot as the key's last slot,
// then wait until next_due() (or an earlier wake-up: reload, trigger, stop) and repeat.
//
// Rules:
// - Due time = slot + the key's jitter (Spec::jitter_for(key)).
// - Missed slots (the daemon was down, or run_due was called late) make a key due ONCE, for the
//   latest missed slot, never once per missed slot.
// - A key with no recorded last slot (new in the manifest, or first start without state) is not due
//   for slots before it was first seen: it waits for the next slot. "First seen" is the first
//   run_due(now) after set_entries() brought the key in; until that call next_due() reports the key
//   as due immediately, so the caller's loop calls run_due() at once.
// - Leaving suspension is treated like first sight: slots that passed while suspended are skipped,
//   not caught up.
// - A key whose spec changes on reload is seen for the first time again (its last slot is kept,
//   so no slot runs twice): the new spec's slots from the reload on are due, none from before.
// Not thread-safe: one owner (the daemon loop) calls it.
class Scheduler {
 public:
  struct Due {
    std::string key;
    TimePoint slot;  // the nominal slot this run is for: persist it as the key's last slot
  };

  // Replaces the set of entries (on manifest reload), keeping what it knows of keys that stay
  // (last slot, first sight). Knowledge of keys that leave is dropped. Duplicate keys: the last
  // one wins.
  void set_entries(std::vector<Entry> entries);

  // Restores the last slot that ran for a key (from state), so restarts neither re-run nor skip.
  // May be called before or after set_entries(); a later slot already known is kept (never moves
  // back).
  void restore_last_slot(const std::string& key, TimePoint slot);

  // Earliest time anything is due (slot + jitter), or std::nullopt when nothing is. May be in the
  // past (then call run_due now).
  std::optional<TimePoint> next_due() const;

  // Every key due at `now` (due time <= now), with the slot it runs for, ordered by due time then
  // key. Marks those slots consumed, so a second call at the same time returns nothing.
  std::vector<Due> run_due(TimePoint now);

  // Treats a known key as seen for the first time at the next run_due(now): slots before it are
  // not due (its last slot is kept). For a schedule that changed or left suspension while no
  // process ran it.
  void rebase(const std::string& key);

  // True when set_entries() listed the key (suspended or not).
  bool known(const std::string& key) const;

  // A key without a last slot was first seen at `at` (by an earlier process): slots before it
  // are not due, as if run_due(at) had seen it. Ignored once the key has a last slot.
  void restore_first_seen(const std::string& key, TimePoint at);

  // The keys run_due() saw for the first time since the last call, with that time: persist
  // them (see restore_first_seen) so another process continues the same schedule.
  std::vector<std::pair<std::string, TimePoint>> take_first_sights();

  // The last slot that ran (or was restored) for a key.
  std::optional<TimePoint> last_slot(const std::string& key) const;

  // When the key is next due (slot + jitter); std::nullopt for unknown or suspended keys or when
  // its spec has no further slot.
  std::optional<TimePoint> next_due_for(const std::string& key) const;

  // The keys currently scheduled (in key order).
  std::vector<std::string> keys() const;

 private:
  struct KeyState {
    std::optional<Spec> spec;  // std::nullopt: known only from restore_last_slot()
    bool suspended = false;
    std::optional<TimePoint> last_slot;
    // Slots before this are not due (first sight / resumption), until a slot runs.
    std::optional<TimePoint> not_before;
    bool awaiting_first_sight = false;  // not_before is set by the next run_due(now)
    std::optional<TimePoint> due;       // cached: next slot after the consumed point, + jitter
  };

  void recompute(const std::string& key, KeyState& state) const;

  std::map<std::string, KeyState> m_states;
  std::optional<TimePoint> m_last_now;  // the latest `now` given to run_due()
  std::vector<std::pair<std::string, TimePoint>> m_first_sights;  // since take_first_sights()
};

}  // namespace schedule
