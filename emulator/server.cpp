#include "server.hpp"

#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>

#include "store.hpp"
#include "util/files.hpp"
#include "util/strings.hpp"
#include "util/time_format.hpp"

namespace emulator {

using nlohmann::json;

namespace {

constexpr std::size_t k_request_log_cap = 200000;
constexpr int k_worker_threads = 64;

std::string first_query_string(const std::string& target) {
  auto q = target.find('?');
  return q == std::string::npos ? std::string() : target.substr(q + 1);
}

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  // With the charset parameter cpp-httplib does not brotli-compress the answer at its slowest
  // setting (~170 ms per 100-instance page), which made the emulator, not aisearchd, the
  // bottleneck of every bench.
  res.set_content(body.dump(), "application/json; charset=utf-8");
}

// Finds the socket of the connection `req` arrived on (the one whose local and peer ports
// match) and shuts it down with a zero linger, so the client sees the connection die without
// an answer. httplib does not hand the socket to handlers, hence the search.
bool reset_connection(const httplib::Request& req) {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return false;
  bool done = false;
  while (dirent* entry = ::readdir(dir)) {
    char* end = nullptr;
    long fd = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || fd == ::dirfd(dir)) continue;
    sockaddr_storage local{}, peer{};
    socklen_t local_len = sizeof local, peer_len = sizeof peer;
    if (::getsockname(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&local), &local_len) != 0 ||
        ::getpeername(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0) {
      continue;
    }
    auto port_of = [](const sockaddr_storage& a) -> int {
      if (a.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(a).sin_port);
      if (a.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(a).sin6_port);
      return -1;
    };
    if (port_of(local) != req.local_port || port_of(peer) != req.remote_port) continue;
    linger l{1, 0};
    ::setsockopt(static_cast<int>(fd), SOL_SOCKET, SO_LINGER, &l, sizeof l);
    ::shutdown(static_cast<int>(fd), SHUT_RDWR);
    done = true;
    break;
  }
  ::closedir(dir);
  return done;
}

}  // namespace

struct Server::Impl {
  Impl(Config c, std::optional<std::filesystem::path> file)
      : config(c),
        startup_config(c),
        state_file(std::move(file)),
        started(std::chrono::steady_clock::now()),
        clock_manual(c.manual_clock),
        frozen_at(std::chrono::system_clock::now()),
        store(c.seed, frozen_at),
        fault_rng(c.seed) {}

  // ---- shared state -------------------------------------------------------------------
  std::mutex config_mutex;
  Config config;
  Config startup_config;
  std::optional<std::filesystem::path> state_file;
  std::chrono::steady_clock::time_point started;
  // The emulator's time (see Config::manual_clock): the wall clock or `frozen_at`, plus the
  // control API's offset.
  mutable std::mutex clock_mutex;
  bool clock_manual = false;
  TimePoint frozen_at{};
  long long clock_offset_ms = 0;
  Store store;

  std::mutex fault_mutex;
  std::mt19937_64 fault_rng;

  std::mutex rate_mutex;
  long long window_start_ms = 0;  // on rate_clock_ms(window_manual)
  bool window_manual = false;
  int window_count = 0;

  // The request log, in arrival order: an entry (and its `seq`) is taken when a request arrives
  // and completed before its client can see any answer, so a request sent after another one's
  // answer (or reset) always comes later in the log. `key` is never reset, `seq` is.
  struct LogEntry {
    std::uint64_t key;
    json entry;
  };
  std::mutex log_mutex;
  std::deque<LogEntry> request_log;
  long long next_request_seq = 1;
  std::uint64_t next_log_key = 1;

  std::mutex stop_mutex;
  std::condition_variable stop_cv;
  bool stopping = false;

  httplib::Server http;

  // ---- helpers ------------------------------------------------------------------------
  Config config_snapshot() {
    std::lock_guard lock(config_mutex);
    return config;
  }

