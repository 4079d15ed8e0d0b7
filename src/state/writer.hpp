#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "state/state.hpp"

namespace state {

// The in-memory state shared by every worker, persisted through a StateStore with group commit:
// each update() mutates the state, then returns only once a save that includes the mutation has
// completed, and concurrent updates share one save. So every successful remote write is durable
// before the caller moves on, without one fsync per write under load. Thread-safe.
class StateWriter {
 public:
  StateWriter(StateStore& store, State initial);

  // Applies `mutate` to the state and waits until it is saved. Fails with the store's message
  // when that save failed (the mutation stays in memory and is retried by the next save).
  util::Result<void, std::string> update(const std::function<void(State&)>& mutate);

  // A copy of the current in-memory state.
  State snapshot() const;

  // Replaces the in-memory state (after a reload from the store) without saving.
  void reset(State state);

 private:
  StateStore& m_store;
  mutable std::mutex m_mutex;
  std::condition_variable m_saved_cv;
  State m_state;
  std::uint64_t m_generation = 0;        // bumped by every mutation
  std::uint64_t m_saved_generation = 0;  // the generation the last finished save covered
  bool m_saving = false;
  std::optional<std::string> m_last_error;
  std::uint64_t m_error_generation = 0;  // the generation the failed save covered
};

}  // namespace state
