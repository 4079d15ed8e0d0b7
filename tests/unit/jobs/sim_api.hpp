#pragma once

// A stateful simulation of the AI Search jobs API as an http::Transport, driven by a util::Clock
// (a FakeClock in tests and the request-count bench): jobs start on POST, run for
// `job_duration` and end per the instance's mode; the ~30 s cooldown after a job ends answers
// 429 code 7020; a running job is superseded by a new one. Every request is counted by kind.
// Thread-safe. Header-only so the bench can use it too.

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "http/transport.hpp"
#include "util/clock.hpp"
#include "util/strings.hpp"
#include "util/time_format.hpp"

namespace jobs_test {

using nlohmann::json;
using std::chrono::milliseconds;

inline constexpr const char* k_sim_url = "https://api.test/client/v4";

class SimApi : public http::Transport {
 public:
  // How an instance's jobs end: ok ("completed"), fail ("error", 25 log lines, stats errors),
  // stall (never ends, last_seen_at stops), reason (end with `custom_reason`, stats per
  // `custom_errors`).
  enum class Mode { ok, fail, stall, reason };

  explicit SimApi(util::Clock& clock) : m_clock(clock) {}

  milliseconds job_duration{300000};
  milliseconds cooldown{30000};
  // Each job lasts job_duration plus a deterministic offset in [-duration_spread,
  // +duration_spread].
  milliseconds duration_spread{0};
  // Called (without the lock) with each request's kind before it is answered; may block.
  std::function<void(const std::string& kind)> before;
  // Log lines of a failed job ("error" end): that many "failed to fetch page-N" error lines,
  // then "Job failed: N errors".
  int fail_log_lines = 24;
  // What a cancel leaves in end_reason; std::nullopt: null (as some servers answer).
  std::optional<std::string> cancel_end_reason = std::string("cancelled");
  // The next `n` job creates are applied, then their answer is lost (a transport timeout).
  void lose_create_answers(int n) {
    std::lock_guard lock(m_mutex);
    m_lose_creates = n;
  }
  // The next `n` job creates fail with HTTP `status` and are NOT applied.
  void fail_creates(int n, int status = 503) {
    std::lock_guard lock(m_mutex);
    m_fail_creates = n;
    m_fail_status = status;
  }
  // The next `n` job polls (GET of one job) answer HTTP 500.
  void fail_polls(int n) {
    std::lock_guard lock(m_mutex);
    m_fail_polls = n;
  }
  // Stats report `n` errors instance-wide, whatever the jobs did (one bad file in the source).
  void set_instance_errors(const std::string& address, int n) {
    std::lock_guard lock(m_mutex);
    m_instances[address].instance_errors = n;
  }
  // Job descriptions as sent, oldest first.
  std::vector<std::string> descriptions(const std::string& address) {
    std::lock_guard lock(m_mutex);
    std::vector<std::string> out;
    for (const auto& j : m_instances[address].jobs) out.push_back(j.description);
    return out;
  }

  void set_mode(const std::string& address, Mode mode, std::optional<std::string> reason = {},
                bool errors = false) {
    std::lock_guard lock(m_mutex);
    m_instances[address].mode = mode;
    m_instances[address].custom_reason = std::move(reason);
    m_instances[address].custom_errors = errors;
  }
  // Instances answer 404 on every call.
  void remove(const std::string& address) {
    std::lock_guard lock(m_mutex);
    m_missing[address] = true;
  }
  // Starts a job with source "schedule" now (Cloudflare's scheduler); returns its id.
  std::string start_schedule_job(const std::string& address) {
    std::lock_guard lock(m_mutex);
    auto& inst = m_instances[address];
    refresh(inst);
    return start(inst, "schedule").id;
  }
  // A schedule job will start at `at` (applied lazily on the next request).
  void schedule_job_at(const std::string& address, util::Clock::SystemTime at) {
    std::lock_guard lock(m_mutex);
    m_instances[address].planned.push_back(at);
  }

