#include "state/writer.hpp"

#include <exception>
#include <system_error>

namespace state {

StateWriter::StateWriter(StateStore& store, State initial, std::chrono::milliseconds deferred_delay,
                         bool background)
    : m_store(store),
      m_deferred_delay(deferred_delay),
      m_background(background),
      m_state(std::move(initial)) {}

StateWriter::~StateWriter() {
  {
    std::lock_guard lock(m_mutex);
    m_stopping = true;
  }
  m_work_cv.notify_all();
  if (m_saver.joinable()) m_saver.join();
}

util::Result<void, std::string> StateWriter::save_through(std::unique_lock<std::mutex>& lock,
                                                          std::uint64_t target) {
  m_saving = true;
  util::Result<void, std::string> result;
  while (m_saved_generation < target) {
    const std::uint64_t covering = m_generation;
    const bool covers_deferred = m_deferred_generation > m_saved_generation;
    State copy = m_state;
    lock.unlock();
    util::Result<void, std::string> saved;
    try {
      saved = m_store.save(copy);
    } catch (const std::exception& e) {
      saved = util::Err(std::string("saving state: ") + e.what());
    }
    lock.lock();
    if (!saved) {
      m_last_error = saved.error();
      m_error_generation = covering;
      if (covers_deferred) m_deferred_error = saved.error();
      result = util::Err(saved.error());
      break;
    }
    m_last_error.reset();
    m_saved_generation = covering;
  }
  m_saving = false;
  m_saved_cv.notify_all();
  m_work_cv.notify_all();  // the background saver may be waiting for this save to end
  return result;
}

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
  return save_through(lock, mine);
}

void StateWriter::update_deferred(const std::function<void(State&)>& mutate) {
  std::lock_guard lock(m_mutex);
  mutate(m_state);
  m_deferred_generation = ++m_generation;
  m_deferred_waiting = true;
  if (m_background && !m_saver.joinable() && !m_stopping) {
    try {
      m_saver = std::thread([this] { run_background_saver(); });
    } catch (const std::system_error&) {
      // No thread: the mutation waits for the next update() or flush(), which save it.
    }
  }
  m_work_cv.notify_one();
}

void StateWriter::run_background_saver() {
  std::unique_lock lock(m_mutex);
  while (true) {
    m_work_cv.wait(lock, [&] { return (m_stopping || m_deferred_waiting) && !m_saving; });
    const bool stop = m_stopping;
    if (m_deferred_waiting) {
      m_deferred_waiting = false;
      // A failure is recorded for flush(); the next deferred mutation retries.
      if (m_saved_generation < m_generation) (void)save_through(lock, m_generation);
    }
    if (stop) return;
    // Let deferred mutations gather for one save (flush() and update() do not wait for this).
    const auto next = std::chrono::steady_clock::now() + m_deferred_delay;
    m_work_cv.wait_until(lock, next, [&] { return m_stopping; });
  }
}

util::Result<void, std::string> StateWriter::flush() {
  std::unique_lock lock(m_mutex);
  const std::uint64_t target = m_generation;
  while (m_saving && m_saved_generation < target) m_saved_cv.wait(lock);
  util::Result<void, std::string> result;
  if (m_saved_generation < target) result = save_through(lock, target);
  if (m_deferred_error) {
    std::string error = std::move(*m_deferred_error);
    m_deferred_error.reset();
    return util::Err(std::move(error));
  }
  return result;
}

State StateWriter::snapshot() const {
  std::lock_guard lock(m_mutex);
  return m_state;
}

util::Result<void, std::string> StateWriter::reload(
    const std::function<util::Result<State, std::string>()>& load) {
  std::unique_lock lock(m_mutex);
  m_saved_cv.wait(lock, [&] { return !m_saving; });
  m_saving = true;  // holds off every other save until the loaded state is in place
  lock.unlock();
  util::Result<State, std::string> loaded = util::Err(std::string("state: not loaded"));
  try {
    loaded = load();
  } catch (const std::exception& e) {
    loaded = util::Err(std::string("loading state: ") + e.what());
  }
  lock.lock();
  if (loaded) {
    m_state = std::move(*loaded);
    m_saved_generation = m_generation;
    m_deferred_waiting = false;
    m_last_error.reset();
    m_deferred_error.reset();
  }
  m_saving = false;
  m_saved_cv.notify_all();
  m_work_cv.notify_all();
  if (!loaded) return util::Err(loaded.error());
  return {};
}

}  // namespace state
