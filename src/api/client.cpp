#include "api/client.hpp"

#include <algorithm>
#include <random>
#include <set>

#include <spdlog/spdlog.h>

#include "aisearchd_version.hpp"
#include "api/envelope.hpp"
#include "util/sanitize.hpp"
#include "util/strings.hpp"

namespace api {
namespace {

using nlohmann::json;

constexpr int k_max_pages = 1'000;  // a list longer than this is a server that never ends
// No account holds more: a larger total_count is a server that is wrong, not a list to follow.
constexpr std::int64_t k_max_total_count = 100'000;
// A job log line kept: longer ones are cut (with "...").
constexpr std::size_t k_max_log_line = 2048;
constexpr int k_max_jobs_per_page = 50;
constexpr int k_max_logs_per_page = 500;

struct UrlParts {
  std::string scheme;  // lower-case
  std::string host;    // without brackets and port
  std::string path;    // "" or "/..."
};

std::optional<UrlParts> split_url(const std::string& url) {
  const auto sep = url.find("://");
  if (sep == std::string::npos || sep == 0) return std::nullopt;
  UrlParts parts;
  parts.scheme = util::to_lower(std::string_view(url).substr(0, sep));
  const std::size_t authority_start = sep + 3;
  std::size_t authority_end = url.find_first_of("/?#", authority_start);
  if (authority_end == std::string::npos) authority_end = url.size();
  const std::string authority = url.substr(authority_start, authority_end - authority_start);
  if (authority.empty() || authority.find('@') != std::string::npos) return std::nullopt;
  if (authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string::npos) return std::nullopt;
    parts.host = authority.substr(1, close - 1);
  } else {
    parts.host = authority.substr(0, authority.find(':'));
  }
  if (parts.host.empty()) return std::nullopt;
  parts.host = util::to_lower(parts.host);
  if (authority_end < url.size() && url[authority_end] == '/') {
    parts.path = url.substr(authority_end, url.find_first_of("?#", authority_end) - authority_end);
  } else if (authority_end < url.size()) {
    return std::nullopt;  // a query or fragment in a base URL
  }
  return parts;
}

bool is_loopback(const std::string& host) {
  if (host == "localhost" || host == "::1") return true;
  const auto octets = util::split(host, '.');
  if (octets.size() != 4 || octets[0] != "127") return false;
  for (const auto& o : octets) {
    if (o.empty() || o.size() > 3 ||
        !std::all_of(o.begin(), o.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return false;
    }
    if (std::stoi(o) > 255) return false;
  }
  return true;
}

util::Result<void, std::string> check_url(const std::string& api_url) {
  const auto parts = split_url(api_url);
  if (!parts) return util::Err("api_url \"" + api_url + "\" is not an http(s) URL");
  if (parts->scheme == "https") return {};
  if (parts->scheme != "http") {
    return util::Err("api_url \"" + api_url +
                     "\": scheme must be https:// (or http:// for loopback)");
  }
  if (!is_loopback(parts->host)) {
    return util::Err("api_url \"" + api_url +
                     "\": plain http:// is only allowed for loopback hosts (127.0.0.0/8, ::1, "
                     "localhost); use https://");
  }
  return {};
}

ErrorKind to_kind(http::TransportError::Kind kind) {
  switch (kind) {
    case http::TransportError::Kind::timeout:
      return ErrorKind::timeout;
    case http::TransportError::Kind::tls:
      return ErrorKind::tls;
    case http::TransportError::Kind::network:
      break;
  }
  return ErrorKind::network;
}

ApiError bad_response(std::string message) {
  ApiError e;
  e.kind = ErrorKind::bad_response;
  e.http_status = 200;
  e.message = std::move(message);
  return e;
}

std::string join_path(std::initializer_list<std::string_view> segments) {
  std::string out;
  for (auto s : segments) {
    out += '/';
    out += encode_path_segment(s);
  }
  return out;
}

}  // namespace

util::Result<void, std::string> Client::check_config(const ClientConfig& config) {
  if (auto url = check_url(config.api_url); !url.ok()) return url;
  if (config.account_id.empty()) return util::Err(std::string("no account id configured"));
  if (config.token.empty()) return util::Err(std::string("no API token configured"));
  for (char c : config.token) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F || c == ' ') {
      return util::Err(std::string("the API token contains white space or control characters"));
    }
  }
  return {};
}

