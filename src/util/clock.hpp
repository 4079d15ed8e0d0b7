#pragma once

#include <chrono>
#include <mutex>

namespace util {

// Time as every part of the product sees it, so tests can drive fake time (Envoy's TimeSource).
class Clock {
 public:
  using SystemTime = std::chrono::system_clock::time_point;
  using SteadyTime = std::chrono::steady_clock::time_point;

  virtual ~Clock() = default;
  // Wall-clock time: schedules, timestamps in state and reports.
  virtual SystemTime now() const = 0;
  // Monotonic time: timeouts, backoff, rate limits.
  virtual SteadyTime steady_now() const = 0;
  // Blocks the calling thread for `d` (a fake clock advances instead of sleeping).
  virtual void sleep_for(std::chrono::milliseconds d) = 0;
};

// The real clocks.
class SystemClock final : public Clock {
 public:
  SystemTime now() const override;
  SteadyTime steady_now() const override;
  void sleep_for(std::chrono::milliseconds d) override;
};

// Time that moves only when told to; sleep_for advances it. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(SystemTime start);
  SystemTime now() const override;
  SteadyTime steady_now() const override;
  void sleep_for(std::chrono::milliseconds d) override;
  void advance(std::chrono::milliseconds d);
  void set(SystemTime t);  // wall clock only; steady time never goes back

 private:
  mutable std::mutex m_mutex;
  SystemTime m_system;
  SteadyTime m_steady;
};

}  // namespace util
