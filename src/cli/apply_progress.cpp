#include "cli/apply_progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ostream>

#include "util/strings.hpp"

namespace cli {

namespace {

std::string seconds_text(std::chrono::milliseconds d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(d.count()) / 1000.0);
  return buf;
}

std::chrono::milliseconds since(util::Clock::SteadyTime from, util::Clock::SteadyTime to) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(to - from);
}

}  // namespace

ApplyProgressOptions apply_progress_options(const std::string& output) {
  ApplyProgressOptions o;
  o.action_lines = output != "json";
  const char* term = std::getenv("TERM");
  o.live = ::isatty(STDERR_FILENO) == 1 && !(term && std::strcmp(term, "dumb") == 0);
  return o;
}

ApplyProgress::ApplyProgress(std::ostream& out, std::ostream& err, util::Clock& clock,
                             std::function<api::BudgetWait()> budget, ApplyProgressOptions options)
    : m_out(out), m_err(err), m_clock(clock), m_budget(std::move(budget)), m_options(options) {}

ApplyProgress::~ApplyProgress() {
  bool ended = false;
  reconcile::ApplyCounts counts;
  {
    std::lock_guard lock(m_mutex);
    ended = m_ended || !m_started;
    counts = m_counts;
  }
  if (!ended) {
    end(counts);
  } else {
    stop_thread();
  }
}

void ApplyProgress::attach(reconcile::ApplyOptions& ao) {
  ao.on_start = [this](std::size_t total) { start(total); };
  ao.on_result = [this](const reconcile::ActionResult& r, const reconcile::ApplyCounts& counts) {
    result(r, counts);
  };
  ao.on_end = [this](const reconcile::ApplyCounts& counts) { end(counts); };
}

void ApplyProgress::start(std::size_t total) {
  {
    std::lock_guard lock(m_mutex);
    m_started = true;
    m_counts = reconcile::ApplyCounts{};
    m_counts.total = total;
    m_start = m_last_line = m_clock.steady_now();
    // Waits before the apply (the plan's lists) are not this apply's throttling.
    if (m_budget) m_waits_seen = m_budget().waits;
  }
  if (!m_with_thread || total == 0) return;
  std::lock_guard lock(m_thread_mutex);
  if (m_thread.joinable()) return;
  m_stop = false;
  m_thread = std::thread([this] {
    std::unique_lock lock(m_thread_mutex);
    while (!m_stop) {
      // Real time between rounds only; what a round says is decided on the Clock.
      m_wake.wait_for(lock, m_options.tick_every, [this] { return m_stop; });
      if (m_stop) break;
      lock.unlock();
      tick();
      lock.lock();
    }
  });
}

void ApplyProgress::result(const reconcile::ActionResult& r, const reconcile::ApplyCounts& counts) {
  std::lock_guard lock(m_mutex);
  m_counts = counts;
  if (!m_options.action_lines) return;
  clear_live_locked();
  // Built with append (g++ 12 -O3 misreads "literal" + std::string as an overflow).
  std::string line = "[";
  line += std::to_string(counts.finished);
  line += '/';
  line += std::to_string(counts.total);
  line += "] ";
  line += r.status;
  line.append(8 - std::min<std::size_t>(7, r.status.size()), ' ');
  line += r.action;
  line += ' ';
  line += r.address;
  if (!r.error.empty()) line += ": " + r.error;
  if (!r.unstable.empty()) line += " (unstable: " + util::join(r.unstable, ", ") + ")";
  m_out << line << "\n" << std::flush;
}

void ApplyProgress::end(const reconcile::ApplyCounts& counts) {
  stop_thread();
  std::lock_guard lock(m_mutex);
  if (m_ended) return;
  m_ended = true;
  m_counts = counts;
  if (!m_started) return;
  tick_locked();  // the last throttling news
  const auto now = m_clock.steady_now();
  if (m_throttled && !m_said_stop) {
    m_said_stop = true;
    say_locked("request budget: throttling stopped with the end of the apply, " +
               seconds_text(since(m_throttle_began, now)) + " after it started (calls waited " +
               seconds_text(m_wait.total) + " in all, counted per call)");
  }
  clear_live_locked();
  // A closing counter where progress was shown (a terminal, or a long apply's lines).
  if (m_options.live || m_last_line != m_start || m_said_start) {
    m_err << counter_locked() << " · finished in " << seconds_text(since(m_start, now)) << "\n"
          << std::flush;
  }
}

void ApplyProgress::tick() {
  std::lock_guard lock(m_mutex);
  if (!m_started || m_ended) return;
  tick_locked();
}

void ApplyProgress::tick_locked() {
  const auto now = m_clock.steady_now();
  if (m_budget) m_wait = m_budget();
  // A call waited since the last round (one may have come and gone between two rounds).
  const bool waited = m_wait.waiting > 0 || m_wait.waits != m_waits_seen;
  m_waits_seen = m_wait.waits;
  if (waited) {
    m_last_wait = now;
    if (!m_throttled) {
      m_throttled = true;
      if (!m_said_start) {
        m_said_start = true;
        m_throttle_began = now;
        say_locked(
            "request budget: throttling started: API calls now wait for tokens "
            "(request_budget in the config)");
      }
    }
  } else if (m_throttled && now - m_last_wait >= m_options.quiet) {
    m_throttled = false;
    if (!m_said_stop) {
      m_said_stop = true;
      say_locked("request budget: throttling stopped, " +
                 seconds_text(since(m_throttle_began, m_last_wait)) +
                 " after it started (calls waited " + seconds_text(m_wait.total) +
                 " in all, counted per call)");
    }
  }
  if (m_ended) return;
  if (m_options.live) {
    // The cursor stays at the start of the line, so a log line written meanwhile replaces the
    // counter instead of running on after it.
    m_err << "\033[K" << counter_locked() << "\r" << std::flush;
    m_live_shown = true;
  } else if (now - m_last_line >= m_options.interval) {
    m_last_line = now;
    m_err << counter_locked() << "\n" << std::flush;
  }
}

std::string ApplyProgress::counter_locked() const {
  std::string s = "[";
  s += std::to_string(m_counts.finished);
  s += '/';
  s += std::to_string(m_counts.total);
  s += "] ";
  s += std::to_string(m_counts.failed);
  s += " failed";
  if (m_counts.blocked) s += ", " + std::to_string(m_counts.blocked) + " blocked";
  if (m_counts.skipped) s += ", " + std::to_string(m_counts.skipped) + " skipped";
  s += " · " + seconds_text(since(m_start, m_clock.steady_now()));
  if (!m_ended && m_wait.waiting > 0)
    s += " · waiting on request budget " + seconds_text(m_wait.longest);
  return s;
}

void ApplyProgress::clear_live_locked() {
  if (!m_live_shown) return;
  m_err << "\033[K" << std::flush;
  m_live_shown = false;
}

void ApplyProgress::say_locked(const std::string& line) {
  clear_live_locked();
  m_err << line << "\n" << std::flush;
}

void ApplyProgress::stop_thread() {
  std::thread thread;
  {
    std::lock_guard lock(m_thread_mutex);
    m_stop = true;
    thread = std::move(m_thread);
  }
  m_wake.notify_all();
  if (thread.joinable()) thread.join();
}

}  // namespace cli
