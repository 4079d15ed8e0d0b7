#include "util/clock.hpp"

#include <thread>

namespace util {

Clock::SystemTime SystemClock::now() const {
  return std::chrono::system_clock::now();
}
Clock::SteadyTime SystemClock::steady_now() const {
  return std::chrono::steady_clock::now();
}
void SystemClock::sleep_for(std::chrono::milliseconds d) {
  if (d.count() > 0) std::this_thread::sleep_for(d);
}

FakeClock::FakeClock(SystemTime start) : m_system(start), m_steady(SteadyTime{}) {}

Clock::SystemTime FakeClock::now() const {
  std::lock_guard lock(m_mutex);
  return m_system;
}
Clock::SteadyTime FakeClock::steady_now() const {
  std::lock_guard lock(m_mutex);
  return m_steady;
}
void FakeClock::sleep_for(std::chrono::milliseconds d) {
  advance(d);
}
void FakeClock::advance(std::chrono::milliseconds d) {
  if (d.count() <= 0) return;
  std::lock_guard lock(m_mutex);
  m_system += d;
  m_steady += d;
}
void FakeClock::set(SystemTime t) {
  std::lock_guard lock(m_mutex);
  if (t > m_system) m_steady += std::chrono::duration_cast<std::chrono::nanoseconds>(t - m_system);
  m_system = t;
}

}  // namespace util
