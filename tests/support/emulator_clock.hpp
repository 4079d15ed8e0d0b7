#pragma once

#include <chrono>
#include <mutex>

#include "support/emulator_process.hpp"
#include "util/clock.hpp"

namespace support {

// A util::Clock for code under test that talks to an emulator on the manual clock
// (--clock manual): it starts where the emulator's clock stands, and sleep_for(d) moves both
// by d (the emulator's through POST /__emulator/clock/advance) instead of sleeping. So a job
// the emulator runs for 300 ms ends once the code under test has waited 300 ms on this clock,
// a cooldown once it has waited the cooldown, however slow the machine is. Thread-safe: two
// threads that sleep advance time by the sum. Throws std::runtime_error when the emulator
// cannot be asked.
class EmulatorClock final : public util::Clock {
 public:
  explicit EmulatorClock(const EmulatorProcess& emulator);

  SystemTime now() const override;
  SteadyTime steady_now() const override;
  void sleep_for(std::chrono::milliseconds d) override;
  // Moves both clocks forward by `d` (what sleep_for does).
  void advance(std::chrono::milliseconds d);
  // How much time all sleeps and advances added up to.
  std::chrono::milliseconds advanced() const;

 private:
  const EmulatorProcess& m_emulator;
  mutable std::mutex m_mutex;
  util::FakeClock m_fake;
  std::chrono::milliseconds m_advanced{0};
};

}  // namespace support
