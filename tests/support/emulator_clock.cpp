#include "support/emulator_clock.hpp"

#include <stdexcept>
#include <thread>

#include "util/time_format.hpp"

namespace support {
namespace {

util::Clock::SystemTime emulator_now(const EmulatorProcess& emulator) {
  const auto state = emulator.control("GET", "state");
  if (state.value("clock", "") != "manual") {
    throw std::runtime_error("EmulatorClock: the emulator is not on the manual clock");
  }
  auto t = util::parse_rfc3339(state.value("now", ""));
  if (!t) throw std::runtime_error("EmulatorClock: the emulator's state has no readable 'now'");
  return *t;
}

}  // namespace

EmulatorClock::EmulatorClock(const EmulatorProcess& emulator)
    : m_emulator(emulator), m_fake(emulator_now(emulator)) {}

util::Clock::SystemTime EmulatorClock::now() const {
  return m_fake.now();
}

util::Clock::SteadyTime EmulatorClock::steady_now() const {
  return m_fake.steady_now();
}

void EmulatorClock::sleep_for(std::chrono::milliseconds d) {
  advance(d);
  // Not for correctness: lets the other threads of a test run between the sleeps of a loop.
  std::this_thread::yield();
}

void EmulatorClock::advance(std::chrono::milliseconds d) {
  if (d.count() <= 0) return;
  std::lock_guard lock(m_mutex);
  m_emulator.control("POST", "clock/advance", {{"ms", d.count()}});
  m_fake.advance(d);
  m_advanced += d;
}

std::chrono::milliseconds EmulatorClock::advanced() const {
  std::lock_guard lock(m_mutex);
  return m_advanced;
}

}  // namespace support