  std::size_t count(const std::string& kind) const {
    std::lock_guard lock(m_mutex);
    auto it = m_counts.find(kind);
    return it == m_counts.end() ? 0 : it->second;
  }
  std::size_t total() const {
    std::lock_guard lock(m_mutex);
    std::size_t n = 0;
    for (const auto& [k, v] : m_counts) n += v;
    return n;
  }
  void reset_counts() {
    std::lock_guard lock(m_mutex);
    m_counts.clear();
  }
  std::vector<std::string> cancel_bodies() const {
    std::lock_guard lock(m_mutex);
    return m_cancel_bodies;
  }
  // Jobs of an instance, oldest first, as the API would render them.
  std::vector<json> jobs(const std::string& address) {
    std::lock_guard lock(m_mutex);
    auto& inst = m_instances[address];
    refresh(inst);
    std::vector<json> out;
    for (const auto& j : inst.jobs) out.push_back(render(j));
    return out;
  }

  util::Result<http::HttpResponse, http::TransportError> send(
      const http::HttpRequest& request) override {
    if (before) {
      const auto q = request.url.find('?');
      const auto p = util::split(
          request.url.substr(
              std::string(k_sim_url).size() + 1,
              q == std::string::npos ? std::string::npos : q - std::string(k_sim_url).size() - 1),
          '/');
      before(classify(request.method, p));
    }
    std::lock_guard lock(m_mutex);
    std::string path = request.url.substr(std::string(k_sim_url).size());
    std::string query;
    if (auto q = path.find('?'); q != std::string::npos) {
      query = path.substr(q + 1);
      path = path.substr(0, q);
    }
    // accounts/{a}/ai-search/namespaces/{ns}/instances/{id}/...
    if (!path.empty() && path[0] == '/') path.erase(0, 1);
    const auto parts = util::split(path, '/');
    if (parts.size() < 7 || parts[5] != "instances") return error(404, 7003, "No route");
    const std::string address = parts[4] + "/" + parts[6];
    const std::string kind = classify(request.method, parts);
    ++m_counts[kind];
    if (m_missing.count(address) != 0) return error(404, 7002, "Ai search not found.");
    auto& inst = m_instances[address];
    refresh(inst);
    const int page = query_int(query, "page", 1);
    if (kind == "list_jobs") {
      std::vector<json> items;
      for (auto it = inst.jobs.rbegin(); it != inst.jobs.rend(); ++it) items.push_back(render(*it));
      return list(items, page, query_int(query, "per_page", 20));
    }
    if (kind == "create_job") {
      const auto now = m_clock.now();
      std::optional<util::Clock::SystemTime> last_end;
      for (const auto& j : inst.jobs) {
        if (j.ended && (!last_end || *j.ended > *last_end)) last_end = j.ended;
      }
      if (last_end && now < *last_end + cooldown) {
        const auto left = std::chrono::duration_cast<milliseconds>(*last_end + cooldown - now);
        auto r = error(429, 7020, "Sync in cooldown");
        r.value().headers.emplace_back("retry-after", std::to_string((left.count() + 999) / 1000));
        return r;
      }
      if (m_fail_creates > 0) {
        --m_fail_creates;
        return error(m_fail_status, 7017, "Unable to connect to ai search");
      }
      auto& job = start(inst, "user");
      if (!request.body.empty()) {
        auto body = json::parse(request.body, nullptr, false);
        if (body.is_object() && body.contains("description") && body["description"].is_string())
          job.description = body["description"].get<std::string>();
      }
      if (m_lose_creates > 0) {
        --m_lose_creates;
        return util::Err(
            http::TransportError{http::TransportError::Kind::timeout, "answer lost (simulated)"});
      }
      return ok(render(job));
    }
    if (kind == "stats") {
      bool failed = false;
      for (const auto& j : inst.jobs) {
        if (j.ended && j.end_reason != "new_job_has_started" && j.end_reason != "cancelled") {
          failed = j.errors;
        }
      }
      json r = {{"queued", 0},
                {"running", 0},
                {"completed", 12},
                {"skipped", 0},
                {"outdated", 0},
                {"error", failed ? 3 : inst.instance_errors},
                {"degraded", false},
                {"file_embed_errors", json::object()},
                {"index_source_errors", failed ? json{{"failed to fetch", 3}} : json::object()}};
      return ok(r);
    }
    Job* job = nullptr;
    for (auto& j : inst.jobs) {
      if (parts.size() > 8 && j.id == parts[8]) job = &j;
    }
    if (!job) return error(404, 7045, "Job not found.");
    if (kind == "get_job" && m_fail_polls > 0) {
      --m_fail_polls;
      return error(500, 7000, "Internal error (simulated)");
    }
    if (kind == "get_job") return ok(render(*job));
    if (kind == "cancel_job") {
      m_cancel_bodies.push_back(request.body);
      if (!job->ended) end(inst, *job, m_clock.now(), cancel_end_reason.value_or("\x01null"));
      return ok(render(*job));
    }
    if (kind == "job_logs") {
      std::vector<json> items;
      for (std::size_t i = 0; i < job->logs.size(); ++i) {
        const bool is_error = util::starts_with(job->logs[i], "failed to fetch") ||
                              util::starts_with(job->logs[i], "Job failed");
        items.push_back({{"id", i + 1},
                         {"created_at", 0},
                         {"message", job->logs[i]},
                         {"message_type", is_error ? 3 : 1}});
      }
      return list(items, page, query_int(query, "per_page", 20));
    }
    return error(404, 7003, "No route");
  }

