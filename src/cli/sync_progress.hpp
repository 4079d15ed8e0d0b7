#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <iosfwd>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "util/clock.hpp"

namespace cli {

struct SyncProgressOptions {
  // `err` is a terminal: one line redrawn in place every tick. Otherwise a line every `interval`.
  bool live = false;
  // Off a terminal, a progress line this often; everywhere, the job's last log line is read at
  // most this often (one API call).
  std::chrono::milliseconds interval{10'000};
  // How often the ticker thread runs tick() (real time; every decision reads the Clock).
  std::chrono::milliseconds tick_every{1'000};
  // `sync --timeout`: stop waiting once this long has passed since start(); unset = wait.
  std::optional<std::chrono::milliseconds> timeout;
};

// The options for `sync` on this process's stderr: live when it is a terminal (TERM not "dumb").
SyncProgressOptions sync_progress_options(std::optional<std::chrono::milliseconds> timeout);

// What `sync NS/ID` says while it waits for a job (issue 17) and its --timeout: on `err`,
// "default/docs: job 3f2a... running, 1m20s · last log: Indexed 12 files" (redrawn in place on a
// terminal, else a line every `interval`), the log line from `last_log` (the job's newest log
// message, nullopt when there is none or it cannot be read). Past the timeout it sets stop()
// (the flag jobs::Runner::run and wait_until_idle watch) and timed_out(). Thread-safe.
class SyncProgress {
 public:
  using LastLog = std::function<std::optional<std::string>(const std::string& job_id)>;
  SyncProgress(std::ostream& err, util::Clock& clock, std::string address, LastLog last_log,
               SyncProgressOptions options);
  ~SyncProgress();  // end()
  SyncProgress(const SyncProgress&) = delete;
  SyncProgress& operator=(const SyncProgress&) = delete;

  // The wait (and the timeout) starts now; a ticker thread too when `with_thread`.
  void start(bool with_thread = true);
  // The job waited for from now on (`what`: "running", "running (waiting for its end)", ...).
  void following(const std::string& job_id, const std::string& what = "running");
  // One round at the clock's now: the timeout, the log line when due, the progress line.
  void tick();
  // Stops the ticker and clears a live line. Idempotent.
  void end();

  const std::atomic<bool>* stop() const { return &m_stop_flag; }
  bool timed_out() const { return m_timed_out.load(); }
  // The job followed last ("" before following()).
  std::string job_id() const;

 private:
  std::string line_locked(util::Clock::SteadyTime now) const;

  std::ostream& m_err;
  util::Clock& m_clock;
  std::string m_address;
  LastLog m_last_log;
  SyncProgressOptions m_options;

  std::atomic<bool> m_stop_flag{false};
  std::atomic<bool> m_timed_out{false};

  mutable std::mutex m_mutex;  // guards below and `err`
  bool m_started = false, m_ended = false, m_live_shown = false;
  util::Clock::SteadyTime m_start{}, m_last_line{}, m_last_fetch{};
  bool m_fetched = false;
  std::string m_job_id, m_what, m_log;

  std::mutex m_thread_mutex;
  std::condition_variable m_wake;
  bool m_stop_thread = false;
  std::thread m_thread;
};

}  // namespace cli
