#include "jobs/webhook.hpp"

#include <algorithm>
#include <utility>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "api/envelope.hpp"
#include "jobs/outcome.hpp"
#include "util/hmac.hpp"
#include "util/sanitize.hpp"

namespace jobs {

using nlohmann::json;

util::Result<WebhookOptions::NotifyOn, std::string> parse_notify_on(std::string_view text) {
  if (text == "changes") return WebhookOptions::NotifyOn::changes;
  if (text == "all") return WebhookOptions::NotifyOn::all;
  return util::Err("notify_on: expected \"changes\" or \"all\", got \"" + std::string(text) + "\"");
}

std::string webhook_signature(std::string_view key, std::string_view body) {
  return "sha256=" + util::hmac_sha256_hex(key, body);
}

namespace {

constexpr std::size_t k_max_log_lines = 20;

// "success", "failure" or "" (an outcome that says nothing about the index's health).
std::string health_of(const std::string& outcome) {
  const auto o = parse_outcome(outcome);
  if (!o) return "";
  if (*o == Outcome::succeeded) return "success";
  if (is_failure(*o)) return "failure";
  return "";
}

}  // namespace

WebhookNotifier::WebhookNotifier(WebhookOptions options, std::shared_ptr<http::Transport> transport)
    : m_options(std::move(options)), m_transport(std::move(transport)) {
  m_options.max_attempts = std::max(1, m_options.max_attempts);
  m_options.queue_max = std::max<std::size_t>(1, m_options.queue_max);
  m_thread = std::thread([this] { run(); });
}

WebhookNotifier::~WebhookNotifier() {
  stop(std::chrono::milliseconds(0));
}

void WebhookNotifier::seed(const std::string& address, const std::string& outcome) {
  const std::string h = health_of(outcome);
  if (h.empty()) return;
  std::lock_guard lock(m_mutex);
  m_last[address] = outcome;
}

void WebhookNotifier::seed_history(const std::string& address,
                                   const std::deque<state::JobRecord>& history) {
  for (auto it = history.rbegin(); it != history.rend(); ++it) {
    if (!health_of(it->outcome).empty()) {
      seed(address, it->outcome);
      return;
    }
  }
}

void WebhookNotifier::outcome(const std::string& address, const state::JobRecord& record) {
  const std::string h = health_of(record.outcome);
  std::optional<std::string> previous;
  {
    std::lock_guard lock(m_mutex);
    if (auto it = m_last.find(address); it != m_last.end()) previous = it->second;
    if (!h.empty()) m_last[address] = record.outcome;
    if (m_options.notify_on == WebhookOptions::NotifyOn::changes) {
      const std::string before = previous ? health_of(*previous) : std::string();
      const bool send =
          (h == "failure" && before != "failure") || (h == "success" && before == "failure");
      if (!send) {
        ++m_counters.filtered;
        return;
      }
    }
  }
  const auto [ns, id] = state::split_address(address);
  json log_tail = json::array();
  const std::size_t from =
      record.log_tail.size() > k_max_log_lines ? record.log_tail.size() - k_max_log_lines : 0;
  for (std::size_t i = from; i < record.log_tail.size(); ++i)
    log_tail.push_back(
        util::sanitize_text(record.log_tail[i], m_options.secret, api::k_max_message));
  json event = {
      {"event", "sync_outcome"},
      {"address", address},
      {"namespace", ns},
      {"id", id},
      {"outcome", record.outcome},
      {"previous_outcome", previous ? json(*previous) : json()},
      {"job_id", record.job_id},
      {"trigger", record.trigger},
      {"slot", record.slot.empty() ? json() : json(record.slot)},
      {"source", record.source},
      {"started_at", state::time_or_null(record.started_at)},
      {"ended_at", state::time_or_null(record.ended_at)},
      {"duration_seconds", record.duration_seconds},
      {"end_reason", util::sanitize_text(record.end_reason, m_options.secret, api::k_max_message)},
      {"log_tail", std::move(log_tail)},
      {"error_counts", record.error_counts}};
  enqueue(event.dump(-1, ' ', false, json::error_handler_t::replace));
}

void WebhookNotifier::stalled(const std::string& address, const std::string& job_id) {
  if (m_options.notify_on != WebhookOptions::NotifyOn::all) {
    std::lock_guard lock(m_mutex);
    ++m_counters.filtered;
    return;
  }
  const auto [ns, id] = state::split_address(address);
  json event = {{"event", "sync_stalled"},
                {"address", address},
                {"namespace", ns},
                {"id", id},
                {"job_id", job_id}};
  enqueue(event.dump(-1, ' ', false, json::error_handler_t::replace));
}

void WebhookNotifier::reconcile_failed(const std::string& error, int consecutive_failures) {
  std::string text = util::sanitize_text(error, m_options.secret, api::k_max_message);
  {
    std::lock_guard lock(m_mutex);
    const bool first = m_reconcile_failures == 0;
    ++m_reconcile_failures;
    m_reconcile_error = text;
    if (m_options.notify_on == WebhookOptions::NotifyOn::changes && !first) {
      ++m_counters.filtered;
      return;
    }
  }
  json event = {{"event", "reconcile_failed"},
                {"error", std::move(text)},
                {"consecutive_failures", std::max(1, consecutive_failures)}};
  enqueue(event.dump(-1, ' ', false, json::error_handler_t::replace));
}

void WebhookNotifier::reconcile_succeeded() {
  int failed_cycles = 0;
  std::string last_error;
  {
    std::lock_guard lock(m_mutex);
    failed_cycles = std::exchange(m_reconcile_failures, 0);
    last_error = std::exchange(m_reconcile_error, std::string());
  }
  if (failed_cycles == 0) return;
  json event = {{"event", "reconcile_recovered"},
                {"failed_cycles", failed_cycles},
                {"last_error", std::move(last_error)}};
  enqueue(event.dump(-1, ' ', false, json::error_handler_t::replace));
}

void WebhookNotifier::enqueue(std::string body) {
  {
    std::lock_guard lock(m_mutex);
    if (m_stopping) {
      ++m_counters.dropped;
      return;
    }
    if (m_queue.size() >= m_options.queue_max) {
      m_queue.pop_front();
      ++m_counters.dropped;
      spdlog::warn("webhook queue full: dropped the oldest event");
    }
    m_queue.push_back(std::move(body));
  }
  m_cv.notify_all();
}

void WebhookNotifier::stop(std::chrono::milliseconds deadline) {
  {
    std::lock_guard lock(m_mutex);
    if (!m_stopping) {
      m_stopping = true;
      m_deadline = std::chrono::steady_clock::now() + deadline;
    }
  }
  m_cv.notify_all();
  if (m_thread.joinable()) m_thread.join();
}

WebhookNotifier::Counters WebhookNotifier::counters() const {
  std::lock_guard lock(m_mutex);
  return m_counters;
}

std::size_t WebhookNotifier::pending() const {
  std::lock_guard lock(m_mutex);
  return m_queue.size() + m_in_flight;
}

void WebhookNotifier::run() {
  std::unique_lock lock(m_mutex);
  for (;;) {
    m_cv.wait(lock, [&] { return m_stopping || !m_queue.empty(); });
    if (m_queue.empty() || (m_stopping && std::chrono::steady_clock::now() >= m_deadline)) {
      if (m_stopping) {
        m_counters.dropped += m_queue.size();
        if (!m_queue.empty()) {
          spdlog::warn("webhook: {} event(s) not delivered before shutdown", m_queue.size());
        }
        m_queue.clear();
        return;
      }
      continue;
    }
    std::string body = std::move(m_queue.front());
    m_queue.pop_front();
    ++m_in_flight;
    bool delivered = false;
    for (int attempt = 1; attempt <= m_options.max_attempts; ++attempt) {
      lock.unlock();
      http::HttpRequest request;
      request.method = "POST";
      request.url = m_options.url;
      request.headers = {{"Content-Type", "application/json"}};
      if (!m_options.signing_secret.empty())
        request.headers.emplace_back("X-Aisearchd-Signature",
                                     webhook_signature(m_options.signing_secret, body));
      request.body = body;
      request.timeout = m_options.timeout;
      auto response = m_transport->send(request);
      bool retry = true;
      std::string why;
      if (response.ok()) {
        const int status = response->status;
        if (status >= 200 && status < 300) {
          delivered = true;
          retry = false;
        } else {
          retry = status == 408 || status == 429 || status >= 500;
          why = "HTTP " + std::to_string(status);
        }
      } else {
        why = response.error().message;
      }
      lock.lock();
      if (delivered) break;
      if (!retry) {
        spdlog::warn("webhook: event rejected ({}), not retried", why);
        break;
      }
      if (attempt == m_options.max_attempts) {
        spdlog::warn("webhook: event not delivered after {} attempts ({})", attempt, why);
        break;
      }
      auto delay = m_options.base_delay * (1LL << std::min(attempt - 1, 20));
      delay = std::min<std::chrono::milliseconds>(delay, m_options.max_delay);
      spdlog::debug("webhook: attempt {} failed ({}), retrying in {}ms", attempt, why,
                    delay.count());
      // After a stop, retries continue only while they fit before its deadline.
      const auto until = std::chrono::steady_clock::now() + delay;
      const auto past_deadline = [&] { return m_stopping && until > m_deadline; };
      m_cv.wait_until(lock, until, past_deadline);
      if (past_deadline()) {
        spdlog::warn("webhook: event not delivered before shutdown ({})", why);
        break;
      }
    }
    --m_in_flight;
    if (delivered) {
      ++m_counters.delivered;
    } else {
      ++m_counters.failed;
    }
  }
}

}  // namespace jobs