 private:
  struct Job {
    std::string id, source;
    util::Clock::SystemTime started;
    std::optional<util::Clock::SystemTime> ended;
    util::Clock::SystemTime last_seen;
    std::string end_reason;
    milliseconds duration{0};
    Mode mode = Mode::ok;
    bool errors = false;
    std::vector<std::string> logs;
    std::string description;
  };
  struct Instance {
    Mode mode = Mode::ok;
    std::optional<std::string> custom_reason;
    bool custom_errors = false;
    std::vector<Job> jobs;
    std::vector<util::Clock::SystemTime> planned;
    int instance_errors = 0;
  };

  static std::string classify(const std::string& method, const std::vector<std::string>& parts) {
    if (parts.size() == 8 && parts[7] == "stats") return "stats";
    if (parts.size() == 8 && parts[7] == "jobs")
      return method == "POST" ? "create_job" : "list_jobs";
    if (parts.size() == 9) return method == "PATCH" ? "cancel_job" : "get_job";
    if (parts.size() == 10 && parts[9] == "logs") return "job_logs";
    return "other";
  }

  static int query_int(const std::string& query, const std::string& name, int fallback) {
    for (const auto& kv : util::split(query, '&')) {
      if (util::starts_with(kv, name + "=")) return std::stoi(kv.substr(name.size() + 1));
    }
    return fallback;
  }

  milliseconds duration_for(int n) const {
    if (duration_spread.count() == 0) return job_duration;
    const long long step = (static_cast<long long>(n) * 7919) % 201 - 100;  // -100..100
    return job_duration + duration_spread * step / 100;
  }

  void end(Instance& inst, Job& job, util::Clock::SystemTime at, const std::string& reason) {
    (void)inst;
    job.ended = at;
    job.last_seen = at;
    job.end_reason = reason;
    if (reason == "error") {
      job.errors = true;
      for (int i = 1; i <= fail_log_lines; ++i)
        job.logs.push_back("failed to fetch page-" + std::to_string(i));
      job.logs.push_back("Job failed: " + std::to_string(fail_log_lines) + " errors");
    } else {
      job.logs.push_back("Job ended: " + reason);
    }
  }

  Job& start(Instance& inst, const std::string& source) {
    const auto now = m_clock.now();
    for (auto& j : inst.jobs) {
      if (!j.ended) end(inst, j, now, "new_job_has_started");
    }
    Job job;
    job.id = "job" + std::to_string(++m_next_id);
    job.duration = duration_for(m_next_id);
    job.source = source;
    job.started = now;
    job.last_seen = now;
    job.mode = inst.mode;
    job.logs.push_back("Job started (source: " + source + ")");
    inst.jobs.push_back(std::move(job));
    return inst.jobs.back();
  }

