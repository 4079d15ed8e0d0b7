#include "api/budget.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>

#include "util/duration.hpp"
#include "util/strings.hpp"

namespace api {

util::Result<BudgetSpec, std::string> parse_budget(std::string_view text) {
  const std::string t = util::trim(text);
  const auto bad = [&](const std::string& why) {
    return util::Err("request budget \"" + std::string(text) + "\": " + why +
                     " (expected COUNT/DURATION such as 600/5m, or 0 for unlimited)");
  };
  if (t == "0" || t == "unlimited") return BudgetSpec{0, std::chrono::milliseconds(1)};
  const auto slash = t.find('/');
  if (slash == std::string::npos) return bad("no \"/\"");
  const std::string count_text = util::trim(std::string_view(t).substr(0, slash));
  const std::string period_text = util::trim(std::string_view(t).substr(slash + 1));
  int count = 0;
  const auto [ptr, ec] =
      std::from_chars(count_text.data(), count_text.data() + count_text.size(), count);
  if (count_text.empty() || ec != std::errc() || ptr != count_text.data() + count_text.size()) {
    return bad("the count is not a whole number");
  }
  if (count < 0) return bad("the count is negative");
  auto period = util::parse_duration(period_text);
  if (!period.ok()) return bad(period.error());
  if (period.value().count() <= 0) return bad("the period must be longer than 0");
  return BudgetSpec{count, period.value()};
}

TokenBucket::TokenBucket(BudgetSpec spec, std::shared_ptr<util::Clock> clock)
    : m_spec(spec),
      m_clock(std::move(clock)),
      m_tokens(std::max(0, spec.capacity)),
      m_last(m_clock->steady_now()) {}

void TokenBucket::refill_locked() const {
  const auto now = m_clock->steady_now();
  if (now <= m_last) return;
  const double elapsed_ms = std::chrono::duration<double, std::milli>(now - m_last).count();
  const double rate = static_cast<double>(m_spec.capacity) /
                      static_cast<double>(std::max<std::int64_t>(1, m_spec.period.count()));
  m_tokens = std::min(static_cast<double>(m_spec.capacity), m_tokens + elapsed_ms * rate);
  m_last = now;
}

std::chrono::milliseconds TokenBucket::take() {
  if (m_spec.capacity <= 0) return std::chrono::milliseconds(0);
  const double rate = static_cast<double>(m_spec.capacity) /
                      static_cast<double>(std::max<std::int64_t>(1, m_spec.period.count()));
  std::optional<std::multiset<util::Clock::SteadyTime>::iterator> waiting;  // set while waiting
  for (;;) {
    std::chrono::milliseconds wait{0};
    {
      std::lock_guard lock(m_mutex);
      refill_locked();
      if (m_tokens >= 1.0) {
        m_tokens -= 1.0;
        if (!waiting) return std::chrono::milliseconds(0);
        const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(
            m_clock->steady_now() - **waiting);
        m_waiting.erase(*waiting);
        m_total_waited += waited;
        return waited;
      }
      if (!waiting) {
        waiting = m_waiting.insert(m_clock->steady_now());
        ++m_waits;
      }
      wait =
          std::chrono::milliseconds(static_cast<std::int64_t>(std::ceil((1.0 - m_tokens) / rate)));
    }
    wait = std::max(wait, std::chrono::milliseconds(1));
    m_clock->sleep_for(wait);
  }
}

BudgetWait TokenBucket::wait_state() const {
  BudgetWait out;
  if (m_spec.capacity <= 0) return out;
  std::lock_guard lock(m_mutex);
  out.waiting = static_cast<int>(m_waiting.size());
  if (!m_waiting.empty()) {
    out.longest = std::chrono::duration_cast<std::chrono::milliseconds>(m_clock->steady_now() -
                                                                        *m_waiting.begin());
  }
  out.total = m_total_waited;
  out.waits = m_waits;
  return out;
}

double TokenBucket::available() const {
  if (m_spec.capacity <= 0) return std::numeric_limits<double>::infinity();
  std::lock_guard lock(m_mutex);
  refill_locked();
  return m_tokens;
}

ConcurrencyLimiter::ConcurrencyLimiter(int limit) : m_limit(limit) {}

void ConcurrencyLimiter::acquire() {
  std::unique_lock lock(m_mutex);
  if (m_limit > 0) m_cv.wait(lock, [&] { return m_in_flight < m_limit; });
  ++m_in_flight;
}

void ConcurrencyLimiter::release() {
  {
    std::lock_guard lock(m_mutex);
    --m_in_flight;
  }
  m_cv.notify_one();
}

int ConcurrencyLimiter::in_flight() const {
  std::lock_guard lock(m_mutex);
  return m_in_flight;
}

}  // namespace api