struct Client::Impl {
  Impl(ClientConfig c, std::shared_ptr<http::Transport> t, std::shared_ptr<util::Clock> k)
      : config(std::move(c)),
        transport(std::move(t)),
        clock(std::move(k)),
        bucket(config.budget, clock),
        limiter(config.concurrency),
        rng(config.retry.jitter_seed != 0 ? config.retry.jitter_seed : std::random_device{}()) {
    base = config.api_url;
    while (!base.empty() && base.back() == '/') base.pop_back();
    if (auto url = check_url(config.api_url); !url.ok()) {
      url_error = url.error();
    } else if (auto parts = split_url(base)) {
      base_path = parts->path;
    }
    user_agent = std::string("aisearchd/") + util::k_version;
    if (!config.user_agent_suffix.empty()) user_agent += " (" + config.user_agent_suffix + ")";
  }

  ClientConfig config;
  std::shared_ptr<http::Transport> transport;
  std::shared_ptr<util::Clock> clock;
  TokenBucket bucket;
  ConcurrencyLimiter limiter;
  std::string base, base_path, user_agent;
  std::optional<std::string> url_error;

  mutable std::mutex mutex;  // guards the members below
  ClientCounters counters;
  RequestObserver observer;
  WriteGate write_gate;
  std::mt19937_64 rng;

  std::string account_path() const {
    return join_path({"accounts", config.account_id, "ai-search"});
  }
  std::string instances_path(const std::string& ns) const {
    return account_path() + join_path({"namespaces", ns, "instances"});
  }
  std::string instance_path(const std::string& ns, const std::string& id) const {
    return instances_path(ns) + join_path({id});
  }
  std::string jobs_path(const std::string& ns, const std::string& id) const {
    return instance_path(ns, id) + "/jobs";
  }
  std::string namespaces_path() const { return account_path() + "/namespaces"; }

  double jitter_unit() {
    std::lock_guard lock(mutex);
    return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
  }

  // The final form of an error leaving the client: the token can never be in it.
  ApiError finish(ApiError e) const {
    e.message = util::sanitize_text(e.message, config.token, k_max_message + 64);
    return e;
  }

  std::optional<std::string> write_refused() {
    WriteGate gate;
    {
      std::lock_guard lock(mutex);
      gate = write_gate;
    }
    if (!gate) return std::nullopt;
    try {
      return gate();
    } catch (...) {
      return std::string("write gate failed");
    }
  }

