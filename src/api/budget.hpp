#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

#include "util/clock.hpp"
#include "util/result.hpp"

namespace api {

// A token bucket: `capacity` requests per `period`, refilled continuously. 0 = unlimited.
struct BudgetSpec {
  int capacity = 600;
  std::chrono::milliseconds period{300'000};
};

// Parses the config's `request_budget`: "600/5m" (count "/" duration), "0" or "unlimited" for no
// limit. Fails with a message naming the text on anything else (negative, zero period, junk).
util::Result<BudgetSpec, std::string> parse_budget(std::string_view text);

// Who is waiting on the request budget right now, and how long (progress output: "waiting on
// request budget 1.8 s").
struct BudgetWait {
  int waiting = 0;                       // callers in take() waiting for a token now
  std::chrono::milliseconds longest{0};  // how long the longest-waiting of them has waited
  std::chrono::milliseconds total{0};    // all waits so far, finished ones, summed over callers
  std::uint64_t waits = 0;               // take() calls that had to wait, finished or not
};

// The client-side request budget. Starts full; take() blocks (through Clock::sleep_for, so a
// FakeClock makes it instant) until a token is available and takes it. Thread-safe.
class TokenBucket {
 public:
  TokenBucket(BudgetSpec spec, std::shared_ptr<util::Clock> clock);
  // Takes one token, waiting as long as needed. Returns the time waited.
  std::chrono::milliseconds take();
  // Tokens available now (infinity when unlimited).
  double available() const;
  // The waits in progress now and the waiting done so far (all zero when unlimited).
  BudgetWait wait_state() const;

 private:
  void refill_locked() const;

  BudgetSpec m_spec;
  std::shared_ptr<util::Clock> m_clock;
  mutable std::mutex m_mutex;
  mutable double m_tokens;
  mutable util::Clock::SteadyTime m_last;
  std::multiset<util::Clock::SteadyTime> m_waiting;  // when each current waiter began
  std::chrono::milliseconds m_total_waited{0};
  std::uint64_t m_waits = 0;
};

// A counting semaphore: at most `limit` holders at once (limit <= 0 = unlimited). Thread-safe.
class ConcurrencyLimiter {
 public:
  explicit ConcurrencyLimiter(int limit);
  void acquire();
  void release();
  int in_flight() const;

  // Holds one slot for its lifetime.
  class Slot {
   public:
    explicit Slot(ConcurrencyLimiter& limiter) : m_limiter(limiter) { m_limiter.acquire(); }
    ~Slot() { m_limiter.release(); }
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;

   private:
    ConcurrencyLimiter& m_limiter;
  };

 private:
  int m_limit;
  int m_in_flight = 0;
  mutable std::mutex m_mutex;
  std::condition_variable m_cv;
};

}  // namespace api
