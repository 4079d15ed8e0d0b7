#include "api/envelope.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>

#include "util/strings.hpp"
#include "util/utf8.hpp"

namespace api {
namespace {

using nlohmann::json;

constexpr std::size_t k_snippet = 160;

bool is_2xx(int status) {
  return status >= 200 && status < 300;
}

// Replaces every occurrence of `needle` in `s`.
// Builds the DOM of an answer like nlohmann's own DOM parser (iteratively: no recursion on the
// input's nesting), but stops at the first container nested deeper than `max_depth` or once the
// DOM would take more than `max_bytes` (an estimate of what it allocates): `error` says which.
class LimitedDomParser {
 public:
  LimitedDomParser(json& root, const JsonLimits& limits)
      : m_dom(root, /*allow_exceptions=*/false), m_limits(limits) {}

  const std::string& error() const { return m_error; }

  bool null() { return charge(k_scalar) && m_dom.null(); }
  bool boolean(bool v) { return charge(k_scalar) && m_dom.boolean(v); }
  bool number_integer(json::number_integer_t v) {
    return charge(k_scalar) && m_dom.number_integer(v);
  }
  bool number_unsigned(json::number_unsigned_t v) {
    return charge(k_scalar) && m_dom.number_unsigned(v);
  }
  bool number_float(json::number_float_t v, const json::string_t& s) {
    return charge(k_scalar) && m_dom.number_float(v, s);
  }
  bool string(json::string_t& v) { return charge(k_scalar + v.size()) && m_dom.string(v); }
  bool binary(json::binary_t& v) { return charge(k_scalar + v.size()) && m_dom.binary(v); }
  bool start_object(std::size_t n) { return enter() && m_dom.start_object(n); }
  bool key(json::string_t& k) { return charge(k_member + k.size()) && m_dom.key(k); }
  bool end_object() {
    --m_depth;
    return m_dom.end_object();
  }
  bool start_array(std::size_t n) { return enter() && m_dom.start_array(n); }
  bool end_array() {
    --m_depth;
    return m_dom.end_array();
  }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) {
    // e.what() quotes the input ("last read: ..."); only the reason before it is kept.
    std::string what = e.what();
    if (const auto cut = what.find("; last read"); cut != std::string::npos) what.resize(cut);
    if (const auto colon = what.find("] "); colon != std::string::npos) what.erase(0, colon + 2);
    m_error = "not JSON at byte " + std::to_string(position) + ": " + what;
    m_syntax = true;
    return false;
  }
  bool syntax_error() const { return m_syntax; }

 private:
  // Rough bytes a value takes in the DOM: a scalar in an array (with the vector's slack), an
  // object member (a map node with its key), a container's own allocation.
  static constexpr std::size_t k_scalar = 32;
  static constexpr std::size_t k_member = 96;
  static constexpr std::size_t k_container = 64;

  bool enter() {
    if (++m_depth > m_limits.max_depth) {
      m_error = "nested deeper than " + std::to_string(m_limits.max_depth) + " levels";
      return false;
    }
    return charge(k_container);
  }
  bool charge(std::size_t bytes) {
    m_bytes += bytes;
    if (m_bytes <= m_limits.max_bytes) return true;
    m_error = "more than " + std::to_string(m_limits.max_bytes >> 20) + " MiB once parsed";
    return false;
  }