  // One attempt: budget token, concurrency slot, send, parse.
  util::Result<Envelope, ApiError> attempt_once(const http::HttpRequest& request,
                                                const std::string& path, ResultNeed need,
                                                int attempt) {
    bucket.take();
    const auto start = std::chrono::steady_clock::now();
    util::Result<http::HttpResponse, http::TransportError> sent = util::Err(http::TransportError{});
    {
      ConcurrencyLimiter::Slot slot(limiter);
      if (request.method != "GET") {
        if (auto refused = write_refused()) {
          ApiError e;
          e.kind = ErrorKind::client;
          e.message = "refused to write: " + *refused;
          return util::Err(finish(std::move(e)));
        }
      }
      try {
        sent = transport->send(request);
      } catch (const std::exception& e) {
        sent = util::Err(http::TransportError{http::TransportError::Kind::network,
                                              std::string("transport failed: ") + e.what()});
      } catch (...) {
        sent = util::Err(
            http::TransportError{http::TransportError::Kind::network, "transport failed"});
      }
    }
    const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    const int status = sent.ok() ? sent.value().status : 0;

    RequestObserver obs;
    {
      std::lock_guard lock(mutex);
      ++counters.requests;
      const int bucket_index = status / 100;
      ++counters.by_status[bucket_index >= 0 && bucket_index < 6 ? bucket_index : 0];
      obs = observer;
    }
    spdlog::debug("api request method={} path={} status={} elapsed_ms={} attempt={}",
                  request.method, path, status, elapsed.count(), attempt);
    if (obs) {
      try {
        obs(request.method, path, status, elapsed);
      } catch (...) {
        spdlog::warn("api request observer failed");
      }
    }

    if (!sent.ok()) {
      ApiError e;
      e.kind = to_kind(sent.error().kind);
      e.message = sent.error().message;
      return util::Err(finish(std::move(e)));
    }
    JsonLimits limits;
    limits.max_bytes = config.max_answer_bytes;
    auto parsed = parse_response(sent.value(), need, clock->now(), config.token, limits);
    if (!parsed.ok()) return util::Err(finish(parsed.error()));
    return parsed;
  }

  util::Result<Envelope, ApiError> call(const std::string& method, const std::string& path,
                                        const std::string& query, const json* body, ResultNeed need,
                                        bool once = false) {
    if (url_error) {
      ApiError e;
      e.kind = ErrorKind::client;
      e.message = "refused to send: " + *url_error;
      return util::Err(finish(std::move(e)));
    }
    http::HttpRequest request;
    request.method = method;
    request.url = base + path + (query.empty() ? "" : "?" + query);
    request.timeout = config.http_timeout;
    request.fresh_connection = once;  // never re-sent by the transport either
    request.headers.emplace_back("Authorization", "Bearer " + config.token);
    request.headers.emplace_back("Accept", "application/json");
    request.headers.emplace_back("User-Agent", user_agent);
    if (body) {
      request.headers.emplace_back("Content-Type", "application/json");
      request.body = body->dump(-1, ' ', false, json::error_handler_t::replace);
    }
    const std::string log_path = base_path + path;
    const int max_attempts = once ? 1 : std::max(1, config.retry.max_attempts);
    for (int attempt = 1;; ++attempt) {
      auto result = attempt_once(request, log_path, need, attempt);
      if (result.ok()) return result;
      RetryPolicy policy = config.retry;
      policy.max_attempts = max_attempts;
      const auto delay = retry_delay(policy, result.error(), attempt, jitter_unit());
      if (!delay) {
        if (result.error().retryable() && attempt > 1) {
          spdlog::warn("api giving up method={} path={} attempts={} error=\"{}\"", method, log_path,
                       attempt, result.error().describe());
        }
        return result;
      }
      spdlog::warn("api retry method={} path={} attempt={}/{} delay_ms={} error=\"{}\"", method,
                   log_path, attempt, max_attempts, delay->count(), result.error().describe());
      {
        std::lock_guard lock(mutex);
        ++counters.retries;
      }
      clock->sleep_for(*delay);
    }
  }

  // The typed result of a call, or a bad_response naming the field that did not parse.
  template <typename T, typename Parse>
  ApiResult<T> typed(util::Result<Envelope, ApiError> env, Parse parse) const {
    if (!env.ok()) return util::Err(env.error());
    auto parsed = parse(env.value().result);
    if (!parsed.ok()) return util::Err(finish(bad_response(parsed.error())));
    return std::move(parsed.value());
  }

  // An error for a list whose pages do not add up (ErrorKind::incomplete): acting on it would
  // take a missing item for a deleted one.
  ApiError incomplete(const std::string& path, const std::string& why) const {
    ApiError e = bad_response("list " + base_path + path + " is incomplete: " + why);
    e.kind = ErrorKind::incomplete;
    return finish(std::move(e));
  }

