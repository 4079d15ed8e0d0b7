#include "jobs/runner.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "util/random.hpp"
#include "util/strings.hpp"
#include "util/time_format.hpp"

namespace jobs {
namespace {

using std::chrono::milliseconds;

constexpr std::size_t k_log_tail = 20;
constexpr int k_max_poll_errors =
    10;  // consecutive failed polls: warned, then polled every poll_max
constexpr std::size_t k_expected_window = 5;  // succeeded runs the expected duration looks at
constexpr int k_log_error_type = 3;           // a job log entry's message_type for errors

std::string address_of(const std::string& ns, const std::string& id) {
  return ns + "/" + id;
}

bool is_cooldown(const api::ApiError& e) {
  return e.kind == api::ErrorKind::sync_cooldown;
}

// An answer that does not say whether the POST made a job.
bool is_unclear(const api::ApiError& e) {
  switch (e.kind) {
    case api::ErrorKind::network:
    case api::ErrorKind::timeout:
    case api::ErrorKind::server:
    case api::ErrorKind::bad_response:
      return true;
    default:
      return e.http_status == 408;
  }
}

double seconds(milliseconds d) {
  return static_cast<double>(d.count()) / 1000.0;
}

std::string new_trigger_id() {
  static constexpr char k_hex[] = "0123456789abcdef";
  std::string out;
  std::uint64_t v = util::random_u64();
  for (int i = 0; i < 16; ++i) {
    out += k_hex[v & 15];
    v >>= 4;
  }
  return out;
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

std::string trigger_of(const api::Job& job) {
  return job.source == "schedule" ? "cloudflare" : "external";
}

}  // namespace

Runner::Runner(api::Client& client, util::Clock& clock, state::StateWriter& writer,
               Reporter& reporter, FollowOptions options)
    : m_client(client), m_clock(clock), m_writer(writer), m_reporter(reporter), m_options(options) {
  m_options.poll_min = std::max(m_options.poll_min, milliseconds(1));
  m_options.poll_max = std::max(m_options.poll_max, m_options.poll_min);
  m_options.stalled_poll = std::max(m_options.stalled_poll, m_options.poll_min);
  m_options.wait_slice = std::max(m_options.wait_slice, milliseconds(1));
  m_options.trigger_attempts = std::max(1, m_options.trigger_attempts);
  m_options.trigger_retry = std::max(m_options.trigger_retry, milliseconds(1));
}

milliseconds Runner::timeout_of(const manifest::SyncSpec& policy) const {
  return policy.timeout.value_or(m_options.default_timeout);
}

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

bool Runner::store_and_report(const std::string& address, const state::JobRecord& record) {
  const auto now = m_clock.now();
  const bool is_skip = record.outcome == to_string(Outcome::skipped);
  bool added = false;
  auto saved = m_writer.update([&](state::State& s) {
    auto& sync = s.sync[address];
    if (!record.job_id.empty() && !is_skip) {
      std::erase_if(sync.running,
                    [&](const state::RunningJob& r) { return r.job_id == record.job_id; });
      if (sync.recorded(record.job_id)) return;  // exactly once
      sync.last_job_id = record.job_id;
    }
    added = true;
    s.add_job_record(address, record);
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
  if (added) m_reporter.outcome(address, record);
  return added;
}

void Runner::drop_trigger(const std::string& address, const std::string& trigger_id) {
  if (trigger_id.empty()) return;
  auto saved = m_writer.update([&](state::State& s) {
    auto it = s.sync.find(address);
    if (it == s.sync.end()) return;
    std::erase_if(it->second.triggers,
                  [&](const state::PendingTrigger& t) { return t.trigger_id == trigger_id; });
  });
  if (!saved.ok()) spdlog::warn("sync instance={}: state not saved: {}", address, saved.error());
}

Step Runner::finished(const std::string& address, state::JobRecord record) {
  store_and_report(address, record);
  Step step;
  step.kind = Step::Kind::done;
  step.record = std::move(record);
  return step;
}

Step Runner::trigger_step(TriggerTask& task) {
  const std::string address = task.address();
  const auto fail = [&](const std::string& reason, const std::string& message) {
    drop_trigger(address, task.trigger_id);
    auto r = failure_record(task.trigger, reason, message);
    r.slot = task.slot;
    return finished(address, std::move(r));
  };

  if (task.policy.concurrency == manifest::SyncSpec::Concurrency::forbid && task.check_running) {
    auto listed = m_client.list_jobs(task.ns, task.id, 1);
    if (!listed.ok()) {
      note_token(listed.error());
      return fail("trigger_failed",
                  "could not check for a running job: " + listed.error().describe());
    }
    for (const auto& job : listed.value()) {
      if (job.finished()) continue;
      Step step;
      if (task.hold_while_running && !job.running()) {
        step.kind = Step::Kind::again;  // queued, not started: look again shortly
        step.delay = m_options.poll_min;
        return step;
      }
      if (!task.hold_while_running) {
        auto r = record_for(job, task.trigger);
        r.outcome = to_string(Outcome::skipped);
        r.end_reason = "job_already_running";
        r.slot = task.slot;
        step = finished(address, std::move(r));
      }
      if (job.running()) {
        auto since = job.started_at ? util::parse_rfc3339(*job.started_at) : std::nullopt;
        const auto now = m_clock.now();
        step.follow = make_follow(task.ns, task.id, job, task.policy, trigger_of(job), "",
                                  since && *since < now ? *since : now);
      }
      return step;
    }
    task.check_running = false;
  }

  const auto started = [&](const api::Job& job) {
    const auto now = m_clock.now();
    auto saved = m_writer.update([&](state::State& s) {
      auto& sync = s.sync[address];
      std::erase_if(sync.triggers, [&](const state::PendingTrigger& t) {
        return t.trigger_id == task.trigger_id;
      });
      std::erase_if(sync.running, [&](const state::RunningJob& r) { return r.job_id == job.id; });
      sync.running.push_back({job.id, task.trigger, task.slot, util::format_rfc3339(now), ""});
      if (task.on_started) task.on_started(sync);
    });
    if (!saved.ok())
      spdlog::error("sync instance={} job={}: running job not saved: {}", address, job.id,
                    saved.error());
    spdlog::info("sync started instance={} job={} trigger={}{}", address, job.id, task.trigger,
                 task.slot.empty() ? "" : " slot=" + task.slot);
    Step step;
    step.kind = Step::Kind::follow;
    step.follow = make_follow(task.ns, task.id, job, task.policy, task.trigger, task.slot, now);
    step.delay = first_wait(*step.follow);
    return step;
  };
  const auto again = [](milliseconds delay) {
    Step step;
    step.kind = Step::Kind::again;
    step.delay = delay;
    return step;
  };
  const auto retry_delay = [&] {
    const int n = std::clamp(task.attempts - 1, 0, 10);
    return std::min<milliseconds>(m_options.trigger_retry * (1LL << n), m_options.poll_max * 5);
  };

  if (task.unclear) {
    // The last POST may have made a job: find it by the trigger id before sending another.
    auto listed = m_client.list_jobs(task.ns, task.id, 1);
    if (!listed.ok()) {
      spdlog::warn("sync instance={}: cannot list jobs to settle trigger {}: {}", address,
                   task.trigger_id, listed.error().describe());
      if (task.attempts >= m_options.trigger_attempts + 2)
        return fail("trigger_unclear",
                    "the trigger's answer was lost and the job list cannot be read: " +
                        listed.error().describe());
      ++task.attempts;  // bounds the listing too
      return again(retry_delay());
    }
    const std::string mark = "trigger " + task.trigger_id;
    for (const auto& job : listed.value()) {
      if (job.description && job.description->find(mark) != std::string::npos) {
        spdlog::info("sync instance={}: trigger {} made job {} (its answer was lost)", address,
                     task.trigger_id, job.id);
        return started(job);
      }
    }
    task.unclear = false;
    if (task.attempts >= m_options.trigger_attempts)
      return fail("trigger_failed", "no job after " + std::to_string(task.attempts) +
                                        " trigger(s) whose answers were lost");
  }

  if (task.trigger_id.empty()) {
    task.trigger_id = new_trigger_id();
    const auto at = util::format_rfc3339(m_clock.now());
    auto saved = m_writer.update([&](state::State& s) {
      s.sync[address].triggers.push_back({task.trigger_id, task.trigger, task.slot, at});
    });
    if (!saved.ok()) {
      spdlog::error("sync instance={}: trigger not saved, not sent: {}", address, saved.error());
      return Step{};
    }
  }

  ++task.attempts;
  // The slot last, as jobs named it before trigger ids: "... slot 2026-05-04T11:00:00Z".
  const std::string description = "aisearchd: " + task.trigger + " trigger " + task.trigger_id +
                                  (task.slot.empty() ? "" : " slot " + task.slot);
  auto answer = m_client.create_job(task.ns, task.id, description);
  if (answer.ok()) return started(answer.value());
  const api::ApiError& error = answer.error();
  if (is_cooldown(error)) {
    --task.attempts;  // certainly nothing was made
    const milliseconds delay =
        std::max(error.retry_after.value_or(m_options.cooldown_default), m_options.poll_min);
    if (task.cooldown_waited + delay > m_options.cooldown_wait_max) {
      drop_trigger(address, task.trigger_id);
      state::JobRecord r;
      r.outcome = to_string(Outcome::skipped);
      r.trigger = task.trigger;
      r.slot = task.slot;
      r.end_reason = "sync_in_cooldown";
      return finished(address, std::move(r));
    }
    spdlog::info("sync instance={} in cooldown, retrying in {}ms", address, delay.count());
    task.cooldown_waited += delay;
    return again(delay);
  }
  if (error.kind == api::ErrorKind::rate_limited && task.attempts < m_options.trigger_attempts) {
    // The global rate limit: refused, so nothing was made.
    return again(std::max(error.retry_after.value_or(retry_delay()), m_options.poll_min));
  }
  if (is_unclear(error) && task.attempts <= m_options.trigger_attempts) {
    spdlog::warn("sync instance={}: trigger {} answer unclear ({}); listing jobs before any retry",
                 address, task.trigger_id, error.describe());
    task.unclear = true;
    return again(std::min(retry_delay(), m_options.poll_min));
  }
  note_token(error);
  return fail("trigger_failed", error.describe());
}

FollowTask Runner::make_follow(const std::string& ns, const std::string& id, const api::Job& job,
                               const manifest::SyncSpec& policy, const std::string& trigger,
                               const std::string& slot, util::Clock::SystemTime since,
                               const state::SyncState* history) const {
  FollowTask f;
  f.ns = ns;
  f.id = id;
  f.policy = policy;
  f.policy.where = {};
  f.trigger = trigger;
  f.slot = slot;
  f.job = job;
  f.since = since;
  f.backoff = m_options.poll_min;
  f.last_seen = job.last_seen_at;
  f.last_move = m_clock.now();
  std::optional<state::State> snapshot;
  if (!history) {
    snapshot = m_writer.snapshot();
    auto it = snapshot->sync.find(address_of(ns, id));
    if (it != snapshot->sync.end()) history = &it->second;
  }
  if (history) {
    std::vector<double> durations;
    for (auto r = history->history.rbegin();
         r != history->history.rend() && durations.size() < k_expected_window; ++r) {
      if (r->outcome == to_string(Outcome::succeeded) && r->duration_seconds > 0)
        durations.push_back(r->duration_seconds);
    }
    if (!durations.empty()) {
      std::sort(durations.begin(), durations.end());
      const auto ms = [](double s) { return milliseconds(static_cast<long long>(s * 1000.0)); };
      f.expected_p50 = ms(durations[(durations.size() - 1) / 2]);
      f.expected_max = ms(durations.back());
      // Past the longest recent run, the polls back off from the usual spread of durations.
      f.backoff =
          std::clamp(*f.expected_max - *f.expected_p50, m_options.poll_min, m_options.poll_max);
    }
  }
  return f;
}

void Runner::save_running(const FollowTask& task) {
  auto saved = m_writer.update([&](state::State& s) {
    auto& sync = s.sync[task.address()];
    for (const auto& r : sync.running)
      if (r.job_id == task.job.id) return;
    sync.running.push_back({task.job.id, task.trigger, task.slot, util::format_rfc3339(task.since),
                            task.cancelled_at ? util::format_rfc3339(*task.cancelled_at) : ""});
  });
  if (!saved.ok())
    spdlog::warn("sync instance={} job={}: running job not saved: {}", task.address(), task.job.id,
                 saved.error());
}

milliseconds Runner::first_wait(FollowTask& task) const {
  return next_wait(task);
}

// A duration from history measured from the job's own start, made a wait from the trigger: a
// job starts a moment after its trigger and its times are whole seconds, so a poll at exactly
// the recorded duration would often come just before the end.
static milliseconds slack(milliseconds expected) {
  return expected + std::max(milliseconds(1500), expected / 50);
}

// The first poll of a job with a duration history: past the longest recent run (with slack) by
// the usual spread of durations (longest - median, at most poll_max), so a job of steady duration
// is nearly always seen ended by its first poll (one poll per job: with the trigger, 2 requests;
// 3 under forbid, whose check lists the jobs first); but never later than 2 x poll_max past the
// median, so one long run in the history (a first full index) does not delay the outcome of the
// usual jobs after it.
milliseconds Runner::first_poll_at(const FollowTask& task) const {
  const milliseconds median = task.expected_p50.value_or(*task.expected_max);
  const milliseconds spread =
      std::clamp(*task.expected_max - median, milliseconds(0), m_options.poll_max);
  return std::min(slack(*task.expected_max) + spread, slack(median) + 2 * m_options.poll_max);
}

milliseconds Runner::next_wait(FollowTask& task) const {
  const auto now = m_clock.now();
  const auto elapsed = std::chrono::duration_cast<milliseconds>(now - task.since);
  const milliseconds timeout = timeout_of(task.policy);
  milliseconds w;
  if (task.cancelled_at) {
    w = m_options.poll_min;
  } else if (task.stalled) {
    w = m_options.stalled_poll;
  } else if (task.expected_max && elapsed + m_options.poll_min < first_poll_at(task)) {
    w = first_poll_at(task) - elapsed;  // past the longest recent run
  } else {
    w = task.backoff;
    task.backoff = std::min(task.backoff * 2, m_options.poll_max);
  }
  if (!task.cancelled_at) w = std::min(w, std::max(timeout - elapsed, milliseconds(0)));
  return std::max(w, milliseconds(0));
}

Step Runner::poll_step(FollowTask& task) {
  const std::string address = task.address();
  const auto now = m_clock.now();
  const auto elapsed = std::chrono::duration_cast<milliseconds>(now - task.since);
  const milliseconds timeout = timeout_of(task.policy);
  const auto again = [&] {
    Step step;
    step.kind = Step::Kind::again;
    step.delay = next_wait(task);
    return step;
  };
  const auto done = [&](std::optional<state::JobRecord> record) {
    Step step;
    step.kind = Step::Kind::done;
    step.record = std::move(record);
    return step;
  };

  if (!task.cancelled_at && elapsed >= timeout) {
    // A job that has ended by now (a poll lands on the timeout when the expected end lies past
    // it) is recorded as it ended: only a job still running is cancelled and timed_out.
    auto polled = m_client.get_job(task.ns, task.id, task.job.id);
    if (polled.ok()) {
      task.job = std::move(polled.value());
      if (task.job.finished()) return done(finish(task));
    }
    spdlog::warn("sync instance={} job={}: running longer than its timeout {}, cancelling", address,
                 task.job.id, util::format_rfc3339(task.since + timeout));
    task.cancelled_at = now;
    auto saved = m_writer.update([&](state::State& s) {
      for (auto& r : s.sync[address].running)
        if (r.job_id == task.job.id) r.cancelled_at = util::format_rfc3339(now);
    });
    (void)saved;
    auto cancelled = m_client.cancel_job(task.ns, task.id, task.job.id);
    if (cancelled.ok()) {
      task.job = std::move(cancelled.value());
      if (task.job.finished()) return done(finish(task));
    } else {
      spdlog::warn("sync instance={} job={}: cancel failed: {}", address, task.job.id,
                   cancelled.error().describe());
    }
    return again();
  }
  if (task.cancelled_at && now - *task.cancelled_at > m_options.cancel_grace) {
    spdlog::warn("sync instance={} job={}: no end seen {}ms after the cancel", address, task.job.id,
                 m_options.cancel_grace.count());
    return done(finish(task));
  }

  auto polled = m_client.get_job(task.ns, task.id, task.job.id);
  if (!polled.ok()) {
    const api::ApiError& error = polled.error();
    if (error.kind == api::ErrorKind::not_found) {
      auto r = record_for(task.job, task.trigger);
      r.slot = task.slot;
      r.outcome = to_string(Outcome::failed);
      r.end_reason = "job_not_found";
      r.log_tail = {error.describe()};
      r.duration_seconds = seconds(elapsed);
      store_and_report(address, r);
      return done(std::move(r));
    }
    // Failing polls do not end the job: it still runs as far as anyone knows (recording it
    // failed would free its slot for a second job, and its real end would never be recorded).
    // It is followed on, every poll_max, until it ends or its timeout cancels it.
    if (++task.poll_errors == k_max_poll_errors)
      spdlog::warn("sync instance={} job={}: {} polls in a row failed ({}); still following it",
                   address, task.job.id, k_max_poll_errors, error.describe());
    else
      spdlog::debug("sync instance={} job={}: poll failed: {}", address, task.job.id,
                    error.describe());
    Step step = again();
    if (task.poll_errors >= k_max_poll_errors) step.delay = m_options.poll_max;
    return step;
  }
  task.poll_errors = 0;
  task.job = std::move(polled.value());
  if (task.job.finished()) return done(finish(task));
  if (task.job.last_seen_at != task.last_seen) {
    task.last_seen = task.job.last_seen_at;
    task.last_move = now;
    if (task.stalled) spdlog::info("sync instance={} job={}: moving again", address, task.job.id);
    task.stalled = false;
  } else if (task.last_seen && !task.stalled && now - task.last_move >= m_options.stall_after) {
    // (A server that never sends last_seen_at gives no evidence of a stall.)
    task.stalled = true;
    m_reporter.stalled(address, task.job.id);
  }
  return again();
}

std::optional<state::JobRecord> Runner::finish(FollowTask& task) {
  const std::string address = task.address();
  const api::Job& job = task.job;
  auto r = record_for(job, task.trigger);
  r.slot = task.slot;
  const ReasonKind kind = classify_end_reason(job.end_reason);
  std::optional<std::vector<api::JobLogEntry>> tail;
  std::optional<std::string> tail_error;
  const auto read_tail = [&] {
    if (tail || tail_error || job.id.empty()) return;
    auto logs = m_client.job_logs_tail(task.ns, task.id, job.id, k_log_tail);
    if (logs.ok())
      tail = std::move(logs.value());
    else
      tail_error = logs.error().describe();
  };
  Outcome outcome = Outcome::failed;
  if (task.cancelled_at) {
    outcome = Outcome::timed_out;  // whatever end_reason says
  } else {
    switch (kind) {
      case ReasonKind::superseded:
        outcome = Outcome::superseded;
        break;
      case ReasonKind::cancelled:
        outcome = Outcome::cancelled;
        break;
      case ReasonKind::success:
        outcome = Outcome::succeeded;
        break;
      case ReasonKind::failure:
        outcome = Outcome::failed;
        break;
      case ReasonKind::unknown: {
        // Judged by its own logs, never by the instance-wide stats.
        read_tail();
        bool error_line = false;
        if (tail)
          for (const auto& e : *tail) error_line = error_line || e.message_type >= k_log_error_type;
        outcome = error_line ? Outcome::failed : Outcome::succeeded;
        break;
      }
    }
  }
  r.outcome = to_string(outcome);
  if (is_failure(outcome) || m_options.stats_on_success) {
    auto answer = m_client.instance_stats(task.ns, task.id);
    if (answer.ok()) {
      r.error_counts = error_counts(answer.value());
    } else {
      spdlog::debug("sync instance={}: stats unavailable: {}", address, answer.error().describe());
    }
  }
  if (is_failure(outcome)) {
    read_tail();
    if (tail) {
      for (const auto& e : *tail) r.log_tail.push_back(e.message);
    } else if (tail_error) {
      r.log_tail.push_back("(job logs unavailable: " + *tail_error + ")");
    }
  }
  r.duration_seconds =
      seconds(std::chrono::duration_cast<milliseconds>(m_clock.now() - task.since));
  if (job.started_at && job.ended_at) {
    const auto s = util::parse_rfc3339(*job.started_at);
    const auto e = util::parse_rfc3339(*job.ended_at);
    if (s && e && *e >= *s) {
      r.duration_seconds = seconds(std::chrono::duration_cast<milliseconds>(*e - *s));
    }
  }
  if (!store_and_report(address, r)) return std::nullopt;
  return r;
}

state::JobRecord Runner::run(const std::string& ns, const std::string& id,
                             const manifest::SyncSpec& policy, const std::string& trigger,
                             bool wait_for_end, const std::atomic<bool>* stop,
                             const std::string& slot,
                             const std::function<void(const api::Job&)>& on_started) {
  TriggerTask task;
  task.ns = ns;
  task.id = id;
  task.policy = policy;
  task.trigger = trigger;
  task.slot = slot;
  std::optional<FollowTask> follow;
  for (;;) {
    Step step = trigger_step(task);
    if (step.kind == Step::Kind::again) {
      if (!wait(step.delay, stop)) {
        state::JobRecord r;
        r.trigger = trigger;
        return r;
      }
      continue;
    }
    if (step.kind == Step::Kind::done) {
      if (step.record) return *step.record;
      state::JobRecord r;
      r.trigger = trigger;
      r.outcome = to_string(Outcome::failed);
      r.end_reason = "state_not_saved";
      return r;
    }
    follow = std::move(step.follow);
    if (on_started && wait_for_end) on_started(follow->job);
    if (!wait_for_end) {
      auto r = record_for(follow->job, trigger);
      r.outcome = k_outcome_none;
      return r;
    }
    if (!wait(step.delay, stop)) break;
    for (;;) {
      Step poll = poll_step(*follow);
      if (poll.kind == Step::Kind::done) {
        if (poll.record) return *poll.record;
        auto r = record_for(follow->job, trigger);
        r.outcome = k_outcome_none;
        return r;
      }
      if (!wait(poll.delay, stop)) break;
    }
    break;
  }
  spdlog::info("sync instance={} job={}: stopped following (the job keeps running)",
               address_of(ns, id), follow->job.id);
  auto r = record_for(follow->job, trigger);
  r.outcome = k_outcome_none;
  return r;
}

void Runner::note_token(const api::ApiError& error) {
  if (error.kind == api::ErrorKind::auth)
    m_token_rejected.store(error.http_status, std::memory_order_relaxed);
}

util::Result<void, std::string> Runner::wait_until_idle(
    const std::string& ns, const std::string& id, const std::atomic<bool>* stop,
    const std::function<void(const api::Job&)>& waiting) {
  constexpr int k_poll_failures_max = 10;
  for (;;) {
    auto listed = m_client.list_jobs(ns, id, 1);
    if (!listed.ok()) {
      note_token(listed.error());
      return util::Err("could not check for a running job: " + listed.error().describe());
    }
    const api::Job* running = nullptr;
    for (const auto& job : listed.value())
      if (!job.finished()) {
        running = &job;
        break;
      }
    if (!running) return {};
    api::Job job = *running;
    if (waiting) waiting(job);
    milliseconds backoff = m_options.poll_min;
    int failures = 0;
    while (!job.finished()) {
      if (!wait(backoff, stop)) return util::Err(std::string("stopped while waiting"));
      backoff = std::min(backoff * 2, m_options.poll_max);
      auto polled = m_client.get_job(ns, id, job.id);
      if (!polled.ok()) {
        if (++failures >= k_poll_failures_max)
          return util::Err("could not poll the running job " + job.id + ": " +
                           polled.error().describe());
        continue;
      }
      failures = 0;
      job = std::move(polled.value());
    }
  }
}

}  // namespace jobs
