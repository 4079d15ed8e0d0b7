#include "jobs/runner.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "util/strings.hpp"
#include "util/time_format.hpp"

namespace jobs {
namespace {

using std::chrono::milliseconds;

constexpr std::size_t k_log_tail = 20;
constexpr int k_max_poll_errors = 10;         // consecutive failed polls before the job is given up
constexpr std::size_t k_expected_window = 5;  // succeeded runs the expected duration looks at

std::string address_of(const std::string& ns, const std::string& id) {
  return ns + "/" + id;
}

bool is_cooldown(const api::ApiError& e) {
  if (e.has_code(api::k_code_sync_cooldown)) return true;
  return e.http_status == 429 && util::to_lower(e.message).find("cooldown") != std::string::npos;
}

double seconds(milliseconds d) {
  return static_cast<double>(d.count()) / 1000.0;
}

state::JobRecord record_for(const api::Job& job, const std::string& trigger) {
  state::JobRecord r;
  r.job_id = job.id;
  r.trigger = trigger;
  r.source = job.source;
  r.started_at = job.started_at.value_or("");
  r.ended_at = job.ended_at.value_or("");
  r.end_reason = job.end_reason.value_or("");
  return r;
}

state::JobRecord failure_record(const std::string& trigger, const std::string& reason,
                                const std::string& message) {
  state::JobRecord r;
  r.outcome = to_string(Outcome::failed);
  r.trigger = trigger;
  r.end_reason = reason;
  r.log_tail = {message};
  return r;
}

}  // namespace

Runner::Runner(api::Client& client, util::Clock& clock, state::StateWriter& writer,
               Reporter& reporter, FollowOptions options)
    : m_client(client), m_clock(clock), m_writer(writer), m_reporter(reporter), m_options(options) {
  m_options.poll_min = std::max(m_options.poll_min, milliseconds(1));
  m_options.poll_max = std::max(m_options.poll_max, m_options.poll_min);
  m_options.wait_slice = std::max(m_options.wait_slice, milliseconds(1));
}

bool Runner::claim(const std::string& address) {
  std::lock_guard lock(m_mutex);
  return m_busy.insert(address).second;
}

void Runner::release(const std::string& address) {
  std::lock_guard lock(m_mutex);
  m_busy.erase(address);
}

bool Runner::busy(const std::string& address) const {
  std::lock_guard lock(m_mutex);
  return m_busy.count(address) != 0;
}

struct Runner::Busy {
  Runner& runner;
  std::string address;
  ~Busy() { runner.release(address); }
};

bool Runner::wait(milliseconds d, const std::atomic<bool>* stop) {
  if (!stop) {
    if (d.count() > 0) m_clock.sleep_for(d);
    return true;
  }
  while (d.count() > 0) {
    if (stop->load()) return false;
    const auto step = std::min(d, m_options.wait_slice);
    m_clock.sleep_for(step);
    d -= step;
  }
  return !stop->load();
}

std::optional<milliseconds> Runner::expected_duration(const std::string& address) const {
  const state::State snapshot = m_writer.snapshot();
  auto it = snapshot.sync.find(address);
  if (it == snapshot.sync.end()) return std::nullopt;
  std::vector<double> durations;
  for (auto r = it->second.history.rbegin();
       r != it->second.history.rend() && durations.size() < k_expected_window; ++r) {
    if (r->outcome == to_string(Outcome::succeeded) && r->duration_seconds > 0) {
      durations.push_back(r->duration_seconds);
    }
  }
  if (durations.empty()) return std::nullopt;
  // The longest recent run: aiming at it, nearly every run ends by the aligned poll, and the
  // fast backoff after it (which a median would often meet) is rarely needed.
  const double longest = *std::max_element(durations.begin(), durations.end());
  return milliseconds(static_cast<long long>(longest * 1000.0));
}

void Runner::store_and_report(const std::string& address, const state::JobRecord& record) {
  const auto now = m_clock.now();
  auto saved = m_writer.update([&](state::State& s) {
    s.add_job_record(address, record);
    auto& sync = s.sync[address];
    if (!record.job_id.empty() && record.outcome != to_string(Outcome::skipped)) {
      sync.last_job_id = record.job_id;
    }
    if (record.outcome == to_string(Outcome::succeeded)) {
      const std::string at = record.ended_at.empty() ? util::format_rfc3339(now) : record.ended_at;
      const auto old_t = util::parse_rfc3339(sync.last_success);
      const auto new_t = util::parse_rfc3339(at);
      if (!old_t || (new_t && *new_t > *old_t)) sync.last_success = at;
    }
  });
  if (!saved.ok()) {
    spdlog::error("sync instance={} job={}: state not saved: {}", address, record.job_id,
                  saved.error());
  }
  m_reporter.outcome(address, record);
}

state::JobRecord Runner::run(const std::string& ns, const std::string& id,
                             const manifest::SyncSpec& policy, const std::string& trigger,
                             bool wait_for_end, const std::atomic<bool>* stop,
                             const std::string& slot) {
  const std::string address = address_of(ns, id);
  if (!claim(address)) {
    state::JobRecord r;
    r.outcome = to_string(Outcome::skipped);
    r.trigger = trigger;
    r.end_reason = "already_following";
    return r;
  }
  Busy busy{*this, address};

  if (policy.concurrency == manifest::SyncSpec::Concurrency::forbid) {
    auto listed = m_client.list_jobs(ns, id, 1);
    if (!listed.ok()) {
      auto r = failure_record(trigger, "trigger_failed",
                              "could not check for a running job: " + listed.error().describe());
      store_and_report(address, r);
      return r;
    }
    for (const auto& job : listed.value()) {
      if (job.finished()) continue;
      auto r = record_for(job, trigger);
      r.outcome = to_string(Outcome::skipped);
      r.end_reason = "job_already_running";
      store_and_report(address, r);
      return r;
    }
  }

  milliseconds cooldown_waited{0};
  std::optional<api::Job> created;
  while (!created) {
    auto answer = m_client.create_job(
        ns, id, "aisearchd: " + trigger + (slot.empty() ? "" : " slot " + slot));
    if (answer.ok()) {
      created = std::move(answer.value());
      break;
    }
    const api::ApiError& error = answer.error();
    if (!is_cooldown(error)) {
      auto r = failure_record(trigger, "trigger_failed", error.describe());
      store_and_report(address, r);
      return r;
    }
    const milliseconds delay =
        std::max(error.retry_after.value_or(m_options.cooldown_default), m_options.poll_min);
    if (cooldown_waited + delay > m_options.cooldown_wait_max) {
      state::JobRecord r;
      r.outcome = to_string(Outcome::skipped);
      r.trigger = trigger;
      r.end_reason = "sync_in_cooldown";
      store_and_report(address, r);
      return r;
    }
    spdlog::info("sync instance={} in cooldown, retrying in {}ms", address, delay.count());
    if (!wait(delay, stop)) {
      state::JobRecord r;
      r.trigger = trigger;
      return r;
    }
    cooldown_waited += delay;
  }

  spdlog::info("sync started instance={} job={} trigger={}", address, created->id, trigger);
  if (!wait_for_end) {
    auto r = record_for(*created, trigger);
    r.outcome = k_outcome_none;
    return r;
  }
  auto followed = follow(ns, id, *created, policy, trigger, milliseconds(0), stop);
  if (!followed) {
    auto r = record_for(*created, trigger);
    r.outcome = k_outcome_none;
    return r;
  }
  return *followed;
}

std::optional<state::JobRecord> Runner::follow_existing(const std::string& ns,
                                                        const std::string& id, const api::Job& job,
                                                        const manifest::SyncSpec& policy,
                                                        const std::string& trigger,
                                                        const std::atomic<bool>* stop) {
  const std::string address = address_of(ns, id);
  if (!claim(address)) return std::nullopt;
  Busy busy{*this, address};
  milliseconds age{0};
  if (job.started_at) {
    if (auto t = util::parse_rfc3339(*job.started_at)) {
      age = std::max(milliseconds(0), std::chrono::duration_cast<milliseconds>(m_clock.now() - *t));
    }
  }
  if (job.finished()) return finish(ns, id, job, trigger, false, age);
  return follow(ns, id, job, policy, trigger, age, stop);
}

std::optional<state::JobRecord> Runner::follow(const std::string& ns, const std::string& id,
                                               api::Job job, const manifest::SyncSpec& policy,
                                               const std::string& trigger, milliseconds initial_age,
                                               const std::atomic<bool>* stop) {
  const std::string address = address_of(ns, id);
  const auto start = m_clock.steady_now();
  const auto elapsed = [&] {
    return initial_age + std::chrono::duration_cast<milliseconds>(m_clock.steady_now() - start);
  };
  const std::optional<milliseconds> expected = expected_duration(address);
  milliseconds interval = m_options.poll_min;
  std::optional<std::string> last_seen = job.last_seen_at;
  auto last_move = m_clock.steady_now();
  bool stalled = false;
  std::optional<util::Clock::SteadyTime> cancelled_at;
  int poll_errors = 0;

  while (!job.finished()) {
    milliseconds w;
    const milliseconds now_elapsed = elapsed();
    if (expected && !cancelled_at && now_elapsed < *expected) {
      // Polls spread evenly, at most poll_max apart, the last one on the expected end.
      const milliseconds remaining = *expected - now_elapsed;
      const auto n =
          (remaining.count() + m_options.poll_max.count() - 1) / m_options.poll_max.count();
      w = std::max(m_options.poll_min, milliseconds(remaining.count() / std::max<long long>(n, 1)));
    } else {
      w = interval;
      interval = std::min(interval * 2, m_options.poll_max);
    }
    if (policy.timeout && !cancelled_at) {
      w = std::clamp(*policy.timeout - now_elapsed, milliseconds(0), w);
    }
    if (!wait(w, stop)) {
      spdlog::info("sync instance={} job={}: stopped following (the job keeps running)", address,
                   job.id);
      return std::nullopt;
    }

    if (policy.timeout && !cancelled_at && elapsed() >= *policy.timeout) {
      spdlog::warn("sync instance={} job={}: running longer than its timeout {}ms, cancelling",
                   address, job.id, policy.timeout->count());
      cancelled_at = m_clock.steady_now();
      interval = m_options.poll_min;
      auto cancelled = m_client.cancel_job(ns, id, job.id);
      if (cancelled.ok()) {
        job = std::move(cancelled.value());
        if (job.finished()) break;
      } else {
        spdlog::warn("sync instance={} job={}: cancel failed: {}", address, job.id,
                     cancelled.error().describe());
      }
      continue;
    }
    if (cancelled_at && m_clock.steady_now() - *cancelled_at > m_options.cancel_grace) {
      spdlog::warn("sync instance={} job={}: no end seen {}ms after the cancel", address, job.id,
                   m_options.cancel_grace.count());
      break;
    }

    auto polled = m_client.get_job(ns, id, job.id);
    if (!polled.ok()) {
      const api::ApiError& error = polled.error();
      if (error.kind == api::ErrorKind::not_found || ++poll_errors >= k_max_poll_errors) {
        auto r = record_for(job, trigger);
        r.outcome = to_string(Outcome::failed);
        r.end_reason = error.kind == api::ErrorKind::not_found ? "job_not_found" : "lost_track";
        r.log_tail = {error.describe()};
        r.duration_seconds = seconds(elapsed());
        store_and_report(address, r);
        return r;
      }
      spdlog::debug("sync instance={} job={}: poll failed: {}", address, job.id, error.describe());
      continue;
    }
    poll_errors = 0;
    job = std::move(polled.value());
    if (job.finished()) break;
    if (job.last_seen_at != last_seen) {
      last_seen = job.last_seen_at;
      last_move = m_clock.steady_now();
      stalled = false;
    } else if (last_seen && !stalled && m_clock.steady_now() - last_move >= m_options.stall_after) {
      // (A server that never sends last_seen_at gives no evidence of a stall.)
      stalled = true;
      m_reporter.stalled(address, job.id);
    }
  }
  return finish(ns, id, job, trigger, cancelled_at.has_value(), elapsed());
}

state::JobRecord Runner::finish(const std::string& ns, const std::string& id, const api::Job& job,
                                const std::string& trigger, bool timed_out, milliseconds measured) {
  const std::string address = address_of(ns, id);
  auto r = record_for(job, trigger);
  const ReasonKind kind = classify_end_reason(job.end_reason);
  // A job we cancelled for its timeout is timed_out, unless it ended some other way first.
  const bool is_timeout = timed_out && (!job.finished() || kind == ReasonKind::cancelled);
  const bool want_stats = is_timeout || kind == ReasonKind::unknown ||
                          kind == ReasonKind::failure ||
                          (kind == ReasonKind::success && m_options.stats_on_success);
  std::optional<api::InstanceStats> stats;
  if (want_stats) {
    auto answer = m_client.instance_stats(ns, id);
    if (answer.ok()) {
      stats = std::move(answer.value());
    } else {
      spdlog::debug("sync instance={}: stats unavailable: {}", address, answer.error().describe());
    }
  }
  const Outcome outcome = is_timeout ? Outcome::timed_out : derive_outcome(job, stats);
  r.outcome = to_string(outcome);
  if (stats) r.error_counts = error_counts(*stats);

  if (is_failure(outcome) && !job.id.empty()) {
    auto logs = m_client.job_logs(ns, id, job.id);
    if (logs.ok()) {
      const auto& entries = logs.value();
      const std::size_t from = entries.size() > k_log_tail ? entries.size() - k_log_tail : 0;
      for (std::size_t i = from; i < entries.size(); ++i) r.log_tail.push_back(entries[i].message);
    } else {
      r.log_tail.push_back("(job logs unavailable: " + logs.error().describe() + ")");
    }
  }

  r.duration_seconds = seconds(measured);
  if (job.started_at && job.ended_at) {
    const auto s = util::parse_rfc3339(*job.started_at);
    const auto e = util::parse_rfc3339(*job.ended_at);
    if (s && e && *e >= *s) {
      r.duration_seconds = seconds(std::chrono::duration_cast<milliseconds>(*e - *s));
    }
  }
  store_and_report(address, r);
  return r;
}

}  // namespace jobs