  // GETs every page of a list (or `max_pages` of them), parsing each item with `parse` and
  // keying it with `key`. A list is complete when its items add up to total_count with no page
  // before the last one short (under the page size the server says it uses, else `per_page`)
  // or empty, no key on two pages and the same total_count on every page (else the list changed
  // while it was read); a server that sends no total_count is read until an
  // empty page (as the official SDKs do). Anything else is ErrorKind::incomplete, never a
  // shorter list. Stops early at `max_items` or after `max_pages` (0 = no limit).
  template <typename T, typename Parse, typename Key>
  ApiResult<std::vector<T>> list_all(const std::string& path, int per_page, int max_pages,
                                     std::size_t max_items, Parse parse, Key key) {
    std::vector<T> out;
    std::set<std::string> seen;
    std::string previous_first;  // the first key of the previous page
    std::int64_t received = 0;
    std::optional<std::int64_t> first_total;  // page 1's total_count: every page must say it
    for (int page = 1;; ++page) {
      if (page > k_max_pages) {
        return util::Err(bad_response("list " + base_path + path + " did not end after " +
                                      std::to_string(k_max_pages) + " pages"));
      }
      const std::string query =
          "page=" + std::to_string(page) + "&per_page=" + std::to_string(per_page);
      auto env = call("GET", path, query, nullptr, ResultNeed::array);
      if (!env.ok()) return util::Err(env.error());
      auto info = parse_page_info(env.value().result_info);
      if (!info.ok()) return util::Err(finish(bad_response(info.error())));
      const std::optional<std::int64_t> total = info.value().total_count;
      if (total && (*total < 0 || *total > k_max_total_count)) {
        return util::Err(
            finish(bad_response("list " + base_path + path + ": total_count " +
                                std::to_string(*total) + " is beyond any account's size")));
      }
      const json& items = env.value().result;
      const std::int64_t count = static_cast<std::int64_t>(items.size());
      const std::string where = "page " + std::to_string(page);
      // The list changed while it was read (offset paging shifts items past a page boundary).
      if (page > 1 && total != first_total) {
        auto say = [](const std::optional<std::int64_t>& t) {
          return t ? std::to_string(*t) : std::string("none");
        };
        return util::Err(incomplete(path, "total_count changed from " + say(first_total) + " to " +
                                              say(total) + " on " + where +
                                              " (the list changed while it was read)"));
      }
      if (page == 1) first_total = total;
      if (count > per_page) {
        return util::Err(
            incomplete(path, where + " holds " + std::to_string(count) +
                                 " items, more than per_page=" + std::to_string(per_page)));
      }
      const std::optional<std::int64_t> server_size = info.value().per_page;
      const std::int64_t page_size =
          server_size && *server_size > 0 && *server_size <= per_page ? *server_size : per_page;
      if (count == 0) {
        if (total && received < *total) {
          return util::Err(incomplete(path, where + " is empty after " + std::to_string(received) +
                                                " of total_count " + std::to_string(*total)));
        }
        break;
      }
      std::vector<std::string> keys;
      keys.reserve(items.size());
      for (const auto& item : items) {
        auto parsed = parse(item);
        if (!parsed.ok()) {
          return util::Err(finish(bad_response("list " + where + ": " + parsed.error())));
        }
        keys.push_back(key(parsed.value()));
        if (!seen.insert(keys.back()).second) {
          // A server that ignores `page` sends the same page again and again.
          if (page > 1 && keys.size() == 1 && previous_first == keys.back()) {
            return util::Err(incomplete(path, where + " repeats the previous page"));
          }
          return util::Err(
              incomplete(path, "'" + keys.back() + "' appears twice (again on " + where + ")"));
        }
        if (out.size() < max_items) out.push_back(std::move(parsed.value()));
      }
      previous_first = keys.front();
      received += count;
      if (total) {
        if (received > *total) {
          return util::Err(incomplete(path, std::to_string(received) + " items by " + where +
                                                ", more than total_count " +
                                                std::to_string(*total)));
        }
        if (received == *total) break;
        if (count < page_size) {
          return util::Err(incomplete(
              path, where + " holds " + std::to_string(count) + " of " + std::to_string(page_size) +
                        " items before total_count " + std::to_string(*total) + " was reached (" +
                        std::to_string(received) + " so far)"));
        }
      }
      if (out.size() >= max_items) break;
      if (max_pages > 0 && page >= max_pages) break;
    }
    return out;
  }
};

