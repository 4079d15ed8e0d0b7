#include "schedule/scheduler.hpp"

#include <algorithm>
#include <tuple>
#include <utility>

namespace schedule {
namespace {

using std::chrono::milliseconds;

// The point up to which a key's slots are consumed: its next slot is the first one after it.
std::optional<TimePoint> consumed_through(const std::optional<TimePoint>& last_slot,
                                          const std::optional<TimePoint>& not_before) {
  std::optional<TimePoint> through = last_slot;
  if (not_before) {
    const TimePoint before =
        *not_before == TimePoint::min() ? *not_before : *not_before - TimePoint::duration(1);
    if (!through || before > *through) through = before;
  }
  return through;
}

std::optional<TimePoint> add_jitter(TimePoint slot, milliseconds jitter) {
  const auto ticks = std::chrono::duration_cast<TimePoint::duration>(jitter);
  if (slot > TimePoint::max() - ticks) return std::nullopt;
  return slot + ticks;
}

}  // namespace

void Scheduler::recompute(const std::string& key, KeyState& state) const {
  state.due.reset();
  if (!state.spec || state.suspended) return;
  if (state.awaiting_first_sight) {
    // Due "now": the caller's next run_due(now) records when the key was first seen.
    state.due = m_last_now.value_or(TimePoint{});
    return;
  }
  const auto through = consumed_through(state.last_slot, state.not_before);
  if (!through) return;  // unreachable: a key is either awaiting first sight or has a baseline
  const auto slot = state.spec->next_slot(*through);
  if (!slot) return;
  state.due = add_jitter(*slot, state.spec->jitter_for(key));
}

void Scheduler::set_entries(std::vector<Entry> entries) {
  std::map<std::string, Entry> incoming;
  for (auto& entry : entries) {
    std::string key = entry.key;
    incoming.insert_or_assign(std::move(key), std::move(entry));
  }
  // Forget keys that left; keep those only restored so far (not yet listed).
  for (auto it = m_states.begin(); it != m_states.end();) {
    if (it->second.spec && incoming.find(it->first) == incoming.end()) {
      it = m_states.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& [key, entry] : incoming) {
    KeyState& state = m_states[key];
    const bool is_new = !state.spec.has_value();
    const bool resumed = !is_new && state.suspended && !entry.suspended;
    const bool changed = !is_new && !(*state.spec == entry.spec);
    if ((is_new && !state.last_slot) || resumed || changed) {
      state.awaiting_first_sight = true;
      state.not_before.reset();
    }
    state.spec = std::move(entry.spec);
    state.suspended = entry.suspended;
    recompute(key, state);
  }
}

void Scheduler::restore_last_slot(const std::string& key, TimePoint slot) {
  KeyState& state = m_states[key];
  if (!state.last_slot || slot > *state.last_slot) state.last_slot = slot;
  // A known last slot replaces first sight: missed slots after it are caught up (once).
  state.awaiting_first_sight = false;
  state.not_before.reset();
  recompute(key, state);
}

void Scheduler::rebase(const std::string& key) {
  auto it = m_states.find(key);
  if (it == m_states.end()) return;
  it->second.awaiting_first_sight = true;
  it->second.not_before.reset();
  recompute(key, it->second);
}

bool Scheduler::known(const std::string& key) const {
  auto it = m_states.find(key);
  return it != m_states.end() && it->second.spec.has_value();
}

void Scheduler::restore_first_seen(const std::string& key, TimePoint at) {
  auto it = m_states.find(key);
  if (it == m_states.end()) return;
  KeyState& state = it->second;
  if (state.last_slot || !state.awaiting_first_sight) return;
  state.awaiting_first_sight = false;
  state.not_before = at;
  recompute(key, state);
}

std::vector<std::pair<std::string, TimePoint>> Scheduler::take_first_sights() {
  return std::exchange(m_first_sights, {});
}

std::optional<TimePoint> Scheduler::next_due() const {
  std::optional<TimePoint> earliest;
  for (const auto& [key, state] : m_states) {
    if (state.due && (!earliest || *state.due < *earliest)) earliest = state.due;
  }
  return earliest;
}

std::vector<Scheduler::Due> Scheduler::run_due(TimePoint now) {
  m_last_now = now;
  std::vector<std::tuple<TimePoint, std::string, TimePoint>> due;  // due time, key, slot
  for (auto& [key, state] : m_states) {
    if (!state.spec || state.suspended) continue;
    if (state.awaiting_first_sight) {
      state.awaiting_first_sight = false;
      state.not_before = now;
      m_first_sights.emplace_back(key, now);
      recompute(key, state);
    }
    if (!state.due || *state.due > now) continue;
    const milliseconds jitter = state.spec->jitter_for(key);
    const TimePoint due_at = *state.due;
    const TimePoint first_missed = due_at - std::chrono::duration_cast<TimePoint::duration>(jitter);
    // Run once, for the latest slot whose due time has come (not once per missed slot).
    const TimePoint target = now - std::chrono::duration_cast<TimePoint::duration>(jitter);
    TimePoint slot = first_missed;
    if (target > first_missed) {
      const auto horizon = std::chrono::ceil<milliseconds>(target - first_missed);
      const auto latest = state.spec->last_slot_at_or_before(target, horizon);
      if (latest && *latest > first_missed) slot = *latest;
    }
    due.emplace_back(due_at, key, slot);
    state.last_slot = slot;
    state.not_before.reset();
    recompute(key, state);
  }
  std::sort(due.begin(), due.end());
  std::vector<Due> result;
  result.reserve(due.size());
  for (auto& [at, key, slot] : due) result.push_back(Due{std::move(key), slot});
  return result;
}

std::optional<TimePoint> Scheduler::last_slot(const std::string& key) const {
  const auto it = m_states.find(key);
  if (it == m_states.end()) return std::nullopt;
  return it->second.last_slot;
}

std::optional<TimePoint> Scheduler::next_due_for(const std::string& key) const {
  const auto it = m_states.find(key);
  if (it == m_states.end()) return std::nullopt;
  return it->second.due;
}

std::vector<std::string> Scheduler::keys() const {
  std::vector<std::string> result;
  for (const auto& [key, state] : m_states) {
    if (state.spec) result.push_back(key);
  }
  return result;
}

}  // namespace schedule