  nlohmann::detail::json_sax_dom_parser<json> m_dom;
  const JsonLimits& m_limits;
  std::size_t m_depth = 0;
  std::size_t m_bytes = 0;
  std::string m_error;
  bool m_syntax = false;
};

std::string describe_body(const http::HttpResponse& response, std::string_view secret) {
  std::string type = response.header("content-type").value_or("no content type");
  type = util::sanitize_text(type, secret, 60);
  std::string out = type + ", " + std::to_string(response.body.size()) + " bytes";
  const std::string snippet = util::sanitize_text(response.body, secret, k_snippet);
  if (!snippet.empty()) out += ": " + snippet;
  return out;
}

// errors[] of an envelope: codes and joined messages. Tolerates junk entries.
void read_errors(const json& errors, std::vector<int>& codes, std::string& message) {
  if (!errors.is_array()) return;
  std::vector<std::string> parts;
  for (const auto& e : errors) {
    if (!e.is_object()) continue;
    if (auto it = e.find("code"); it != e.end() && it->is_number_integer()) {
      const auto v = it->get<std::int64_t>();
      if (v >= std::numeric_limits<int>::min() && v <= std::numeric_limits<int>::max()) {
        codes.push_back(static_cast<int>(v));
      }
    }
    if (auto it = e.find("message"); it != e.end() && it->is_string()) {
      std::string text = it->get<std::string>();
      if (auto p = e.find("path"); p != e.end() && p->is_array() && !p->empty()) {
        std::vector<std::string> segs;
        for (const auto& s : *p) {
          if (s.is_string())
            segs.push_back(s.get<std::string>());
          else if (s.is_number_integer())
            segs.push_back(std::to_string(s.get<std::int64_t>()));
        }
        if (!segs.empty()) text = util::join(segs, ".") + ": " + text;
      }
      parts.push_back(std::move(text));
    }
  }
  message = util::join(parts, "; ");
}

ApiError make_error(ErrorKind kind, int status, std::string message,
                    std::optional<std::chrono::milliseconds> retry_after) {
  ApiError e;
  e.kind = kind;
  e.http_status = status;
  e.message = std::move(message);
  e.retry_after = retry_after;
  return e;
}

util::Result<Envelope, ApiError> parse_response_impl(const http::HttpResponse& response,
                                                     ResultNeed need, util::Clock::SystemTime now,
                                                     std::string_view secret,
                                                     const JsonLimits& limits) {
  const int status = response.status;
  const auto retry_after = parse_retry_after(response, now);
  const bool ok_status = is_2xx(status);
  // A limit passed is never worth a retry (retry_delay): the same server sends the same answer.
  const auto refused = [&](const std::string& why) {
    return util::Err(make_error(
        ErrorKind::bad_response, status,
        "refused the API's answer (HTTP " + std::to_string(status) + "): " + why, std::nullopt));
  };
  if (response.body_over_limit) {
    return refused("body larger than " + std::to_string(*response.body_over_limit >> 20) +
                   " MiB (after decompression)");
  }
  if (status >= 300 && status < 400) {
    const std::string to =
        util::sanitize_text(response.header("location").value_or("nowhere"), secret, k_snippet);
    return util::Err(make_error(ErrorKind::bad_response, status,
                                "redirected (HTTP " + std::to_string(status) + ") to " + to +
                                    "; redirects are not followed: check api_url",
                                retry_after));
  }
  if (response.body.size() > limits.max_bytes) {
    return refused("body of " + std::to_string(response.body.size()) + " bytes is larger than " +
                   std::to_string(limits.max_bytes >> 20) + " MiB");
  }
  json doc;
  std::string parse_error;
  {
    LimitedDomParser sax(doc, limits);
    if (!json::sax_parse(response.body, &sax)) {
      if (!sax.syntax_error()) return refused("JSON " + sax.error());
      parse_error = sax.error();
      doc = json(json::value_t::discarded);
    }
  }
  if (!parse_error.empty()) {
    if (const auto bad = util::first_invalid_utf8(response.body)) {
      parse_error = "invalid UTF-8 at byte " + std::to_string(*bad);
    }
  }

  if (doc.is_discarded() || !doc.is_object()) {
    if (ok_status) {
      std::string text = "expected the API's JSON envelope, got " + describe_body(response, secret);
      if (!parse_error.empty()) text += " (" + parse_error + ")";
      return util::Err(make_error(ErrorKind::bad_response, status, text, retry_after));
    }
    const std::string text = response.body.empty()
                                 ? std::string("empty body")
                                 : "not the API's envelope: " + describe_body(response, secret);
    return util::Err(make_error(classify(status, {}, ""), status, text, retry_after));
  }

  std::vector<int> codes;
  std::string message;
  const auto errors = doc.find("errors");
  if (errors != doc.end()) read_errors(*errors, codes, message);
  message = util::sanitize_text(message, secret, k_max_message);

  if (!ok_status) {
    ApiError e = make_error(classify(status, codes, message), status, message, retry_after);
    e.codes = std::move(codes);
    return util::Err(std::move(e));
  }

  const auto bad = [&](const std::string& why) {
    ApiError e =
        make_error(ErrorKind::bad_response, status, "malformed API envelope: " + why, retry_after);
    e.codes = codes;
    return util::Err(std::move(e));
  };
  const auto success = doc.find("success");
  if (success == doc.end()) return bad("no \"success\" field");
  if (!success->is_boolean()) return bad("\"success\" is not a boolean");
  if (errors != doc.end() && !errors->is_null() && !errors->is_array()) {
    return bad("\"errors\" is not an array");
  }
  if (!success->get<bool>()) {
    ErrorKind kind = classify(status, codes, message);
    ApiError e = make_error(
        kind, status, message.empty() ? std::string("success is false") : message, retry_after);
    e.codes = std::move(codes);
    return util::Err(std::move(e));
  }

  Envelope env;
  // Moved, not copied: the document is not needed after this.
  if (auto it = doc.find("result"); it != doc.end()) env.result = std::move(*it);
  if (auto it = doc.find("result_info"); it != doc.end()) {
    if (!it->is_null() && !it->is_object()) return bad("\"result_info\" is not an object");
    env.result_info = std::move(*it);
  }
  switch (need) {
    case ResultNeed::any:
      break;
    case ResultNeed::object:
      if (env.result.is_null()) return bad("no \"result\"");
      if (!env.result.is_object()) return bad("\"result\" is not an object");
      break;
    case ResultNeed::array:
      if (env.result.is_null()) return bad("no \"result\"");
      if (!env.result.is_array()) return bad("\"result\" is not an array");
      break;
  }
  return env;
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "Sun, 06 Nov 1994 08:49:37 GMT" (IMF-fixdate; the weekday is optional).
std::optional<util::Clock::SystemTime> parse_http_date(std::string_view text) {
  std::vector<std::string> parts;
  for (auto& p : util::split(util::trim(text), ' ')) {
    if (!p.empty()) parts.push_back(p);
  }
  if (!parts.empty() && !parts[0].empty() && parts[0].back() == ',') parts.erase(parts.begin());
  if (parts.size() != 5 || (parts[4] != "GMT" && parts[4] != "UTC")) return std::nullopt;
  static constexpr std::array<const char*, 12> k_months = {
      "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"};
  unsigned month = 0;
  for (unsigned i = 0; i < k_months.size(); ++i) {
    if (util::to_lower(parts[1]) == k_months[i]) month = i + 1;
  }
  if (month == 0 || !all_digits(parts[0]) || parts[0].size() > 2 || !all_digits(parts[2]) ||
      parts[2].size() != 4) {
    return std::nullopt;
  }
  const auto hms = util::split(parts[3], ':');
  if (hms.size() != 3) return std::nullopt;
  for (const auto& f : hms) {
    if (!all_digits(f) || f.size() != 2) return std::nullopt;
  }
  const unsigned day = static_cast<unsigned>(std::stoi(parts[0]));
  const int year = std::stoi(parts[2]);
  const int h = std::stoi(hms[0]), mi = std::stoi(hms[1]), s = std::stoi(hms[2]);
  if (day < 1 || day > 31 || h > 23 || mi > 59 || s > 60) return std::nullopt;
  const std::int64_t secs = days_from_civil(year, month, day) * 86400 + h * 3600 + mi * 60 + s;
  return util::Clock::SystemTime(std::chrono::seconds(secs));
}

// A non-negative decimal number ("12", "1.5"); std::nullopt otherwise.
std::optional<double> parse_number(std::string_view text) {
  const std::string t = util::trim(text);
  if (t.empty() || t.size() > 32) return std::nullopt;
  bool dot = false;
  for (char c : t) {
    if (c == '.' && !dot)
      dot = true;
    else if (c < '0' || c > '9')
      return std::nullopt;
  }
  if (t == ".") return std::nullopt;
  try {
    return std::stod(t);
  } catch (...) {
    return std::nullopt;
  }
}

constexpr double k_max_wait_ms = 1e12;  // ~30 years: anything longer is clamped

// Field readers: absent or null leaves `out` unset; a wrong type is an error naming the field.
bool read_string(const json& j, const char* key, std::optional<std::string>& out,
                 std::string& error) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return true;
  if (!it->is_string()) {
    error = std::string("field \"") + key + "\" is not a string";
    return false;
  }
  out = it->get<std::string>();
  return true;
}

bool read_string(const json& j, const char* key, std::string& out, std::string& error) {
  std::optional<std::string> v;
  if (!read_string(j, key, v, error)) return false;
  if (v) out = std::move(*v);
  return true;
}

bool read_bool(const json& j, const char* key, bool& out, std::string& error) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return true;
  if (!it->is_boolean()) {
    error = std::string("field \"") + key + "\" is not a boolean";
    return false;
  }
  out = it->get<bool>();
  return true;
}

