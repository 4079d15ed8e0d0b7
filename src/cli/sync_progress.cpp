#include "cli/sync_progress.hpp"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <ostream>

#include "util/duration.hpp"

namespace cli {

namespace {

// One line of a job's log as a terminal line: control characters out, cut to `max` bytes.
std::string one_line(const std::string& text, std::size_t max = 160) {
  std::string out;
  for (char c : text) {
    if (out.size() >= max) {
      out += "...";
      break;
    }
    out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) ? ' ' : c;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

}  // namespace

SyncProgressOptions sync_progress_options(std::optional<std::chrono::milliseconds> timeout) {
  SyncProgressOptions o;
  const char* term = std::getenv("TERM");
  o.live = ::isatty(STDERR_FILENO) == 1 && !(term && std::strcmp(term, "dumb") == 0);
  o.timeout = timeout;
  return o;
}

SyncProgress::SyncProgress(std::ostream& err, util::Clock& clock, std::string address,
                           LastLog last_log, SyncProgressOptions options)
    : m_err(err),
      m_clock(clock),
      m_address(std::move(address)),
      m_last_log(std::move(last_log)),
      m_options(options) {}

SyncProgress::~SyncProgress() {
  end();
}

void SyncProgress::start(bool with_thread) {
  {
    std::lock_guard lock(m_mutex);
    if (m_started) return;
    m_started = true;
    m_start = m_last_line = m_clock.steady_now();
  }
  if (!with_thread) return;
  std::lock_guard lock(m_thread_mutex);
  m_thread = std::thread([this] {
    std::unique_lock lock(m_thread_mutex);
    while (!m_stop_thread) {
      // Real time between rounds only; what a round does is decided on the Clock.
      m_wake.wait_for(lock, m_options.tick_every, [this] { return m_stop_thread; });
      if (m_stop_thread) break;
      lock.unlock();
      tick();
      lock.lock();
    }
  });
}

void SyncProgress::following(const std::string& job_id, const std::string& what) {
  std::lock_guard lock(m_mutex);
  if (job_id != m_job_id) {
    m_log.clear();
    m_fetched = false;
  }
  m_job_id = job_id;
  m_what = what;
}

std::string SyncProgress::job_id() const {
  std::lock_guard lock(m_mutex);
  return m_job_id;
}

void SyncProgress::tick() {
  std::string job;
  const auto now = m_clock.steady_now();
  {
    std::lock_guard lock(m_mutex);
    if (!m_started || m_ended) return;
    if (m_options.timeout && now - m_start >= *m_options.timeout && !m_timed_out) {
      m_timed_out = true;
      m_stop_flag = true;
    }
    if (!m_job_id.empty() && (!m_fetched || now - m_last_fetch >= m_options.interval)) {
      job = m_job_id;
      m_fetched = true;
      m_last_fetch = now;
    }
  }
  // The API call without the lock (it may take a while, and the budget may make it wait).
  std::optional<std::string> log;
  if (!job.empty() && m_last_log) log = m_last_log(job);
  std::lock_guard lock(m_mutex);
  if (m_ended) return;
  if (log && job == m_job_id) m_log = one_line(*log);
  if (m_job_id.empty() || m_timed_out) return;
  if (m_options.live) {
    // The cursor stays at the start of the line, so a log line written meanwhile replaces it.
    m_err << "\033[K" << line_locked(now) << "\r" << std::flush;
    m_live_shown = true;
  } else if (now - m_last_line >= m_options.interval) {
    m_last_line = now;
    m_err << line_locked(now) << "\n" << std::flush;
  }
}

std::string SyncProgress::line_locked(util::Clock::SteadyTime now) const {
  const auto elapsed =
      std::chrono::duration_cast<std::chrono::seconds>(now - m_start);  // whole seconds
  std::string s = m_address + ": job " + m_job_id + " " + m_what + ", waited " +
                  util::format_duration(std::chrono::duration_cast<util::Millis>(elapsed));
  if (m_options.timeout) s += " of " + util::format_duration(*m_options.timeout) + " (--timeout)";
  if (!m_log.empty()) s += " · last log: " + m_log;
  return s;
}

void SyncProgress::end() {
  {
    std::lock_guard lock(m_thread_mutex);
    m_stop_thread = true;
  }
  m_wake.notify_all();
  std::thread thread;
  {
    std::lock_guard lock(m_thread_mutex);
    thread = std::move(m_thread);
  }
  if (thread.joinable()) thread.join();
  std::lock_guard lock(m_mutex);
  m_ended = true;
  if (m_live_shown) {
    m_err << "\033[K" << std::flush;
    m_live_shown = false;
  }
}

}  // namespace cli
