#include "daemon/cadence.hpp"

#include <algorithm>
#include <utility>

namespace service {

using std::chrono::milliseconds;

ReconcileCadence::ReconcileCadence(milliseconds interval, double jitter, milliseconds retry_min,
                                   std::function<double()> unit)
    : m_interval(interval),
      m_jitter(std::clamp(jitter, 0.0, 1.0)),
      m_retry_min(retry_min),
      m_unit(std::move(unit)),
      m_backoff(m_retry_min) {}

ReconcileCadence::TimePoint ReconcileCadence::next_due(TimePoint now) const {
  return m_due.value_or(now);
}

milliseconds ReconcileCadence::on_result(bool ok, TimePoint now) {
  milliseconds wait;
  if (ok) {
    const double u = std::clamp(m_unit(), 0.0, 1.0);
    const double factor = 1.0 + (2.0 * u - 1.0) * m_jitter;
    wait =
        milliseconds(static_cast<std::int64_t>(static_cast<double>(m_interval.count()) * factor));
    m_backoff = m_retry_min;
  } else {
    wait = m_backoff;
    m_backoff = std::min<milliseconds>(m_backoff * 2, m_interval);
  }
  m_due = now + wait;
  return wait;
}

}  // namespace service