Client::Client(ClientConfig config, std::shared_ptr<http::Transport> transport,
               std::shared_ptr<util::Clock> clock)
    : m_impl(std::make_unique<Impl>(std::move(config), std::move(transport), std::move(clock))) {}

Client::~Client() = default;

void Client::set_observer(RequestObserver observer) {
  std::lock_guard lock(m_impl->mutex);
  m_impl->observer = std::move(observer);
}

void Client::set_write_gate(WriteGate gate) {
  std::lock_guard lock(m_impl->mutex);
  m_impl->write_gate = std::move(gate);
}

ClientCounters Client::counters() const {
  std::lock_guard lock(m_impl->mutex);
  return m_impl->counters;
}

double Client::budget_tokens() const {
  return m_impl->bucket.available();
}

BudgetWait Client::budget_wait() const {
  return m_impl->bucket.wait_state();
}

namespace {

int clamp_per_page(int configured, int max) {
  return std::clamp(configured, 1, max);
}

}  // namespace

// ---- instances ----

ApiResult<std::vector<Instance>> Client::list_instances(const std::string& ns) {
  return m_impl->list_all<Instance>(
      m_impl->instances_path(ns), clamp_per_page(m_impl->config.per_page, 100), 0,
      std::numeric_limits<std::size_t>::max(), [&](const json& j) { return parse_instance(j, ns); },
      [](const Instance& i) { return i.id; });
}

ApiResult<Instance> Client::create_instance(const std::string& ns, const json& body) {
  auto env = m_impl->call("POST", m_impl->instances_path(ns), "", &body, ResultNeed::object);
  return m_impl->typed<Instance>(std::move(env),
                                 [&](const json& j) { return parse_instance(j, ns); });
}

ApiResult<Instance> Client::get_instance(const std::string& ns, const std::string& id) {
  auto env = m_impl->call("GET", m_impl->instance_path(ns, id), "", nullptr, ResultNeed::object);
  return m_impl->typed<Instance>(std::move(env),
                                 [&](const json& j) { return parse_instance(j, ns); });
}

ApiResult<Instance> Client::update_instance(const std::string& ns, const std::string& id,
                                            const json& body) {
  auto env = m_impl->call("PUT", m_impl->instance_path(ns, id), "", &body, ResultNeed::object);
  return m_impl->typed<Instance>(std::move(env),
                                 [&](const json& j) { return parse_instance(j, ns); });
}

ApiResult<Instance> Client::delete_instance(const std::string& ns, const std::string& id) {
  auto env = m_impl->call("DELETE", m_impl->instance_path(ns, id), "", nullptr, ResultNeed::any);
  if (!env.ok()) return util::Err(env.error());
  // The API returns the deleted instance; an answer without one still means it is gone.
  if (auto parsed = parse_instance(env.value().result, ns); parsed.ok()) return parsed.value();
  Instance gone;
  gone.id = id;
  gone.ns = ns;
  return gone;
}

ApiResult<void> Client::move_instance(const std::string& ns, const std::string& id,
                                      const std::string& new_ns) {
  const json body = {{"new_namespace", new_ns}};
  auto env = m_impl->call("PATCH", m_impl->instance_path(ns, id), "", &body, ResultNeed::any);
  if (!env.ok()) return util::Err(env.error());
  return {};
}