  TimePoint now() const {
    std::lock_guard lock(clock_mutex);
    const TimePoint base = clock_manual ? frozen_at : std::chrono::system_clock::now();
    return base + std::chrono::milliseconds(clock_offset_ms);
  }

  long long clock_offset() const {
    std::lock_guard lock(clock_mutex);
    return clock_offset_ms;
  }

  // Follows `manual` (Config::manual_clock): switching to the manual clock freezes it where the
  // wall clock stands now.
  void set_clock_mode(bool manual) {
    std::lock_guard lock(clock_mutex);
    if (manual && !clock_manual) frozen_at = std::chrono::system_clock::now();
    clock_manual = manual;
  }

  void reset_clock(bool manual) {
    std::lock_guard lock(clock_mutex);
    clock_offset_ms = 0;
    frozen_at = std::chrono::system_clock::now();
    clock_manual = manual;
  }

  TimePoint advance_clock(long long ms) {
    {
      std::lock_guard lock(clock_mutex);
      clock_offset_ms += ms;
    }
    return now();
  }

  // Sleeps `d` unless the server stops first. False when interrupted.
  bool hold(std::chrono::milliseconds d) {
    std::unique_lock lock(stop_mutex);
    return !stop_cv.wait_for(lock, d, [this] { return stopping; });
  }

  // The rate window's time in ms: the emulator's clock when it is manual (so a test moves the
  // window as it moves jobs), else the monotonic clock.
  long long rate_clock_ms(bool manual) const {
    if (manual) {
      return std::chrono::duration_cast<std::chrono::milliseconds>(now().time_since_epoch())
          .count();
    }
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  // Fixed-window global limit. Returns 0 when allowed, else the Retry-After seconds.
  long long rate_check(const RateLimit& limit, bool manual) {
    if (limit.requests <= 0) return 0;
    std::lock_guard lock(rate_mutex);
    const long long t = rate_clock_ms(manual);
    if (window_count == 0 || window_manual != manual ||
        t - window_start_ms >= limit.window.count()) {
      window_start_ms = t;
      window_manual = manual;
      window_count = 0;
    }
    if (window_count < limit.requests) {
      ++window_count;
      return 0;
    }
    const long long left = window_start_ms + limit.window.count() - t;
    return std::max<long long>(1, (left + 999) / 1000);
  }

  // A fault for this request, or none. Only requests that match the targeting (fault_path,
  // fault_methods) draw, so the sequence of faults among them stays deterministic.
  std::optional<FaultKind> draw_fault(const Config& c, const httplib::Request& req) {
    if (c.fault_rate <= 0.0 || c.faults.empty()) return std::nullopt;
    if (!c.fault_path.empty() && req.path.find(c.fault_path) == std::string::npos) {
      return std::nullopt;
    }
    if (!c.fault_methods.empty() && std::find(c.fault_methods.begin(), c.fault_methods.end(),
                                              req.method) == c.fault_methods.end()) {
      return std::nullopt;
    }
    std::lock_guard lock(fault_mutex);
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    if (unit(fault_rng) >= c.fault_rate) return std::nullopt;
    std::uniform_int_distribution<std::size_t> pick(0, c.faults.size() - 1);
    return c.faults[pick(fault_rng)];
  }

  // Takes the request's place in the log as it arrives; `status` and `duration_ms` stay null
  // until log_outcome. Returns the entry's key.
  std::uint64_t log_arrival(const httplib::Request& req, long long arrival_ms) {
    json entry = {
        {"method", req.method}, {"path", req.path},      {"query", first_query_string(req.target)},
        {"status", nullptr},    {"time_ms", arrival_ms}, {"duration_ms", nullptr}};
    if (req.has_header("User-Agent")) entry["user_agent"] = req.get_header_value("User-Agent");
    std::lock_guard lock(log_mutex);
    entry["seq"] = next_request_seq++;
    const std::uint64_t key = next_log_key++;
    request_log.push_back({key, std::move(entry)});
    while (request_log.size() > k_request_log_cap) request_log.pop_front();
    return key;
  }

  // Completes the entry `key` (gone when the log was cleared meanwhile: nothing to do). Called
  // before the client can see the answer (httplib writes it after the handler returns; a reset
  // is logged before the connection is cut).
  void log_outcome(std::uint64_t key, int status, long long duration_ms,
                   const std::optional<FaultKind>& fault) {
    std::lock_guard lock(log_mutex);
    auto it = std::lower_bound(request_log.begin(), request_log.end(), key,
                               [](const LogEntry& e, std::uint64_t k) { return e.key < k; });
    if (it == request_log.end() || it->key != key) return;
    it->entry["status"] = status;
    it->entry["duration_ms"] = duration_ms;
    if (fault) it->entry["fault"] = to_string(*fault);
  }

  void write_reply(httplib::Response& res, const Reply& reply) {
    for (const auto& [k, v] : reply.headers) res.set_header(k, v);
    send_json(res, reply.status, reply.body);
  }

  // ---- the API ------------------------------------------------------------------------
  void serve_api(const httplib::Request& req, httplib::Response& res) {
    const auto arrival = std::chrono::steady_clock::now();
    const long long arrival_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(arrival - started).count();
    auto elapsed = [&] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::steady_clock::now() - arrival)
          .count();
    };
    const std::uint64_t log_key = log_arrival(req, arrival_ms);
    const Config c = config_snapshot();
    if (c.latency.count() > 0) hold(c.latency);

