#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace api {

enum class ErrorKind {
  network,         // connection refused/reset, DNS, ...
  timeout,         // no complete answer in time
  tls,             // certificate or handshake failure
  rate_limited,    // 429 (the global limit, 971, and any other 429 but a sync cooldown)
  sync_cooldown,   // 429 on POST jobs during the cooldown after a job (code 7020, or the
                   // message says "cooldown"); never retried: the caller waits the cooldown out
  server,          // 5xx
  client,          // other 4xx (validation and the like)
  not_found,       // 404
  already_exists,  // 400 code 7022, or 409 "already exists"
  conflict,        // other 409
  auth,            // 401, 403
  bad_response,    // an answer that is not the API's envelope (HTML page, truncated JSON, ...)
  incomplete,      // a list whose pages do not add up: a short or empty page before total_count,
                   // an id on two pages, more items than total_count or per_page
};

const char* to_string(ErrorKind kind);

// An API failure as a value: what happened, and enough to decide what to do about it.
struct ApiError {
  ErrorKind kind = ErrorKind::network;
  int http_status = 0;     // 0 when no response arrived
  std::vector<int> codes;  // Cloudflare error codes from errors[].code
  std::string message;     // human text; never contains the token
  std::optional<std::chrono::milliseconds> retry_after;  // from Retry-After / retry-after-ms

  bool has_code(int code) const;
  // network, timeout, 408, 429, 5xx (and 409 code 7099 "modified concurrently").
  bool retryable() const;
  // "HTTP 404 not_found [7002]: Ai search not found."
  std::string describe() const;
};

// Well-known Cloudflare codes (API.md §8).
inline constexpr int k_code_not_found = 7002;
inline constexpr int k_code_already_exists = 7022;
inline constexpr int k_code_sync_cooldown = 7020;
inline constexpr int k_code_rate_limited = 971;
inline constexpr int k_code_unavailable = 7017;
inline constexpr int k_code_modified_concurrently = 7099;

}  // namespace api