bool to_int(const json& v, std::int64_t& out) {
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return false;
    out = static_cast<std::int64_t>(u);
    return true;
  }
  if (v.is_number_integer()) {
    out = v.get<std::int64_t>();
    return true;
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (!std::isfinite(d) || std::floor(d) != d || d < -9.2e18 || d > 9.2e18) return false;
    out = static_cast<std::int64_t>(d);
    return true;
  }
  return false;
}

bool read_int(const json& j, const char* key, std::optional<std::int64_t>& out,
              std::string& error) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return true;
  std::int64_t v = 0;
  if (!to_int(*it, v)) {
    error = std::string("field \"") + key + "\" is not an integer";
    return false;
  }
  out = v;
  return true;
}

util::Result<std::string, std::string> required_string(const json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return util::Err(std::string("no \"") + key + "\"");
  if (!it->is_string()) return util::Err(std::string("field \"") + key + "\" is not a string");
  std::string v = it->get<std::string>();
  if (v.empty()) return util::Err(std::string("field \"") + key + "\" is empty");
  return v;
}

}  // namespace

util::Result<Envelope, ApiError> parse_response(const http::HttpResponse& response, ResultNeed need,
                                                util::Clock::SystemTime now,
                                                std::string_view secret, const JsonLimits& limits) {
  try {
    return parse_response_impl(response, need, now, secret, limits);
  } catch (const std::exception&) {
    // Nothing above should throw; a parser surprise is still a bad response, never a crash.
    return util::Err(make_error(ErrorKind::bad_response, response.status,
                                "unparseable response body", std::nullopt));
  }
}