    if (long long retry = rate_check(c.rate_limit, c.manual_clock); retry > 0) {
      Reply r = error_reply(429, 971, "Please wait and consider throttling your request speed");
      r.headers.emplace_back("Retry-After", std::to_string(retry));
      write_reply(res, r);
      log_outcome(log_key, r.status, elapsed(), std::nullopt);
      return;
    }

    const auto fault = draw_fault(c, req);
    if (fault == FaultKind::Http500) {
      write_reply(res, error_reply(500, 10001, "Internal server error"));
      log_outcome(log_key, 500, elapsed(), fault);
      return;
    }
    if (fault == FaultKind::Http503) {
      write_reply(res, error_reply(503, 7017, "Unable to connect to ai search"));
      log_outcome(log_key, 503, elapsed(), fault);
      return;
    }
    if (fault == FaultKind::Http429) {
      Reply r = error_reply(429, 971, "Please wait and consider throttling your request speed");
      r.headers.emplace_back("Retry-After", "1");
      write_reply(res, r);
      log_outcome(log_key, 429, elapsed(), fault);
      return;
    }
    if (fault == FaultKind::Reset) {
      log_outcome(log_key, 0, elapsed(), fault);
      reset_connection(req);
      return;
    }

    Reply reply;
    const std::string auth = req.get_header_value("Authorization");
    if (auth != "Bearer " + c.token) {
      reply = error_reply(401, 10000, "Authentication error");
    } else {
      ApiRequest api{req.method, req.path, {}, req.body};
      for (const auto& [k, v] : req.params) api.query.emplace(k, v);
      reply = store.handle(api, c, now());
    }

