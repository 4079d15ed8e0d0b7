#include "api/budget.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace {

using std::chrono::milliseconds;

std::shared_ptr<util::FakeClock> fake_clock() {
  return std::make_shared<util::FakeClock>(std::chrono::system_clock::time_point{});
}

TEST(ParseBudget, CountSlashDuration) {
  auto b = api::parse_budget("600/5m");
  ASSERT_TRUE(b.ok()) << b.error();
  EXPECT_EQ(b.value().capacity, 600);
  EXPECT_EQ(b.value().period, milliseconds(300'000));
  auto spaced = api::parse_budget(" 10 / 1s ");
  ASSERT_TRUE(spaced.ok());
  EXPECT_EQ(spaced.value().capacity, 10);
  EXPECT_EQ(api::parse_budget("0").value().capacity, 0);
  EXPECT_EQ(api::parse_budget("unlimited").value().capacity, 0);
}

TEST(ParseBudget, RejectsJunkWithTheText) {
  for (const char* bad : {"", "600", "600/", "/5m", "-1/5m", "x/5m", "600/5", "600/0s", "600/5m/2",
                          "1e3/5m", "99999999999/5m"}) {
    auto r = api::parse_budget(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.error().find("request budget"), std::string::npos) << r.error();
  }
}

TEST(TokenBucket, StartsFullThenRefillsContinuously) {
  auto clock = fake_clock();
  api::TokenBucket bucket({5, milliseconds(10'000)}, clock);  // one token per 2 s
  const auto start = clock->steady_now();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(bucket.take(), milliseconds(0));
  EXPECT_EQ(clock->steady_now(), start);
  EXPECT_NEAR(bucket.available(), 0.0, 1e-9);
  EXPECT_EQ(bucket.take(), milliseconds(2000));
  EXPECT_EQ(clock->steady_now() - start, milliseconds(2000));
  clock->advance(milliseconds(1000));
  EXPECT_NEAR(bucket.available(), 0.5, 1e-9);
  EXPECT_EQ(bucket.take(), milliseconds(1000));
  // Refill never exceeds the capacity.
  clock->advance(milliseconds(3'600'000));
  EXPECT_NEAR(bucket.available(), 5.0, 1e-9);
}

TEST(TokenBucket, SixHundredPerFiveMinutesAllowsABurstThenTwoPerSecond) {
  auto clock = fake_clock();
  api::TokenBucket bucket(api::parse_budget("600/5m").value(), clock);
  const auto start = clock->steady_now();
  for (int i = 0; i < 600; ++i) bucket.take();
  EXPECT_EQ(clock->steady_now(), start);
  for (int i = 0; i < 10; ++i) bucket.take();
  EXPECT_EQ(clock->steady_now() - start, milliseconds(5000));
}

// Issue 17: progress output reads who waits on the budget and how long (api::BudgetWait).
TEST(TokenBucket, SaysWhoWaitsAndHowLong) {
  auto clock = fake_clock();
  api::TokenBucket bucket({2, milliseconds(2'000)}, clock);  // one token per second
  bucket.take();
  bucket.take();
  auto idle = bucket.wait_state();
  EXPECT_EQ(idle.waiting, 0);
  EXPECT_EQ(idle.waits, 0u);
  EXPECT_EQ(idle.total, milliseconds(0));
  EXPECT_EQ(bucket.take(), milliseconds(1000));  // the fake clock's sleep moves time
  EXPECT_EQ(bucket.take(), milliseconds(1000));
  auto after = bucket.wait_state();
  EXPECT_EQ(after.waiting, 0);
  EXPECT_EQ(after.waits, 2u);
  EXPECT_EQ(after.total, milliseconds(2000));
  // Unlimited: never a wait.
  api::TokenBucket unlimited({0, milliseconds(1000)}, clock);
  for (int i = 0; i < 100; ++i) unlimited.take();
  EXPECT_EQ(unlimited.wait_state().waits, 0u);
}

// A fake clock whose sleep_for blocks until the test lets it pass (then moves time by it), so a
// caller can be seen in the middle of its wait.
class GateClock final : public util::Clock {
 public:
  SystemTime now() const override { return SystemTime{} + (steady_now() - SteadyTime{}); }
  SteadyTime steady_now() const override {
    std::lock_guard lock(m_mutex);
    return m_now;
  }
  void sleep_for(std::chrono::milliseconds d) override {
    std::unique_lock lock(m_mutex);
    ++m_sleepers;
    m_cv.notify_all();
    m_cv.wait(lock, [&] { return m_open; });
    --m_sleepers;
    m_now += d;
  }
  void advance(std::chrono::milliseconds d) {
    std::lock_guard lock(m_mutex);
    m_now += d;
  }
  void wait_for_sleeper() {
    std::unique_lock lock(m_mutex);
    m_cv.wait(lock, [&] { return m_sleepers > 0; });
  }
  void open() {
    std::lock_guard lock(m_mutex);
    m_open = true;
    m_cv.notify_all();
  }

 private:
  mutable std::mutex m_mutex;
  std::condition_variable m_cv;
  SteadyTime m_now{};
  int m_sleepers = 0;
  bool m_open = false;
};

// A caller blocked in take() shows as waiting, with the time it has waited so far.
TEST(TokenBucket, ACallerWaitingNowIsSeen) {
  auto clock = std::make_shared<GateClock>();
  api::TokenBucket bucket({1, milliseconds(4'000)}, clock);  // one token per 4 s
  bucket.take();
  std::thread waiter([&] { bucket.take(); });
  clock->wait_for_sleeper();
  clock->advance(milliseconds(1'500));
  const auto seen = bucket.wait_state();
  EXPECT_EQ(seen.waiting, 1);
  EXPECT_EQ(seen.longest, milliseconds(1'500));
  EXPECT_EQ(seen.waits, 1u);
  EXPECT_EQ(seen.total, milliseconds(0));  // counted once it is over
  clock->open();
  waiter.join();
  const auto after = bucket.wait_state();
  EXPECT_EQ(after.waiting, 0);
  EXPECT_EQ(after.waits, 1u);
  EXPECT_GE(after.total, milliseconds(4'000));
}

TEST(TokenBucket, ZeroCapacityIsUnlimited) {
  auto clock = fake_clock();
  api::TokenBucket bucket({0, milliseconds(1000)}, clock);
  for (int i = 0; i < 10'000; ++i) bucket.take();
  EXPECT_EQ(clock->steady_now(), util::Clock::SteadyTime{});
  EXPECT_TRUE(std::isinf(bucket.available()));
}

TEST(TokenBucket, SharedByThreadsNeverOverspends) {
  auto clock = fake_clock();
  api::TokenBucket bucket({10, milliseconds(10'000)}, clock);  // one token per second
  const auto start = clock->steady_now();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) bucket.take();
    });
  }
  for (auto& t : threads) t.join();
  // 40 tokens: 10 from the full bucket, 30 refilled at 1/s; sleeping threads may overshoot
  // together, but never undershoot.
  EXPECT_GE(clock->steady_now() - start, milliseconds(30'000));
}

TEST(ConcurrencyLimiter, NeverMoreThanTheLimitInFlight) {
  api::ConcurrencyLimiter limiter(3);
  std::atomic<int> now{0}, peak{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        api::ConcurrencyLimiter::Slot slot(limiter);
        const int n = ++now;
        int p = peak.load();
        while (n > p && !peak.compare_exchange_weak(p, n)) {
        }
        std::this_thread::yield();
        --now;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(peak.load(), 3);
  EXPECT_GE(peak.load(), 1);
  EXPECT_EQ(limiter.in_flight(), 0);
}

}  // namespace
