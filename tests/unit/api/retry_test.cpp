#include "api/retry.hpp"

#include <gtest/gtest.h>

#include "api/errors.hpp"

namespace {

using std::chrono::milliseconds;

api::ApiError error(int status, std::vector<int> codes = {},
                    api::ErrorKind kind = api::ErrorKind::server) {
  api::ApiError e;
  e.kind = kind;
  e.http_status = status;
  e.codes = std::move(codes);
  return e;
}

TEST(Backoff, DoublesFromTheBaseUpToTheCapWithFullJitter) {
  api::RetryPolicy p;
  p.base_delay = milliseconds(500);
  p.max_delay = milliseconds(8000);
  EXPECT_EQ(api::backoff_delay(p, 1, 0.999999), milliseconds(499));
  EXPECT_EQ(api::backoff_delay(p, 2, 0.5), milliseconds(500));
  EXPECT_EQ(api::backoff_delay(p, 3, 1.0), milliseconds(2000));
  EXPECT_EQ(api::backoff_delay(p, 10, 1.0), milliseconds(8000));
  EXPECT_EQ(api::backoff_delay(p, 1000, 1.0), milliseconds(8000));
  EXPECT_EQ(api::backoff_delay(p, 3, 0.0), milliseconds(0));
  for (double u = 0; u < 1; u += 0.01) {
    const auto d = api::backoff_delay(p, 4, u);
    EXPECT_GE(d, milliseconds(0));
    EXPECT_LE(d, milliseconds(4000));
  }
}

TEST(RetryDelay, RetriesTransientFailuresOnly) {
  api::RetryPolicy p;
  const double u = 0.5;
  EXPECT_TRUE(api::retry_delay(p, error(503), 1, u).has_value());
  EXPECT_TRUE(api::retry_delay(p, error(500), 1, u).has_value());
  EXPECT_TRUE(api::retry_delay(p, error(408, {}, api::ErrorKind::client), 1, u).has_value());
  EXPECT_TRUE(api::retry_delay(p, error(429, {971}, api::ErrorKind::rate_limited), 1, u));
  EXPECT_TRUE(api::retry_delay(p, error(409, {7099}, api::ErrorKind::conflict), 1, u));
  EXPECT_TRUE(api::retry_delay(p, error(0, {}, api::ErrorKind::network), 1, u));
  EXPECT_TRUE(api::retry_delay(p, error(0, {}, api::ErrorKind::timeout), 1, u));

  EXPECT_FALSE(api::retry_delay(p, error(0, {}, api::ErrorKind::tls), 1, u));
  EXPECT_FALSE(api::retry_delay(p, error(400, {}, api::ErrorKind::client), 1, u));
  EXPECT_FALSE(api::retry_delay(p, error(404, {7002}, api::ErrorKind::not_found), 1, u));
  EXPECT_FALSE(api::retry_delay(p, error(401, {}, api::ErrorKind::auth), 1, u));
  EXPECT_FALSE(api::retry_delay(p, error(409, {}, api::ErrorKind::conflict), 1, u));
  EXPECT_FALSE(api::retry_delay(p, error(200, {}, api::ErrorKind::bad_response), 1, u));
  // The sync cooldown is left to the jobs module (a kind the envelope parser sets once).
  EXPECT_FALSE(api::retry_delay(p, error(429, {7020}, api::ErrorKind::sync_cooldown), 1, u));
  EXPECT_FALSE(error(429, {}, api::ErrorKind::sync_cooldown).retryable());
}

TEST(RetryDelay, StopsAfterMaxAttempts) {
  api::RetryPolicy p;
  p.max_attempts = 3;
  EXPECT_TRUE(api::retry_delay(p, error(503), 2, 0.5));
  EXPECT_FALSE(api::retry_delay(p, error(503), 3, 0.5));
}

TEST(RetryDelay, HonoursRetryAfterUpToTheLimit) {
  api::RetryPolicy p;
  p.max_retry_after = milliseconds(60'000);
  auto e = error(429, {971}, api::ErrorKind::rate_limited);
  e.retry_after = milliseconds(12'000);
  EXPECT_EQ(api::retry_delay(p, e, 1, 0.0), milliseconds(12'000));
  e.retry_after = milliseconds(61'000);
  EXPECT_FALSE(api::retry_delay(p, e, 1, 0.5));
}

TEST(RetryDelay, RetryAfterWaitsOfOneCallStayUnderTheTotalCap) {
  // Issue 14: five 429s of Retry-After 300 held a call for 20 minutes.
  api::RetryPolicy p;
  auto e = error(429, {971}, api::ErrorKind::rate_limited);
  e.retry_after = milliseconds(300'000);
  EXPECT_FALSE(api::retry_delay(p, e, 1, 0.5).has_value());
  milliseconds total{0};
  for (int attempt = 1; attempt < p.max_attempts; ++attempt) {
    e.retry_after = milliseconds(p.max_total_retry_after.count() >> attempt);
    auto d = api::retry_delay(p, e, attempt, 0.5);
    ASSERT_TRUE(d.has_value()) << attempt;
    total += *d;
    e.retry_after = *e.retry_after + milliseconds(1);
    EXPECT_FALSE(api::retry_delay(p, e, attempt, 0.5).has_value()) << attempt;
  }
  EXPECT_LT(total, p.max_total_retry_after);
}

TEST(RetryDelay, RefusedAnswersAreNeverRetried) {
  auto e = error(503, {}, api::ErrorKind::bad_response);
  EXPECT_FALSE(api::retry_delay(api::RetryPolicy{}, e, 1, 0.5).has_value());
}

}  // namespace
