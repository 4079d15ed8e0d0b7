#pragma once

// The Cloudflare response envelope and the API objects inside it, parsed strictly (a field the
// product reads must have its documented type) but tolerantly (errors/messages/result_info may be
// absent, unknown fields are ignored, null stands for an absent optional field). Nothing here
// throws: every malformed input is an error value.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/client.hpp"
#include "api/errors.hpp"
#include "http/transport.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"
#include "util/sanitize.hpp"

namespace api {

// What a successful call needs in `result`.
enum class ResultNeed {
  any,     // anything, absent or null included (delete, move)
  object,  // a JSON object
  array,   // a JSON array (lists)
};

struct Envelope {
  nlohmann::json result;       // null when absent
  nlohmann::json result_info;  // null when absent
};

// Limits on one answer's JSON. Parsing is iterative (nothing recurses on the input's nesting),
// and stops at the first limit passed.
struct JsonLimits {
  std::size_t max_depth = 64;        // nested objects/arrays; real answers use fewer than 10
  std::size_t max_bytes = 8u << 20;  // the body, and (estimated) the parsed document
};

// The longest message an ApiError carries; longer text is cut with "...".
inline constexpr std::size_t k_max_message = 300;

// Parses any HTTP response. A 2xx with `success: true` and a `result` that meets `need` is an
// Envelope; every other answer is an ApiError: a non-2xx classified by status and errors[].code
// (classify), a 2xx that is not the envelope (HTML, truncated or non-object JSON, wrong types,
// success:false, missing result) bad_response. Messages come from errors[].message (joined with
// "; "), are cut to k_max_message, and have `secret` and any "Bearer ..." credential redacted.
// `now` resolves a Retry-After HTTP-date. A redirect (3xx) names its Location; JSON that does not
// parse names the byte and the cause (invalid UTF-8 included). An answer past `limits` (nested
// too deep, too big before or after parsing, or cut by the transport: body_over_limit) is a
// bad_response "refused the API's answer ...", whatever its status, and is never retried.
util::Result<Envelope, ApiError> parse_response(const http::HttpResponse& response, ResultNeed need,
                                                util::Clock::SystemTime now,
                                                std::string_view secret = {},
                                                const JsonLimits& limits = {});

// The kind of a failed answer with this status and these Cloudflare codes (errors.hpp).
ErrorKind classify(int http_status, const std::vector<int>& codes, std::string_view message);

// The server's requested wait: `retry-after-ms` (milliseconds), else `Retry-After` as seconds or
// an HTTP-date (relative to `now`; a date in the past is 0). std::nullopt when absent or invalid.
std::optional<std::chrono::milliseconds> parse_retry_after(const http::HttpResponse& response,
                                                           util::Clock::SystemTime now);

// result_info of a list response; every field optional.
struct PageInfo {
  std::optional<std::int64_t> page, per_page, count, total_count;
};
util::Result<PageInfo, std::string> parse_page_info(const nlohmann::json& result_info);

// The API objects. Each fails (with the offending field's name) when a field the product reads
// has the wrong type, or a required one (`id`, `name`) is missing or empty.
util::Result<Instance, std::string> parse_instance(const nlohmann::json& j,
                                                   const std::string& fallback_ns);
util::Result<Namespace, std::string> parse_namespace(const nlohmann::json& j);
util::Result<Job, std::string> parse_job(const nlohmann::json& j);
util::Result<JobLogEntry, std::string> parse_job_log_entry(const nlohmann::json& j);
util::Result<InstanceStats, std::string> parse_stats(const nlohmann::json& j);

// Percent-encodes one URL path segment (everything but RFC 3986 unreserved characters; "." and
// ".." entirely).
std::string encode_path_segment(std::string_view segment);

}  // namespace api