    if (fault == FaultKind::Timeout) {
      // The write (if any) is applied; the answer comes far too late or never.
      hold(c.timeout_hold);
      write_reply(res, error_reply(504, 10002, "Gateway timeout"));
      log_outcome(log_key, 504, elapsed(), fault);
      return;
    }
    if (fault == FaultKind::Lost) {
      // The write (if any) is applied; the connection dies before the answer leaves.
      log_outcome(log_key, 0, elapsed(), fault);
      reset_connection(req);
      return;
    }
    if (fault == FaultKind::Short && reply.status / 100 == 2 && reply.body.is_object() &&
        reply.body.contains("result_info") && reply.body["result"].is_array() &&
        !reply.body["result"].empty()) {
      // One item of the page goes missing; `count` says what was sent, `total_count` is as if
      // nothing were missing (an item lost between the count and the listing).
      json& items = reply.body["result"];
      items.erase(items.begin() + static_cast<std::ptrdiff_t>(items.size() / 2));
      reply.body["result_info"]["count"] = items.size();
      write_reply(res, reply);
      log_outcome(log_key, reply.status, elapsed(), fault);
      return;
    }
    if (fault == FaultKind::Truncate) {
      std::string text = reply.body.dump();
      text.resize(text.size() / 2);
      for (const auto& [k, v] : reply.headers) res.set_header(k, v);
      res.status = reply.status;
      res.set_content(text, "application/json");
      log_outcome(log_key, reply.status, elapsed(), fault);
      return;
    }
    write_reply(res, reply);
    log_outcome(log_key, reply.status, elapsed(), std::nullopt);
  }

  // ---- the control API ----------------------------------------------------------------
  void serve_control(const httplib::Request& req, httplib::Response& res) {
    const std::string path = req.path.substr(std::string("/__emulator/").size());
    const std::string& m = req.method;
    json body = nullptr;
    if (!util::trim(req.body).empty()) {
      try {
        body = json::parse(req.body);
      } catch (const json::exception&) {
        send_json(res, 400, {{"error", "request body is not valid JSON"}});
        return;
      }
    }
    auto bad = [&](const std::string& message) { send_json(res, 400, {{"error", message}}); };

    if (path == "health" && m == "GET") {
      send_json(res, 200, {{"ok", true}});
    } else if (path == "config" && m == "GET") {
      send_json(res, 200, config_to_json(config_snapshot()));
    } else if (path == "config" && (m == "PUT" || m == "PATCH")) {
      std::lock_guard lock(config_mutex);
      auto seed_before = config.seed;
      auto applied = apply_config_patch(config, body.is_null() ? json::object() : body);
      if (!applied) return bad(applied.error());
      if (config.seed != seed_before) {
        std::lock_guard flock(fault_mutex);
        fault_rng.seed(config.seed);
      }
      set_clock_mode(config.manual_clock);
      send_json(res, 200, config_to_json(config));
    } else if (path == "reset" && m == "POST") {
      std::lock_guard lock(config_mutex);
      if (body.is_object() && body.value("restore_config", false)) config = startup_config;
      if (body.is_object() && body.contains("config")) {
        auto applied = apply_config_patch(config, body["config"]);
        if (!applied) return bad(applied.error());
      }
      reset_clock(config.manual_clock);
      store.reset(config.seed, now());
      {
        std::lock_guard flock(fault_mutex);
        fault_rng.seed(config.seed);
      }
      {
        std::lock_guard rlock(rate_mutex);
        window_count = 0;
      }
      {
        std::lock_guard llock(log_mutex);
        request_log.clear();
        next_request_seq = 1;
      }
      send_json(res, 200, {{"reset", true}, {"config", config_to_json(config)}});
    } else if (path == "state" && m == "GET") {
      json state = store.dump(config_snapshot(), now());
      state["now"] = util::format_rfc3339(now());
      state["clock_offset_ms"] = clock_offset();
      state["clock"] = config_snapshot().manual_clock ? "manual" : "wall";
      send_json(res, 200, state);
    } else if (path == "requests" && m == "GET") {
      json entries = json::array();
      {
        std::lock_guard lock(log_mutex);
        for (const auto& e : request_log) entries.push_back(e.entry);
      }
      send_json(res, 200, entries);
    } else if (path == "requests" && m == "DELETE") {
      std::lock_guard lock(log_mutex);
      std::size_t n = request_log.size();
      request_log.clear();
      send_json(res, 200, {{"cleared", n}});
    } else if (path == "seed" && m == "POST") {
      auto done = store.seed(body.is_null() ? json::object() : body, config_snapshot(), now());
      if (!done) return bad(done.error());
      send_json(res, 200, *done);
    } else if (path == "clock/advance" && m == "POST") {
      if (!body.is_object() || !body.contains("ms") || !body["ms"].is_number_integer() ||
          body["ms"].get<long long>() < 0) {
        return bad("expected {\"ms\": <non-negative integer>}");
      }
      const TimePoint t = advance_clock(body["ms"].get<long long>());
      send_json(res, 200, {{"offset_ms", clock_offset()}, {"now", util::format_rfc3339(t)}});
    } else if (util::starts_with(path, "instances/") && m == "POST") {
      auto parts = util::split(path, '/');  // instances/{ns}/{id}/schedule-job
      if (parts.size() != 4 || parts[3] != "schedule-job") {
        send_json(res, 404, {{"error", "no such control endpoint"}});
        return;
      }
      std::string description;
      if (body.is_object() && body.contains("description") && body["description"].is_string()) {
        description = body["description"].get<std::string>();
      }
      auto job =
          store.start_schedule_job(parts[1], parts[2], description, config_snapshot(), now());
      if (!job) {
        send_json(res, 404, {{"error", job.error()}});
        return;
      }
      send_json(res, 200, *job);
    } else {
      send_json(res, 404, {{"error", "no such control endpoint: " + m + " " + path}});
    }
  }

  void dispatch(const httplib::Request& req, httplib::Response& res) {
    try {
      if (util::starts_with(req.path, "/__emulator/")) {
        serve_control(req, res);
      } else {
        serve_api(req, res);
      }
    } catch (const std::exception& e) {
      send_json(res, 500,
                {{"success", false},
                 {"errors", {{{"code", 10001}, {"message", e.what()}}}},
                 {"messages", json::array()},
                 {"result", nullptr}});
    }
  }
};