ApiResult<InstanceStats> Client::instance_stats(const std::string& ns, const std::string& id) {
  auto env = m_impl->call("GET", m_impl->instance_path(ns, id) + "/stats", "", nullptr,
                          ResultNeed::object);
  return m_impl->typed<InstanceStats>(std::move(env), [](const json& j) { return parse_stats(j); });
}

// ---- namespaces ----

ApiResult<std::vector<Namespace>> Client::list_namespaces() {
  return m_impl->list_all<Namespace>(
      m_impl->namespaces_path(), clamp_per_page(m_impl->config.per_page, 100), 0,
      std::numeric_limits<std::size_t>::max(), [](const json& j) { return parse_namespace(j); },
      [](const Namespace& n) { return n.name; });
}

ApiResult<Namespace> Client::create_namespace(const std::string& name,
                                              const std::optional<std::string>& description) {
  json body = {{"name", name}};
  if (description) body["description"] = *description;
  auto env = m_impl->call("POST", m_impl->namespaces_path(), "", &body, ResultNeed::object);
  return m_impl->typed<Namespace>(std::move(env), [](const json& j) { return parse_namespace(j); });
}

ApiResult<Namespace> Client::get_namespace(const std::string& name) {
  auto env = m_impl->call("GET", m_impl->namespaces_path() + join_path({name}), "", nullptr,
                          ResultNeed::object);
  return m_impl->typed<Namespace>(std::move(env), [](const json& j) { return parse_namespace(j); });
}

ApiResult<Namespace> Client::update_namespace(const std::string& name,
                                              const std::optional<std::string>& description) {
  json body = json::object();
  body["description"] = description ? json(*description) : json(nullptr);
  auto env = m_impl->call("PUT", m_impl->namespaces_path() + join_path({name}), "", &body,
                          ResultNeed::object);
  return m_impl->typed<Namespace>(std::move(env), [](const json& j) { return parse_namespace(j); });
}

ApiResult<void> Client::delete_namespace(const std::string& name) {
  auto env = m_impl->call("DELETE", m_impl->namespaces_path() + join_path({name}), "", nullptr,
                          ResultNeed::any);
  if (!env.ok()) return util::Err(env.error());
  return {};
}

// ---- jobs ----

ApiResult<Job> Client::create_job(const std::string& ns, const std::string& id,
                                  const std::optional<std::string>& description) {
  json body = json::object();
  if (description) body["description"] = *description;
  auto env = m_impl->call("POST", m_impl->jobs_path(ns, id), "", &body, ResultNeed::object,
                          /*once=*/true);
  return m_impl->typed<Job>(std::move(env), [](const json& j) { return parse_job(j); });
}

ApiResult<std::vector<Job>> Client::list_jobs(const std::string& ns, const std::string& id,
                                              int max_pages) {
  return m_impl->list_all<Job>(
      m_impl->jobs_path(ns, id), clamp_per_page(m_impl->config.per_page, k_max_jobs_per_page),
      std::max(1, max_pages), std::numeric_limits<std::size_t>::max(),
      [](const json& j) { return parse_job(j); }, [](const Job& j) { return j.id; });
}

ApiResult<Job> Client::get_job(const std::string& ns, const std::string& id,
                               const std::string& job_id) {
  auto env = m_impl->call("GET", m_impl->jobs_path(ns, id) + join_path({job_id}), "", nullptr,
                          ResultNeed::object);
  return m_impl->typed<Job>(std::move(env), [](const json& j) { return parse_job(j); });
}

ApiResult<Job> Client::cancel_job(const std::string& ns, const std::string& id,
                                  const std::string& job_id) {
  const json body = {{"action", "cancel"}};
  auto env = m_impl->call("PATCH", m_impl->jobs_path(ns, id) + join_path({job_id}), "", &body,
                          ResultNeed::object);
  return m_impl->typed<Job>(std::move(env), [](const json& j) { return parse_job(j); });
}

