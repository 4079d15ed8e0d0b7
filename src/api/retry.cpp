#include "api/retry.hpp"

#include <algorithm>
#include <cmath>

#include <spdlog/spdlog.h>

#include "api/errors.hpp"

namespace api {

std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, int retry, double unit) {
  const double base = static_cast<double>(std::max<std::int64_t>(0, policy.base_delay.count()));
  const double cap = static_cast<double>(std::max<std::int64_t>(0, policy.max_delay.count()));
  const int exponent = std::clamp(retry - 1, 0, 62);
  const double ceiling = std::min(cap, base * std::ldexp(1.0, exponent));
  const double u = std::isfinite(unit) ? std::clamp(unit, 0.0, 1.0) : 0.0;
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::floor(ceiling * u)));
}

std::optional<std::chrono::milliseconds> retry_delay(const RetryPolicy& policy,
                                                     const ApiError& error, int attempt,
                                                     double unit) {
  if (!error.retryable() || error.kind == ErrorKind::bad_response) return std::nullopt;
  if (attempt >= policy.max_attempts) return std::nullopt;
  if (error.retry_after) {
    const int halvings = std::clamp(attempt, 1, 62);
    const auto share = std::chrono::milliseconds(
        std::max<std::int64_t>(0, policy.max_total_retry_after.count()) >> halvings);
    const auto cap = std::min(policy.max_retry_after, share);
    if (*error.retry_after > cap) {
      spdlog::warn(
          "api retry-after not waited: the server asks for {} ms, this call may wait {} ms more "
          "(max_total_retry_after={} ms); the call fails now",
          error.retry_after->count(), cap.count(), policy.max_total_retry_after.count());
      return std::nullopt;
    }
    return std::max(*error.retry_after, std::chrono::milliseconds(0));
  }
  return backoff_delay(policy, attempt, unit);
}

}  // namespace api
