#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "state/state.hpp"

namespace state {

// The in-memory state shared by every worker, persisted through a StateStore with group commit:
// each update() mutates the state, then returns only once a save that includes the mutation has
// completed, and concurrent updates share one save. So every remote write recorded through
// update() is durable before the caller moves on, without one fsync per write under load.
// update_deferred() is the exception a caller opts into: it returns at once and a background save
// (group-committed too) persists the mutation soon after; flush() waits for those saves and
// reports their failures. Thread-safe.
class StateWriter {
 public:
  // `deferred_delay`: the background saver waits this long after a save before the next one, so
  // one save covers the deferred mutations of that whole span (fewer, larger group commits).
  // `background`: false keeps deferred mutations in memory until the next update() or flush()
  // saves them (no thread): the harshest crash model, used by the model-based safety checker.
  StateWriter(StateStore& store, State initial,
              std::chrono::milliseconds deferred_delay = k_default_deferred_delay,
              bool background = true);
  static constexpr std::chrono::milliseconds k_default_deferred_delay{100};
  // Stops the background saver after one last attempt to save deferred mutations (its failure is
  // lost: call flush() first to see it).
  ~StateWriter();
  StateWriter(const StateWriter&) = delete;
  StateWriter& operator=(const StateWriter&) = delete;

  // Applies `mutate` to the state and waits until it is saved. Fails with the store's message
  // when that save failed (the mutation stays in memory and is retried by the next save).
  util::Result<void, std::string> update(const std::function<void(State&)>& mutate);

  // Applies `mutate` to the state and returns without waiting: a background thread (started on
  // first use) saves it within about `deferred_delay` plus one save, sharing one save among every
  // mutation made meanwhile. A crash before that save loses the mutation, so use this only for
  // records the next run can rebuild from the remote side. A failed background save is not
  // retried on its own: the next deferred mutation, update() or flush() retries it, and the next
  // flush() reports it.
  void update_deferred(const std::function<void(State&)>& mutate);

  // Waits until every mutation made so far (deferred or not) is saved, saving it itself when no
  // save is running. Fails with the store's message when that save failed, or when a background
  // save of deferred mutations failed since the previous flush() (even if a later save succeeded:
  // each failure is reported once).
  util::Result<void, std::string> flush();

  // A copy of the current in-memory state.
  State snapshot() const;

  // Replaces the in-memory state with what `load` returns (the store's current content), with no
  // save running meanwhile: a save in progress finishes first, none starts until the new state is
  // in place, and mutations made before count as saved (the store's content supersedes them).
  // So a save of an older copy can never follow the load and overwrite what another writer
  // stored (a node that leads again after a failover). On failure the state is unchanged.
  util::Result<void, std::string> reload(
      const std::function<util::Result<State, std::string>()>& load);

 private:
  // Saves until everything up to generation `target` is saved or a save fails. Called with
  // `lock` held and no save running; returns with `lock` held.
  util::Result<void, std::string> save_through(std::unique_lock<std::mutex>& lock,
                                               std::uint64_t target);
  void run_background_saver();

  StateStore& m_store;
  const std::chrono::milliseconds m_deferred_delay;
  const bool m_background;
  mutable std::mutex m_mutex;
  std::condition_variable m_saved_cv;  // a save finished
  std::condition_variable m_work_cv;   // a deferred mutation waits, or stopping
  State m_state;
  std::uint64_t m_generation = 0;        // bumped by every mutation
  std::uint64_t m_saved_generation = 0;  // the generation the last finished save covered
  bool m_saving = false;
  std::optional<std::string> m_last_error;
  std::uint64_t m_error_generation = 0;         // the generation the failed save covered
  std::uint64_t m_deferred_generation = 0;      // the newest deferred mutation
  bool m_deferred_waiting = false;              // the background saver has work
  std::optional<std::string> m_deferred_error;  // a failed save of deferred mutations, unreported
  bool m_stopping = false;
  std::thread m_saver;
};

}  // namespace state