Server::Server(Config config, std::optional<std::filesystem::path> state_file)
    : m_impl(std::make_unique<Impl>(std::move(config), std::move(state_file))) {
  auto& http = m_impl->http;
  http.new_task_queue = [] { return new httplib::ThreadPool(k_worker_threads); };
  http.set_tcp_nodelay(true);
  http.set_keep_alive_timeout(2);
  http.set_keep_alive_max_count(1000);
  http.set_read_timeout(30, 0);
  http.set_write_timeout(30, 0);
  http.set_payload_max_length(16 * 1024 * 1024);
  auto handler = [impl = m_impl.get()](const httplib::Request& req, httplib::Response& res) {
    impl->dispatch(req, res);
  };
  http.Get(".*", handler);
  http.Post(".*", handler);
  http.Put(".*", handler);
  http.Patch(".*", handler);
  http.Delete(".*", handler);
}

Server::~Server() = default;

util::Result<void, std::string> Server::load_state() {
  if (!m_impl->state_file || !std::filesystem::exists(*m_impl->state_file)) return {};
  auto text = util::read_file(*m_impl->state_file);
  if (!text) return util::Err(text.error());
  json state;
  try {
    state = json::parse(*text);
  } catch (const json::exception& e) {
    return util::Err(m_impl->state_file->string() + ": not JSON: " + e.what());
  }
  auto loaded = m_impl->store.load(state);
  if (!loaded) return util::Err(m_impl->state_file->string() + ": " + loaded.error());
  return {};
}

util::Result<void, std::string> Server::save_state() {
  if (!m_impl->state_file) return {};
  json state = m_impl->store.dump(m_impl->config_snapshot(), m_impl->now());
  return util::write_file_atomic(*m_impl->state_file, state.dump(1) + "\n", 0644);
}

util::Result<int, std::string> Server::bind(const std::string& host, int port) {
  int bound = -1;
  if (port == 0) {
    bound = m_impl->http.bind_to_any_port(host);
  } else if (m_impl->http.bind_to_port(host, port)) {
    bound = port;
  }
  if (bound <= 0) {
    return util::Err("cannot listen on " + host + ":" + std::to_string(port));
  }
  return bound;
}

void Server::run() {
  m_impl->http.listen_after_bind();
}

void Server::stop() {
  {
    std::lock_guard lock(m_impl->stop_mutex);
    m_impl->stopping = true;
  }
  m_impl->stop_cv.notify_all();
  m_impl->http.stop();
}

}  // namespace emulator