// The one place an API error's kind is decided, from its status and codes; the message is read
// only where the API documents text without a code (API.md §4: 409 "Namespace already exists";
// §5: 429 "Sync in cooldown"). Everything downstream decides by the kind.
ErrorKind classify(int http_status, const std::vector<int>& codes, std::string_view message) {
  const auto has = [&](int c) { return std::find(codes.begin(), codes.end(), c) != codes.end(); };
  const bool exists_text = util::to_lower(message).find("already exist") != std::string::npos;
  if (http_status == 401 || http_status == 403) return ErrorKind::auth;
  if (http_status == 404) return ErrorKind::not_found;
  if (http_status == 409) {
    return has(k_code_already_exists) || exists_text ? ErrorKind::already_exists
                                                     : ErrorKind::conflict;
  }
  if (http_status == 400 && (has(k_code_already_exists) || exists_text)) {
    return ErrorKind::already_exists;
  }
  if (http_status == 429 &&
      (has(k_code_sync_cooldown) || util::to_lower(message).find("cooldown") != std::string::npos))
    return ErrorKind::sync_cooldown;
  if (http_status == 429) return ErrorKind::rate_limited;
  if (http_status >= 500 && http_status < 600) return ErrorKind::server;
  if (http_status >= 400 && http_status < 500) return ErrorKind::client;
  // No error status (a 2xx saying success:false, or an unexpected status): go by the code.
  if (has(k_code_not_found)) return ErrorKind::not_found;
  if (has(k_code_already_exists)) return ErrorKind::already_exists;
  if (has(k_code_sync_cooldown)) return ErrorKind::sync_cooldown;
  if (has(k_code_rate_limited)) return ErrorKind::rate_limited;
  if (has(k_code_unavailable)) return ErrorKind::server;
  return ErrorKind::bad_response;
}

std::optional<std::chrono::milliseconds> parse_retry_after(const http::HttpResponse& response,
                                                           util::Clock::SystemTime now) {
  if (auto ms = response.header("retry-after-ms")) {
    if (auto v = parse_number(*ms)) {
      return std::chrono::milliseconds(static_cast<std::int64_t>(std::min(*v, k_max_wait_ms)));
    }
  }
  if (auto ra = response.header("retry-after")) {
    if (auto v = parse_number(*ra)) {
      return std::chrono::milliseconds(
          static_cast<std::int64_t>(std::min(*v * 1000.0, k_max_wait_ms)));
    }
    if (auto date = parse_http_date(*ra)) {
      if (*date <= now) return std::chrono::milliseconds(0);
      return std::chrono::duration_cast<std::chrono::milliseconds>(*date - now);
    }
  }
  return std::nullopt;
}

util::Result<PageInfo, std::string> parse_page_info(const json& result_info) {
  PageInfo info;
  if (result_info.is_null()) return info;
  if (!result_info.is_object()) return util::Err(std::string("result_info is not an object"));
  std::string error;
  if (!read_int(result_info, "page", info.page, error) ||
      !read_int(result_info, "per_page", info.per_page, error) ||
      !read_int(result_info, "count", info.count, error) ||
      !read_int(result_info, "total_count", info.total_count, error)) {
    return util::Err("result_info: " + error);
  }
  return info;
}

