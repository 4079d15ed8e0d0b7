#pragma once

#include <mutex>
#include <optional>
#include <string>

#include "state/state.hpp"

namespace support {

// A state::StateStore in memory for unit and model tests (header-only: the support library
// does not link the state module). `freeze()` models a process killed at
// that moment: saves after it are dropped (they never reached the disk), and `load()` returns
// what was saved before it, as a new process would read it.
class MemoryStore final : public state::StateStore {
 public:
  MemoryStore() = default;
  explicit MemoryStore(state::State initial) : m_saved(std::move(initial)) {}

  util::Result<state::State, std::string> load() override {
    std::lock_guard lock(m_mutex);
    return m_saved;
  }

  util::Result<void, std::string> save(const state::State& s) override {
    std::lock_guard lock(m_mutex);
    if (m_frozen) return {};
    ++m_saves;
    // Through the state file's own form, so what survives is what a real store keeps.
    auto round_trip = state::State::from_json(s.to_json());
    if (!round_trip) return util::Err(round_trip.error());
    m_saved = std::move(*round_trip);
    return {};
  }

  std::string describe() const override { return "memory"; }

  void freeze() {
    std::lock_guard lock(m_mutex);
    m_frozen = true;
  }
  void thaw() {
    std::lock_guard lock(m_mutex);
    m_frozen = false;
  }
  int saves() const {
    std::lock_guard lock(m_mutex);
    return m_saves;
  }
  state::State saved() const {
    std::lock_guard lock(m_mutex);
    return m_saved;
  }

 private:
  mutable std::mutex m_mutex;
  state::State m_saved;
  bool m_frozen = false;
  int m_saves = 0;
};

}  // namespace support