ApiResult<std::vector<JobLogEntry>> Client::job_logs(const std::string& ns, const std::string& id,
                                                     const std::string& job_id,
                                                     std::size_t max_entries) {
  if (max_entries == 0) return std::vector<JobLogEntry>{};
  const int per_page = static_cast<int>(
      std::min<std::size_t>(max_entries, static_cast<std::size_t>(k_max_logs_per_page)));
  auto entries = m_impl->list_all<JobLogEntry>(
      m_impl->jobs_path(ns, id) + join_path({job_id}) + "/logs", per_page, 0, max_entries,
      [](const json& j) { return parse_job_log_entry(j); },
      [](const JobLogEntry& e) { return std::to_string(e.id); });
  if (!entries.ok()) return entries;
  std::stable_sort(entries.value().begin(), entries.value().end(),
                   [](const JobLogEntry& a, const JobLogEntry& b) { return a.id < b.id; });
  return entries;
}

ApiResult<std::vector<JobLogEntry>> Client::job_logs_tail(const std::string& ns,
                                                          const std::string& id,
                                                          const std::string& job_id,
                                                          std::size_t n) {
  if (n == 0) return std::vector<JobLogEntry>{};
  const std::string path = m_impl->jobs_path(ns, id) + join_path({job_id}) + "/logs";
  const int per_page =
      static_cast<int>(std::min<std::size_t>(n, static_cast<std::size_t>(k_max_logs_per_page)));
  // One page: its entries, and total_count when the server says it.
  const auto page_of =
      [&](int page) -> ApiResult<std::pair<std::vector<JobLogEntry>, std::optional<std::int64_t>>> {
    auto env = m_impl->call(
        "GET", path, "page=" + std::to_string(page) + "&per_page=" + std::to_string(per_page),
        nullptr, ResultNeed::array);
    if (!env.ok()) return util::Err(env.error());
    std::vector<JobLogEntry> entries;
    for (const auto& item : env.value().result) {
      auto parsed = parse_job_log_entry(item);
      if (!parsed.ok()) return util::Err(m_impl->finish(bad_response(parsed.error())));
      // A log line is the server's free text: it goes to logs, state and status, so the token
      // (and any Bearer credential) never goes with it, and it is bounded.
      parsed.value().message =
          util::sanitize_text(parsed.value().message, m_impl->config.token, k_max_log_line);
      entries.push_back(std::move(parsed.value()));
    }
    std::optional<std::int64_t> total;
    if (auto info = parse_page_info(env.value().result_info); info.ok())
      total = info.value().total_count;
    return std::make_pair(std::move(entries), total);
  };
  auto first = page_of(1);
  if (!first.ok()) return util::Err(first.error());
  std::vector<JobLogEntry> out = std::move(first.value().first);
  const auto total = first.value().second;
  if (total && *total > per_page) {
    const std::int64_t last = (*total + per_page - 1) / per_page;
    if (last > 2) out.clear();  // page 1 is not among the last two
    for (std::int64_t page = std::max<std::int64_t>(2, last - 1); page <= last; ++page) {
      auto more = page_of(static_cast<int>(page));
      if (!more.ok()) return util::Err(more.error());
      out.insert(out.end(), more.value().first.begin(), more.value().first.end());
    }
  } else if (!total && out.size() == static_cast<std::size_t>(per_page)) {
    // No total_count: read on until a short or empty page, keeping the latest entries.
    for (int page = 2; page <= 10000; ++page) {
      auto more = page_of(page);
      if (!more.ok()) return util::Err(more.error());
      out.insert(out.end(), more.value().first.begin(), more.value().first.end());
      if (out.size() > n) out.erase(out.begin(), out.end() - static_cast<std::ptrdiff_t>(n));
      if (more.value().first.size() < static_cast<std::size_t>(per_page)) break;
    }
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const JobLogEntry& a, const JobLogEntry& b) { return a.id < b.id; });
  if (out.size() > n) out.erase(out.begin(), out.end() - static_cast<std::ptrdiff_t>(n));
  return out;
}

}  // namespace api
