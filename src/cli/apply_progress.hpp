#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <mutex>
#include <string>
#include <thread>

#include "api/budget.hpp"
#include "reconcile/apply.hpp"
#include "util/clock.hpp"

namespace cli {

struct ApplyProgressOptions {
  // One line per finished action on `out` ("[412/1000] done    create default/docs"); off for
  // -o json, whose stdout is the JSON document alone.
  bool action_lines = true;
  // `err` is a terminal: one counter line redrawn in place at every tick. Otherwise a progress
  // line at least every `interval`.
  bool live = false;
  std::chrono::milliseconds interval{10'000};
  // How often the ticker thread runs tick() (real time; every decision reads the Clock).
  std::chrono::milliseconds tick_every{250};
  // Throttling has stopped once no call waited on the request budget for this long.
  std::chrono::milliseconds quiet{5'000};
};

// The options for `apply -o OUTPUT` on this process's standard streams: live when stderr is a
// terminal (and TERM is not "dumb").
ApplyProgressOptions apply_progress_options(const std::string& output);

// What `apply` says while it runs (issue 17): a result line per action on `out` as it finishes,
// and on `err` the counter ("[412/1000] 2 failed · 41 s · waiting on request budget 1.8 s"),
// redrawn in place on a terminal, else a line at least every `interval`; one line when the
// request budget starts throttling (calls wait for tokens) and one when it stops (no wait for
// `quiet`, or the apply ended while throttled), each at most once per apply. `budget` reads the
// budget's waits (api::Client::budget_wait). Thread-safe: results come from apply's workers,
// tick() from the ticker thread; everything written to `out` and `err` goes under one lock.
class ApplyProgress {
 public:
  ApplyProgress(std::ostream& out, std::ostream& err, util::Clock& clock,
                std::function<api::BudgetWait()> budget, ApplyProgressOptions options);
  // Stops the ticker (as end() does, with the counts seen so far) if end() was not called.
  ~ApplyProgress();
  ApplyProgress(const ApplyProgress&) = delete;
  ApplyProgress& operator=(const ApplyProgress&) = delete;

  // Sets `ao`'s on_start, on_result and on_end to this object's (which must outlive the apply).
  // on_start starts the ticker thread; on_end stops it before apply returns.
  void attach(reconcile::ApplyOptions& ao);

  // The parts attach() wires, public so a test can drive them without threads.
  void start(std::size_t total);  // also starts the ticker thread when `with_thread`
  void result(const reconcile::ActionResult& r, const reconcile::ApplyCounts& counts);
  void end(const reconcile::ApplyCounts& counts);
  // One ticker round at the clock's now: the throttling lines when they are due, the counter
  // (live) or the progress line (every `interval`).
  void tick();

  // start() starts a ticker thread only when this is true (the default); tests tick by hand.
  void set_thread(bool with_thread) { m_with_thread = with_thread; }

 private:
  void tick_locked();
  std::string counter_locked() const;
  void clear_live_locked();
  void say_locked(const std::string& line);  // one line on err, under the live counter
  void stop_thread();

  std::ostream& m_out;
  std::ostream& m_err;
  util::Clock& m_clock;
  std::function<api::BudgetWait()> m_budget;
  ApplyProgressOptions m_options;
  bool m_with_thread = true;

  std::mutex m_mutex;  // guards everything below and both streams
  reconcile::ApplyCounts m_counts;
  bool m_started = false, m_ended = false;
  util::Clock::SteadyTime m_start{}, m_last_line{};
  bool m_live_shown = false;  // a counter is on the terminal's last line
  // Throttling: seen waiting (m_throttled), said it started / stopped (each once).
  bool m_throttled = false, m_said_start = false, m_said_stop = false;
  util::Clock::SteadyTime m_last_wait{}, m_throttle_began{};
  std::uint64_t m_waits_seen = 0;
  api::BudgetWait m_wait;  // as read at the last tick

  std::mutex m_thread_mutex;
  std::condition_variable m_wake;
  bool m_stop = false;
  std::thread m_thread;
};

}  // namespace cli
