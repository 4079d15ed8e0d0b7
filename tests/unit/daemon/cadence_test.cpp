#include "daemon/cadence.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <vector>

#include "util/clock.hpp"

// ReconcileCadence in fake time: the daemon's reconcile timing without a daemon and without
// waiting (issue 16: "backoff doubles up to the interval", "jitter stays within ±j").
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

util::FakeClock fake_clock() {
  return util::FakeClock(util::Clock::SystemTime(std::chrono::hours(24 * 365 * 56)));
}

}  // namespace

TEST(ReconcileCadence, TheFirstReconcileIsDueAtOnce) {
  auto clock = fake_clock();
  service::ReconcileCadence cadence(minutes(5), 0.1, seconds(5), [] { return 0.5; });
  EXPECT_TRUE(cadence.due(clock.steady_now()));
  EXPECT_EQ(cadence.next_due(clock.steady_now()), clock.steady_now());
}

TEST(ReconcileCadence, BackoffDoublesUpToTheIntervalAndASuccessResetsIt) {
  auto clock = fake_clock();
  service::ReconcileCadence cadence(minutes(1), 0.0, seconds(5), [] { return 0.5; });
  std::vector<milliseconds> waits;
  for (int i = 0; i < 6; ++i) {
    waits.push_back(cadence.on_result(false, clock.steady_now()));
    EXPECT_FALSE(cadence.due(clock.steady_now()));
    clock.advance(waits.back() - milliseconds(1));
    EXPECT_FALSE(cadence.due(clock.steady_now())) << "failure " << i;
    clock.advance(milliseconds(1));
    EXPECT_TRUE(cadence.due(clock.steady_now())) << "failure " << i;
  }
  EXPECT_EQ(waits, (std::vector<milliseconds>{seconds(5), seconds(10), seconds(20), seconds(40),
                                              minutes(1), minutes(1)}));
  // A success waits the interval (no jitter here) and the next failure starts over at 5 s.
  EXPECT_EQ(cadence.on_result(true, clock.steady_now()), minutes(1));
  EXPECT_EQ(cadence.on_result(false, clock.steady_now()), seconds(5));
}

TEST(ReconcileCadence, JitterStaysWithinPlusOrMinusTheFraction) {
  auto clock = fake_clock();
  // The extremes of the draw, and values in between.
  const std::vector<double> draws = {0.0, 0.999999, 0.5, 0.25, 0.75, 0.1};
  std::size_t next = 0;
  service::ReconcileCadence cadence(minutes(5), 0.1, seconds(5), [&] { return draws[next++]; });
  milliseconds lowest = minutes(10), highest{0};
  for (std::size_t i = 0; i < draws.size(); ++i) {
    const auto wait = cadence.on_result(true, clock.steady_now());
    EXPECT_GE(wait, seconds(270)) << "draw " << draws[i];
    EXPECT_LE(wait, seconds(330)) << "draw " << draws[i];
    EXPECT_EQ(cadence.next_due(clock.steady_now()), clock.steady_now() + wait);
    lowest = std::min(lowest, wait);
    highest = std::max(highest, wait);
    clock.advance(wait);
    EXPECT_TRUE(cadence.due(clock.steady_now()));
  }
  EXPECT_EQ(lowest, seconds(270));   // a draw of 0: the interval minus 10 %
  EXPECT_GT(highest, seconds(329));  // a draw near 1: almost the interval plus 10 %
}

TEST(ReconcileCadence, NoJitterIsExactlyTheInterval) {
  auto clock = fake_clock();
  service::ReconcileCadence cadence(minutes(5), 0.0, seconds(5), [] { return 0.9; });
  EXPECT_EQ(cadence.on_result(true, clock.steady_now()), minutes(5));
}
