#include "state/writer.hpp"

namespace state {

StateWriter::StateWriter(StateStore& store, State initial)
    : m_store(store), m_state(std::move(initial)) {}

util::Result<void, std::string> StateWriter::update(const std::function<void(State&)>& mutate) {
  std::unique_lock lock(m_mutex);
  mutate(m_state);
  const std::uint64_t mine = ++m_generation;
  while (true) {
    if (m_saved_generation >= mine) return {};
    if (m_last_error && m_error_generation >= mine) return util::Err(*m_last_error);
    if (!m_saving) break;
    m_saved_cv.wait(lock);
  }
  // Become the saver for everything mutated so far.
  m_saving = true;
  while (m_saved_generation < mine) {
    const std::uint64_t covering = m_generation;
    State copy = m_state;
    lock.unlock();
    auto saved = m_store.save(copy);
    lock.lock();
    if (!saved) {
      m_last_error = saved.error();
      m_error_generation = covering;
      m_saving = false;
      m_saved_cv.notify_all();
      return util::Err(saved.error());
    }
    m_last_error.reset();
    m_saved_generation = covering;
  }
  m_saving = false;
  m_saved_cv.notify_all();
  return {};
}

State StateWriter::snapshot() const {
  std::lock_guard lock(m_mutex);
  return m_state;
}

void StateWriter::reset(State state) {
  std::lock_guard lock(m_mutex);
  m_state = std::move(state);
}

}  // namespace state
