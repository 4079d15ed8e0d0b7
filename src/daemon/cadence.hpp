#pragma once

// When the daemon reconciles. Pure, like schedule::Scheduler for sync slots: it reads no clock
// and never sleeps; the loop asks it when the next reconcile is due and waits for that itself.
//   - the first reconcile is due at once;
//   - after one that succeeded, the next is due an interval later, spread by ±jitter;
//   - after one that failed, the next is due after a backoff: retry_min, doubling with each
//     failure in a row up to the interval; a success resets it.

#include <chrono>
#include <functional>
#include <optional>

#include "util/clock.hpp"

namespace service {

class ReconcileCadence {
 public:
  using TimePoint = util::Clock::SteadyTime;

  // `unit` draws uniformly from [0, 1) (util::random_unit in the daemon; tests give their own).
  // `jitter` is a fraction of the interval, 0..1.
  ReconcileCadence(std::chrono::milliseconds interval, double jitter,
                   std::chrono::milliseconds retry_min, std::function<double()> unit);

  // When the next reconcile is due: `now` until the first one has run.
  TimePoint next_due(TimePoint now) const;
  bool due(TimePoint now) const { return now >= next_due(now); }
  // Records the outcome of a reconcile that ended at `now`; returns the wait until the next.
  std::chrono::milliseconds on_result(bool ok, TimePoint now);

 private:
  std::chrono::milliseconds m_interval;
  double m_jitter;
  std::chrono::milliseconds m_retry_min;
  std::function<double()> m_unit;
  std::chrono::milliseconds m_backoff;
  std::optional<TimePoint> m_due;
};

}  // namespace service
