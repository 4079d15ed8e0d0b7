#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

namespace api {

struct ApiError;

// When and how often the client retries a retryable failure (ApiError::retryable()).
struct RetryPolicy {
  int max_attempts = 5;                                // first try included
  std::chrono::milliseconds base_delay{500};           // doubled each attempt ...
  std::chrono::milliseconds max_delay{30'000};         // ... up to this, full jitter below it
  std::chrono::milliseconds max_retry_after{300'000};  // a longer Retry-After is not waited out
  // All Retry-After waits of one call together stay under this: retry number n waits at most
  // max_total_retry_after / 2^n (so 120 s, 60 s, 30 s, ... for 4 minutes), a longer one ends
  // the call at once with a log line.
  std::chrono::milliseconds max_total_retry_after{240'000};
  std::uint64_t jitter_seed = 0;  // 0 = a random seed per client
};

// The capped exponential backoff with full jitter before retry number `retry` (1 = the first
// retry): `unit` (in [0, 1)) times min(max_delay, base_delay * 2^(retry-1)).
std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, int retry, double unit);

// How long to wait before sending attempt `attempt + 1` after `error` ended attempt `attempt`
// (1-based), or std::nullopt when the client must not retry: the error is not retryable or a
// bad_response (a refused answer: the same server sends the same answer again), it is a sync
// cooldown (429 code 7020, left to the jobs module), attempts are exhausted, or the server asks
// for a wait longer than policy.max_retry_after or than this retry's share of
// max_total_retry_after (logged). A server's Retry-After is honoured as is; otherwise
// backoff_delay(policy, attempt, unit).
std::optional<std::chrono::milliseconds> retry_delay(const RetryPolicy& policy,
                                                     const ApiError& error, int attempt,
                                                     double unit);

}  // namespace api