  void refresh(Instance& inst) {
    const auto now = m_clock.now();
    std::sort(inst.planned.begin(), inst.planned.end());
    while (!inst.planned.empty() && inst.planned.front() <= now) {
      const auto at = inst.planned.front();
      inst.planned.erase(inst.planned.begin());
      settle(inst, at);
      for (auto& j : inst.jobs) {
        if (!j.ended) end(inst, j, at, "new_job_has_started");
      }
      Job job;
      job.id = "job" + std::to_string(++m_next_id);
      job.duration = duration_for(m_next_id);
      job.source = "schedule";
      job.started = at;
      job.last_seen = at;
      job.mode = inst.mode;
      inst.jobs.push_back(std::move(job));
    }
    settle(inst, now);
    (void)inst.custom_errors;
  }

  void settle(Instance& inst, util::Clock::SystemTime now) {
    for (auto& j : inst.jobs) {
      if (j.ended) continue;
      if (j.mode == Mode::stall) {
        j.last_seen = std::min(now, j.started + j.duration / 2);
        continue;
      }
      const auto finish = j.started + j.duration;
      if (now < finish) {
        j.last_seen = now;
        continue;
      }
      if (j.mode == Mode::ok) {
        end(inst, j, finish, "completed");
      } else if (j.mode == Mode::fail) {
        end(inst, j, finish, "error");
      } else {
        end(inst, j, finish, inst.custom_reason.value_or(""));
        j.errors = inst.custom_errors;
        if (inst.custom_errors) j.logs.push_back("failed to fetch page-1");
        if (!inst.custom_reason) j.end_reason = "\x01null";  // rendered as null
      }
    }
  }

  json render(const Job& j) const {
    json out = {{"id", j.id},
                {"source", j.source},
                {"description", j.description.empty() ? json() : json(j.description)}};
    out["started_at"] = util::format_rfc3339(j.started);
    out["last_seen_at"] = util::format_rfc3339(j.last_seen);
    out["ended_at"] = j.ended ? json(util::format_rfc3339(*j.ended)) : json();
    out["end_reason"] = !j.ended || j.end_reason == "\x01null" ? json() : json(j.end_reason);
    return out;
  }

  static http::HttpResponse response(int status, const json& body) {
    http::HttpResponse r;
    r.status = status;
    r.headers = {{"content-type", "application/json"}};
    r.body = body.dump();
    return r;
  }
  static util::Result<http::HttpResponse, http::TransportError> ok(const json& result) {
    return response(200, {{"success", true},
                          {"errors", json::array()},
                          {"messages", json::array()},
                          {"result", result}});
  }
  static util::Result<http::HttpResponse, http::TransportError> list(const std::vector<json>& items,
                                                                     int page, int per_page) {
    per_page = std::max(per_page, 1);
    page = std::max(page, 1);
    json result = json::array();
    const std::size_t from =
        static_cast<std::size_t>(page - 1) * static_cast<std::size_t>(per_page);
    for (std::size_t i = from; i < items.size() && i < from + static_cast<std::size_t>(per_page);
         ++i)
      result.push_back(items[i]);
    return response(200, {{"success", true},
                          {"errors", json::array()},
                          {"messages", json::array()},
                          {"result", result},
                          {"result_info",
                           {{"page", page},
                            {"per_page", per_page},
                            {"count", result.size()},
                            {"total_count", items.size()}}}});
  }
  static util::Result<http::HttpResponse, http::TransportError> error(int status, int code,
                                                                      const std::string& message) {
    return response(status, {{"success", false},
                             {"errors", json::array({{{"code", code}, {"message", message}}})},
                             {"messages", json::array()},
                             {"result", nullptr}});
  }

  util::Clock& m_clock;
  mutable std::mutex m_mutex;
  std::map<std::string, Instance> m_instances;
  std::map<std::string, bool> m_missing;
  std::map<std::string, std::size_t> m_counts;
  std::vector<std::string> m_cancel_bodies;
  int m_next_id = 0;
  int m_lose_creates = 0;
  int m_fail_creates = 0;
  int m_fail_polls = 0;
  int m_fail_status = 503;
};

}  // namespace jobs_test