util::Result<Instance, std::string> parse_instance(const json& j, const std::string& fallback_ns) {
  if (!j.is_object()) return util::Err(std::string("instance is not an object"));
  auto id = required_string(j, "id");
  if (!id.ok()) return util::Err("instance: " + id.error());
  Instance out;
  out.id = std::move(id.value());
  out.ns = fallback_ns;
  std::string error;
  if (!read_string(j, "namespace", out.ns, error) || !read_string(j, "status", out.status, error) ||
      !read_string(j, "created_at", out.created_at, error) ||
      !read_string(j, "modified_at", out.modified_at, error) ||
      !read_string(j, "created_by", out.created_by, error) ||
      !read_string(j, "modified_by", out.modified_by, error) ||
      !read_bool(j, "paused", out.paused, error)) {
    return util::Err("instance " + out.id + ": " + error);
  }
  if (out.ns.empty()) out.ns = fallback_ns;
  out.raw = j;
  return out;
}

util::Result<Namespace, std::string> parse_namespace(const json& j) {
  if (!j.is_object()) return util::Err(std::string("namespace is not an object"));
  auto name = required_string(j, "name");
  if (!name.ok()) return util::Err("namespace: " + name.error());
  Namespace out;
  out.name = std::move(name.value());
  std::string error;
  if (!read_string(j, "description", out.description, error) ||
      !read_string(j, "created_at", out.created_at, error)) {
    return util::Err("namespace " + out.name + ": " + error);
  }
  out.raw = j;
  return out;
}

util::Result<Job, std::string> parse_job(const json& j) {
  if (!j.is_object()) return util::Err(std::string("job is not an object"));
  auto id = required_string(j, "id");
  if (!id.ok()) return util::Err("job: " + id.error());
  Job out;
  out.id = std::move(id.value());
  std::string error;
  if (!read_string(j, "source", out.source, error) ||
      !read_string(j, "description", out.description, error) ||
      !read_string(j, "started_at", out.started_at, error) ||
      !read_string(j, "ended_at", out.ended_at, error) ||
      !read_string(j, "last_seen_at", out.last_seen_at, error) ||
      !read_string(j, "end_reason", out.end_reason, error)) {
    return util::Err("job " + out.id + ": " + error);
  }
  return out;
}

util::Result<JobLogEntry, std::string> parse_job_log_entry(const json& j) {
  if (!j.is_object()) return util::Err(std::string("log entry is not an object"));
  JobLogEntry out;
  std::string error;
  std::optional<std::int64_t> id, type;
  std::optional<std::string> message;
  if (!read_int(j, "id", id, error) || !read_string(j, "message", message, error) ||
      !read_int(j, "message_type", type, error)) {
    return util::Err("log entry: " + error);
  }
  if (!id) return util::Err(std::string("log entry: no \"id\""));
  out.id = *id;
  out.message = message.value_or("");
  if (type) {
    if (*type < std::numeric_limits<int>::min() || *type > std::numeric_limits<int>::max()) {
      return util::Err(std::string("log entry: field \"message_type\" is out of range"));
    }
    out.message_type = static_cast<int>(*type);
  }
  if (auto it = j.find("created_at"); it != j.end() && !it->is_null()) {
    if (!it->is_number())
      return util::Err(std::string("log entry: \"created_at\" is not a number"));
    out.created_at = it->get<double>();
  }
  return out;
}

util::Result<InstanceStats, std::string> parse_stats(const json& j) {
  if (!j.is_object()) return util::Err(std::string("stats is not an object"));
  InstanceStats out;
  std::string error;
  if (!read_int(j, "queued", out.queued, error) || !read_int(j, "running", out.running, error) ||
      !read_int(j, "completed", out.completed, error) ||
      !read_int(j, "skipped", out.skipped, error) ||
      !read_int(j, "outdated", out.outdated, error) || !read_int(j, "error", out.error, error) ||
      !read_bool(j, "degraded", out.degraded, error)) {
    return util::Err("stats: " + error);
  }
  out.raw = j;
  return out;
}

std::string encode_path_segment(std::string_view segment) {
  static constexpr char k_hex[] = "0123456789ABCDEF";
  // "." and ".." would be resolved as dot-segments by servers and proxies.
  if (segment == "." || segment == "..") return segment.size() == 1 ? "%2E" : "%2E%2E";
  std::string out;
  out.reserve(segment.size());
  for (char c : segment) {
    const auto u = static_cast<unsigned char>(c);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(k_hex[u >> 4]);
      out.push_back(k_hex[u & 0xF]);
    }
  }
  return out;
}

}  // namespace api
