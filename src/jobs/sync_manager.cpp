#include "jobs/sync_manager.hpp"

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "util/time_format.hpp"

namespace jobs {
namespace {

using namespace std::chrono_literals;

// What moves when a job starts or ends: last_activity, else status and modified_at.
std::string activity_of(const api::Instance& instance) {
  std::string out;
  auto it = instance.raw.find("last_activity");
  if (it != instance.raw.end() && !it->is_null()) {
    out = it->is_string() ? it->get<std::string>() : it->dump();
  }
  return out + "|" + instance.status + "|" + instance.modified_at;
}

std::string trigger_of(const api::Job& job) {
  return job.source == "schedule" ? "cloudflare" : "external";
}

util::Clock::SystemTime started_or(const api::Job& job, util::Clock::SystemTime now) {
  if (job.started_at)
    if (auto t = util::parse_rfc3339(*job.started_at); t && *t < now) return *t;
  return now;
}

}  // namespace

SyncManager::SyncManager(Runner& runner, api::Client& client, util::Clock& clock,
                         state::StateWriter& writer, Reporter& reporter, SyncManagerOptions options)
    : m_runner(runner),
      m_client(client),
      m_clock(clock),
      m_writer(writer),
      m_reporter(reporter),
      m_options(options) {
  for (int i = 0; i < m_options.workers; ++i) m_threads.emplace_back([this] { worker(); });
}

SyncManager::~SyncManager() {
  stop(std::chrono::milliseconds(0));
}

void SyncManager::set_manifest(const manifest::Manifest& manifest) {
  std::map<std::string, Managed> managed;
  std::map<std::string, std::string> described;
  std::vector<schedule::Entry> entries;
  std::vector<std::string> problems;
  std::set<std::string> left_alone_set;
  for (const auto& [ns_name, ns] : manifest.namespaces) {
    for (const auto& [id, inst] : ns.instances) {
      const bool left_alone = ns.suspend || inst.suspend;
      const std::string address = inst.address();
      Managed m;
      if (inst.sync) {
        m.spec = *inst.sync;
        m.spec.where = {};  // not reported from here; one file name less per instance
        m.has_sync = true;
        const auto& sync = *inst.sync;
        std::optional<util::Result<schedule::Spec, std::string>> spec;
        if (sync.schedule) {
          spec = schedule::Spec::cron(*sync.schedule, sync.timezone, sync.jitter);
        } else if (sync.every) {
          spec = schedule::Spec::every(*sync.every, sync.jitter);
        }
        if (spec && spec->ok()) {
          const bool suspended = left_alone || sync.suspend;
          m.scheduled = true;
          m.schedule = suspended ? "suspended" : spec->value().describe();
          described[address] = m.schedule;
          entries.push_back({address, spec->value(), suspended});
        } else if (spec) {
          spdlog::error("sync instance={}: schedule not usable: {}", address, spec->error());
          problems.push_back(address + ": schedule not usable: " + spec->error());
        }
      }
      if (left_alone) {
        left_alone_set.insert(address);
        continue;
      }
      managed.emplace(address, std::move(m));
    }
  }
  const state::State snapshot = m_writer.snapshot();
  std::lock_guard lock(m_mutex);
  std::vector<std::string> fresh;
  for (const auto& e : entries)
    if (!m_scheduler.known(e.key)) fresh.push_back(e.key);
  m_managed = std::move(managed);
  m_left_alone = std::move(left_alone_set);
  m_schedule_desc = std::move(described);
  m_schedule_problems = std::move(problems);
  m_scheduler.set_entries(entries);
  for (const auto& key : fresh) {
    auto it = snapshot.sync.find(key);
    if (it == snapshot.sync.end()) continue;
    const state::SyncState& ss = it->second;
    if (!ss.last_slot.empty()) {
      if (auto t = util::parse_rfc3339(ss.last_slot)) m_scheduler.restore_last_slot(key, *t);
    } else if (!ss.first_seen.empty()) {
      if (auto t = util::parse_rfc3339(ss.first_seen)) m_scheduler.restore_first_seen(key, *t);
    }
    // Changed or suspended while no process ran it: start afresh, never catch up.
    if (!ss.schedule.empty() && ss.schedule != m_schedule_desc[key]) m_scheduler.rebase(key);
    m_recorded_schedule[key] = ss.schedule;
  }
  for (const auto& [address, ss] : snapshot.sync)
    if (!ss.since.empty()) m_since_known.insert(address);
}

manifest::SyncSpec SyncManager::policy_of_locked(const std::string& address) const {
  auto it = m_managed.find(address);
  return it == m_managed.end() ? manifest::SyncSpec{} : it->second.spec;
}

void SyncManager::push_locked(util::Clock::SteadyTime at, Task task) {
  m_tasks.emplace(at, std::move(task));
  m_cv.notify_one();
}

void SyncManager::start_trigger_locked(const std::string& address, const std::string& reason,
                                       const std::string& slot, bool check_running) {
  Inst& in = m_inst[address];
  auto t = std::make_shared<TriggerTask>();
  std::tie(t->ns, t->id) = state::split_address(address);
  t->policy = policy_of_locked(address);
  t->trigger = reason;
  t->slot = slot;
  t->check_running = check_running;
  t->hold_while_running = check_running && reason != "schedule";
  // The save that records the job this trigger made also says what is held by then (a run
  // coalesced while the trigger was on its way, or nothing): a held run that made its job is no
  // longer held in state from that save on. Until then state keeps it held, so a restart before
  // (the trigger unanswered, or waiting out a cooldown) runs it, unless settling finds its job.
  t->on_started = [this, address](state::SyncState& sync) {
    std::lock_guard held(m_held_mutex);
    auto& h = m_held[address];
    h.in_flight.clear();
    sync.held = h.value();
  };
  in.triggering = true;
  Task task;
  task.kind = Task::Kind::trigger;
  task.address = address;
  task.trigger = std::move(t);
  push_locked(m_clock.steady_now(), std::move(task));
}

void SyncManager::add_follow_locked(FollowTask follow, std::chrono::milliseconds delay) {
  const std::string address = follow.address();
  Inst& in = m_inst[address];
  if (!in.jobs.insert(follow.job.id).second) return;
  Task task;
  task.kind = Task::Kind::poll;
  task.address = address;
  task.follow = std::make_shared<FollowTask>(std::move(follow));
  push_locked(m_clock.steady_now() + delay, std::move(task));
}

SyncManager::TriggerResult SyncManager::request_locked(const std::string& address,
                                                       const std::string& reason,
                                                       const std::string& slot,
                                                       std::optional<state::JobRecord>& skip) {
  if (m_stop.load() || m_left_alone.count(address)) return TriggerResult::ignored;
  auto it = m_managed.find(address);
  if (it == m_managed.end() || !it->second.has_sync) {
    if (reason != "manual" || state::split_address(address).first.empty())
      return TriggerResult::ignored;
  } else {
    if (it->second.spec.suspend) return TriggerResult::ignored;
    if (reason == "on_change" && !it->second.spec.on_change) return TriggerResult::ignored;
  }
  const manifest::SyncSpec policy = policy_of_locked(address);
  Inst& in = m_inst[address];
  const bool running = !in.jobs.empty();
  const bool forbid = policy.concurrency == manifest::SyncSpec::Concurrency::forbid;
  if (!in.triggering && !running) {
    // Under forbid the job list decides every time: a job Cloudflare or `aisearchd sync` started
    // since the last one ended would be superseded by a POST (PRODUCT.md §7: skipped).
    start_trigger_locked(address, reason, slot, forbid);
    return TriggerResult::queued;
  }
  if (!forbid && !in.triggering) {
    spdlog::info("sync instance={}: replacing the running job (concurrency replace)", address);
    // The new job starts after every change so far: it covers a run held under forbid before
    // a reload made the policy replace.
    if (in.follow_up) {
      in.follow_up.reset();
      std::lock_guard held(m_held_mutex);
      m_held[address].waiting.clear();
    }
    start_trigger_locked(address, reason, slot, false);
    return TriggerResult::queued;
  }
  if (reason == "schedule") {
    if (!in.triggering) {
      // What we know may be a poll old: the job list decides (skipped if a job runs).
      start_trigger_locked(address, reason, slot, true);
      return TriggerResult::queued;
    }
    state::JobRecord r;
    r.outcome = to_string(Outcome::skipped);
    r.trigger = reason;
    r.slot = slot;
    r.end_reason = "trigger_in_progress";
    skip = std::move(r);
    return TriggerResult::skipped;
  }
  // One held run; "manual" wins over "on_change": a reload that turns on_change off drops an
  // on_change run, not one someone asked for by hand.
  if (!in.follow_up || reason == "manual") {
    in.follow_up = reason;
    std::lock_guard held(m_held_mutex);
    m_held[address].waiting = reason;
  }
  return TriggerResult::coalesced;
}

SyncManager::TriggerResult SyncManager::trigger(const std::string& address,
                                                const std::string& reason) {
  std::optional<state::JobRecord> skip;
  TriggerResult result;
  {
    std::lock_guard lock(m_mutex);
    result = request_locked(address, reason, "", skip);
  }
  if (skip) m_runner.store_and_report(address, *skip);
  if (result == TriggerResult::coalesced) save_held(address);
  return result;
}

void SyncManager::save_held(const std::string& address) {
  std::string value;
  auto saved = m_writer.update([&](state::State& s) {
    std::lock_guard held(m_held_mutex);
    value = m_held[address].value();
    s.sync[address].held = value;
  });
  if (!saved.ok())
    spdlog::warn("sync instance={}: held run ({}) not saved: {}", address,
                 value.empty() ? "none" : value, saved.error());
}

std::optional<std::chrono::system_clock::time_point> SyncManager::next_due() const {
  std::lock_guard lock(m_mutex);
  return m_scheduler.next_due();
}

void SyncManager::tick(std::chrono::system_clock::time_point now) {
  std::vector<schedule::Scheduler::Due> due;
  std::vector<std::pair<std::string, schedule::TimePoint>> first_sights;
  std::vector<std::pair<std::string, std::string>> schedules;  // to record
  std::vector<std::string> sightings;                          // `since` to record
  {
    std::lock_guard lock(m_mutex);
    if (m_stop.load()) return;
    due = m_scheduler.run_due(now);
    first_sights = m_scheduler.take_first_sights();
    for (const auto& [address, desc] : m_schedule_desc)
      if (m_recorded_schedule[address] != desc) schedules.emplace_back(address, desc);
    for (const auto& [address, m] : m_managed)
      if (m.has_sync && m_since_known.count(address) == 0) sightings.push_back(address);
  }
  if (due.empty() && first_sights.empty() && schedules.empty() && sightings.empty()) return;
  // Persist the slots first: a crash after this neither re-runs nor skips them. First sights
  // too, so a restart or a new leader keeps the schedule's baseline.
  const std::string now_text = util::format_rfc3339(now);
  auto saved = m_writer.update([&](state::State& s) {
    for (const auto& [key, at] : first_sights) {
      auto& sync = s.sync[key];
      if (sync.last_slot.empty() && sync.first_seen.empty())
        sync.first_seen = util::format_rfc3339(at);
    }
    for (const auto& d : due) {
      auto& sync = s.sync[d.key];
      sync.last_slot = util::format_rfc3339(d.slot);
      sync.first_seen.clear();
    }
    for (const auto& [key, desc] : schedules) s.sync[key].schedule = desc;
    for (const auto& key : sightings) {
      auto& sync = s.sync[key];
      if (sync.since.empty()) sync.since = now_text;
    }
  });
  if (saved.ok()) {
    std::lock_guard lock(m_mutex);
    for (const auto& [key, desc] : schedules) m_recorded_schedule[key] = desc;
    for (const auto& key : sightings) m_since_known.insert(key);
  }
  if (due.empty()) {
    if (!saved.ok()) spdlog::warn("sync: schedule baselines not saved: {}", saved.error());
    return;
  }
  if (!saved.ok()) {
    // A slot runs at most once: one not recorded as taken is not run here (with the etcd
    // backend this is also how a node that lost its leadership stops triggering jobs).
    spdlog::error("sync: schedule slots not saved, {} run(s) not started: {}", due.size(),
                  saved.error());
    return;
  }
  spdlog::info("sync: {} scheduled run(s) due, their slots recorded", due.size());
  std::vector<std::pair<std::string, state::JobRecord>> skips;
  {
    std::lock_guard lock(m_mutex);
    for (const auto& d : due) {
      if (m_managed.count(d.key) == 0) continue;
      std::optional<state::JobRecord> skip;
      request_locked(d.key, "schedule", util::format_rfc3339(d.slot), skip);
      if (skip) skips.emplace_back(d.key, std::move(*skip));
    }
  }
  for (const auto& [address, record] : skips) m_runner.store_and_report(address, record);
}

void SyncManager::resume() {
  const state::State snapshot = m_writer.snapshot();
  const auto now = m_clock.now();
  std::vector<FollowTask> follows;
  std::vector<std::pair<std::string, std::vector<state::PendingTrigger>>> pending;
  std::vector<std::string> held, dropped;  // held runs (on_change, manual) kept from before
  {
    std::lock_guard lock(m_mutex);
    for (const auto& [address, ss] : snapshot.sync) {
      const auto [ns, id] = state::split_address(address);
      for (const auto& rj : ss.running) {
        if (ss.recorded(rj.job_id)) continue;
        api::Job job;
        job.id = rj.job_id;
        auto since = util::parse_rfc3339(rj.since);
        follows.push_back(m_runner.make_follow(ns, id, job, policy_of_locked(address), rj.trigger,
                                               rj.slot, since.value_or(now), &ss));
        if (!rj.cancelled_at.empty())
          follows.back().cancelled_at = util::parse_rfc3339(rj.cancelled_at);
      }
      if (!ss.triggers.empty()) pending.emplace_back(address, ss.triggers);
      if (!ss.held.empty()) {
        // A pending trigger of that reason is the held run on its way when the last owner
        // stopped: settling decides (its job found: done; none: held again).
        const bool on_its_way =
            std::any_of(ss.triggers.begin(), ss.triggers.end(),
                        [&](const state::PendingTrigger& t) { return t.trigger == ss.held; });
        std::lock_guard lock_held(m_held_mutex);
        if (on_its_way) {
          m_held[address].in_flight = ss.held;
        } else {
          m_inst[address].follow_up = ss.held;
          m_held[address].waiting = ss.held;
          held.push_back(address);
        }
      }
    }
    for (auto& f : follows) add_follow_locked(std::move(f), std::chrono::milliseconds(0));
    for (auto& [address, triggers] : pending) {
      Task task;
      task.kind = Task::Kind::settle;
      task.address = address;
      task.pending = std::move(triggers);
      m_inst[address].triggering = true;
      push_locked(m_clock.steady_now(), std::move(task));
    }
    // A held run whose job ended meanwhile starts now; the others when their job ends.
    for (const auto& address : held)
      if (after_locked(address)) dropped.push_back(address);
  }
  for (const auto& address : dropped) save_held(address);
  if (!follows.empty() || !pending.empty() || !held.empty())
    spdlog::info(
        "sync: resuming {} running job(s), settling {} unanswered trigger(s), {} held run(s)",
        follows.size(), pending.size(), held.size());
}

void SyncManager::observe_instances(const std::vector<api::Instance>& instances) {
  std::vector<std::string> newly_paused;
  {
    std::lock_guard lock(m_mutex);
    if (m_stop.load()) return;
    for (const auto& inst : instances) {
      const std::string address = inst.ns + "/" + inst.id;
      auto it = m_managed.find(address);
      if (it == m_managed.end()) continue;
      Inst& in = m_inst[address];
      if (it->second.scheduled && inst.paused) {
        if (!in.paused_reported) newly_paused.push_back(address);
        in.paused_reported = true;
      } else if (!inst.paused) {
        in.paused_reported = false;
      }
      const std::string activity = activity_of(inst);
      if (in.triggering || !in.jobs.empty() || in.observing) {
        in.rebaseline = true;  // our own work moves it
        continue;
      }
      if (in.seen_activity.empty() || in.rebaseline) {
        in.seen_activity = activity;
        in.rebaseline = false;
        continue;
      }
      if (activity == in.seen_activity) continue;
      in.seen_activity = activity;
      in.observing = true;
      Task task;
      task.kind = Task::Kind::observe;
      task.address = address;
      push_locked(m_clock.steady_now(), std::move(task));
    }
  }
  for (const auto& address : newly_paused) m_reporter.paused(address);
}

void SyncManager::observe_jobs(const std::string& address) {
  const auto [ns, id] = state::split_address(address);
  auto listed = m_client.list_jobs(ns, id, 1);
  if (!listed.ok()) {
    spdlog::debug("sync instance={}: job list failed: {}", address, listed.error().describe());
    return;
  }
  const state::State snapshot = m_writer.snapshot();
  const state::SyncState* ss = nullptr;
  if (auto it = snapshot.sync.find(address); it != snapshot.sync.end()) ss = &it->second;
  std::set<std::string> known;
  manifest::SyncSpec policy;
  {
    std::lock_guard lock(m_mutex);
    known = m_inst[address].jobs;
    policy = policy_of_locked(address);
  }
  if (ss) {
    if (!ss->last_job_id.empty()) known.insert(ss->last_job_id);
    for (const auto& r : ss->history)
      if (!r.job_id.empty()) known.insert(r.job_id);
    for (const auto& r : ss->running) known.insert(r.job_id);
  }
  // Newest first: a job not known that is newer than the oldest known job on the page is new
  // (also one between two of ours); older ones predate what aisearchd follows. With no known
  // job on the page, the whole page is new; with nothing known at all, only the newest job is
  // taken (older ones predate aisearchd).
  const auto& page = listed.value();
  std::size_t oldest_known = page.size();
  for (std::size_t i = 0; i < page.size(); ++i)
    if (known.count(page[i].id) != 0) oldest_known = i;
  std::vector<api::Job> fresh;
  for (std::size_t i = 0; i < page.size() && i <= oldest_known; ++i) {
    const auto& job = page[i];
    if (known.count(job.id) != 0) continue;
    fresh.push_back(job);
    if (known.empty()) break;
  }
  const auto now = m_clock.now();
  for (auto it = fresh.rbegin(); it != fresh.rend(); ++it) {
    if (m_stop.load()) return;
    if (it->pending()) continue;  // seen again once it starts
    FollowTask f =
        m_runner.make_follow(ns, id, *it, policy, trigger_of(*it), "", started_or(*it, now), ss);
    if (it->finished()) {
      m_runner.finish(f);
      continue;
    }
    m_runner.save_running(f);
    const auto delay = m_runner.first_wait(f);
    std::lock_guard lock(m_mutex);
    add_follow_locked(std::move(f), delay);
  }
}

void SyncManager::settle(const std::string& address,
                         const std::vector<state::PendingTrigger>& pending) {
  const auto [ns, id] = state::split_address(address);
  auto listed = m_client.list_jobs(ns, id, 1);
  if (!listed.ok()) {
    spdlog::warn("sync instance={}: cannot list jobs to settle {} unanswered trigger(s): {}",
                 address, pending.size(), listed.error().describe());
    std::lock_guard lock(m_mutex);
    Task task;
    task.kind = Task::Kind::settle;
    task.address = address;
    task.pending = pending;
    push_locked(m_clock.steady_now() + m_runner.options().poll_max, std::move(task));
    return;
  }
  const state::State snapshot = m_writer.snapshot();
  const state::SyncState* ss = nullptr;
  if (auto it = snapshot.sync.find(address); it != snapshot.sync.end()) ss = &it->second;
  manifest::SyncSpec policy;
  {
    std::lock_guard lock(m_mutex);
    policy = policy_of_locked(address);
  }
  const auto now = m_clock.now();
  bool held_made_job = false, held_made_none = false;  // on_change/manual triggers settled
  for (const auto& t : pending) {
    const std::string mark = "trigger " + t.trigger_id;
    const api::Job* found = nullptr;
    for (const auto& job : listed.value())
      if (job.description && job.description->find(mark) != std::string::npos) found = &job;
    if (t.trigger != "schedule") (found ? held_made_job : held_made_none) = true;
    if (!found) {
      spdlog::warn(
          "sync instance={}: trigger {} ({}{}) made no job before the last owner stopped; not "
          "sent again (at most one job per slot)",
          address, t.trigger_id, t.trigger, t.slot.empty() ? "" : " slot " + t.slot);
      // Recorded, so the slot does not vanish: it ran no job.
      state::JobRecord r;
      r.outcome = "skipped";
      r.end_reason = "no_job_made";
      r.trigger = t.trigger;
      r.slot = t.slot;
      r.started_at = t.at;
      m_runner.store_and_report(address, r);
      continue;
    }
    if (ss && ss->recorded(found->id)) continue;
    FollowTask f = m_runner.make_follow(ns, id, *found, policy, t.trigger, t.slot,
                                        util::parse_rfc3339(t.at).value_or(now), ss);
    if (found->finished()) {
      m_runner.finish(f);
      continue;
    }
    m_runner.save_running(f);
    std::lock_guard lock(m_mutex);
    add_follow_locked(std::move(f), std::chrono::milliseconds(0));
  }
  {
    // A held run whose trigger made no job is held again (it runs once the engine is idle);
    // one whose trigger made its job is done.
    std::lock_guard lock(m_mutex);
    std::lock_guard held(m_held_mutex);
    auto& h = m_held[address];
    if (!h.in_flight.empty()) {
      Inst& in = m_inst[address];
      if (held_made_none && !held_made_job && !in.follow_up) {
        in.follow_up = h.in_flight;
        h.waiting = h.in_flight;
      }
      h.in_flight.clear();
    }
  }
  auto saved = m_writer.update([&](state::State& s) {
    auto& sync = s.sync[address];
    for (const auto& t : pending)
      std::erase_if(sync.triggers,
                    [&](const state::PendingTrigger& p) { return p.trigger_id == t.trigger_id; });
    std::lock_guard held(m_held_mutex);
    sync.held = m_held[address].value();
  });
  if (!saved.ok()) spdlog::warn("sync instance={}: state not saved: {}", address, saved.error());
}

bool SyncManager::after_locked(const std::string& address) {
  Inst& in = m_inst[address];
  if (in.triggering || !in.jobs.empty() || !in.follow_up || m_stop.load()) return false;
  const std::string reason = *in.follow_up;
  in.follow_up.reset();
  {
    // State keeps saying `held` until the run's trigger is saved (or it ends without one).
    std::lock_guard held(m_held_mutex);
    auto& h = m_held[address];
    h.waiting.clear();
    h.in_flight = reason;
  }
  // The manifest may have changed while the job ran: a suspended schedule (or on_change turned
  // off, or the instance gone from the manifest) stops a held trigger too.
  auto it = m_managed.find(address);
  const bool managed = it != m_managed.end() && it->second.has_sync;
  if (m_left_alone.count(address) || (managed && it->second.spec.suspend) ||
      (reason == "on_change" && (!managed || !it->second.spec.on_change))) {
    spdlog::info("sync instance={}: held {} trigger dropped (sync suspended or changed)", address,
                 reason);
    std::lock_guard held(m_held_mutex);
    m_held[address].in_flight.clear();
    return true;
  }
  start_trigger_locked(
      address, reason, "",
      policy_of_locked(address).concurrency == manifest::SyncSpec::Concurrency::forbid);
  return false;
}

void SyncManager::execute(Task& task) {
  const std::string& address = task.address;
  switch (task.kind) {
    case Task::Kind::trigger: {
      Step step = m_runner.trigger_step(*task.trigger);
      std::optional<FollowTask> other;  // a running job found by the forbid check
      bool dropped = false;
      // An on_change or manual run that found a job running: held for that job's end.
      const bool held = !step.record && step.follow.has_value() && task.trigger->hold_while_running;
      {
        std::lock_guard lock(m_mutex);
        Inst& in = m_inst[address];
        if (step.kind == Step::Kind::again) {
          if (!m_stop.load()) push_locked(m_clock.steady_now() + step.delay, std::move(task));
          return;
        }
        in.triggering = false;
        if (step.kind == Step::Kind::follow) {
          add_follow_locked(std::move(*step.follow), step.delay);
          return;
        }
        {
          // Ended without a saved trigger (held again, failed, skipped) or with one: either
          // way this run is no longer on its way.
          std::lock_guard lock_held(m_held_mutex);
          auto& h = m_held[address];
          h.in_flight.clear();
          if (held && !in.follow_up) {
            in.follow_up = task.trigger->trigger;
            h.waiting = *in.follow_up;
          }
        }
        if (step.follow && in.jobs.count(step.follow->job.id) == 0) other = std::move(step.follow);
        if (!other) dropped = after_locked(address);
      }
      if (task.trigger->trigger != "schedule" || dropped) save_held(address);
      if (other) {
        // Someone else's job: followed and reported when it ends.
        m_runner.save_running(*other);
        std::lock_guard lock(m_mutex);
        const auto delay = m_runner.first_wait(*other);
        add_follow_locked(std::move(*other), delay);
      }
      return;
    }
    case Task::Kind::poll: {
      Step step = m_runner.poll_step(*task.follow);
      std::unique_lock lock(m_mutex);
      Inst& in = m_inst[address];
      if (step.kind == Step::Kind::again) {
        if (!m_stop.load()) push_locked(m_clock.steady_now() + step.delay, std::move(task));
        return;
      }
      in.jobs.erase(task.follow->job.id);
      const bool superseded_by_someone = step.record &&
                                         step.record->outcome == to_string(Outcome::superseded) &&
                                         in.jobs.empty() && !in.triggering;
      if (superseded_by_someone && !in.observing && !m_stop.load()) {
        // A newer job we did not start: find it and follow it.
        in.observing = true;
        Task observe;
        observe.kind = Task::Kind::observe;
        observe.address = address;
        push_locked(m_clock.steady_now(), std::move(observe));
      }
      if (after_locked(address)) {
        lock.unlock();
        save_held(address);
      }
      return;
    }
    case Task::Kind::observe: {
      observe_jobs(address);
      std::unique_lock lock(m_mutex);
      m_inst[address].observing = false;
      if (after_locked(address)) {
        lock.unlock();
        save_held(address);
      }
      return;
    }
    case Task::Kind::settle: {
      settle(address, task.pending);
      std::unique_lock lock(m_mutex);
      m_inst[address].triggering = false;
      if (after_locked(address)) {
        lock.unlock();
        save_held(address);
      }
      return;
    }
  }
}

void SyncManager::worker() {
  std::unique_lock lock(m_mutex);
  for (;;) {
    if (m_stop.load()) return;
    if (m_tasks.empty()) {
      m_cv.wait(lock);
      continue;
    }
    auto it = m_tasks.begin();
    const auto now = m_clock.steady_now();
    if (it->first > now) {
      const auto due = it->first;
      const auto wait = std::min<std::chrono::steady_clock::duration>(due - now, 1s);
      if (m_cv.wait_for(lock, wait) == std::cv_status::timeout && !m_stop.load() &&
          m_clock.steady_now() == now && !m_tasks.empty() && m_tasks.begin()->first == due) {
        // The clock did not move while real time passed: a manual clock (a test's). Move it
        // to the task, as the daemon's clock would have.
        lock.unlock();
        m_clock.sleep_for(std::chrono::ceil<std::chrono::milliseconds>(due - now));
        lock.lock();
      }
      continue;
    }
    Task task = std::move(it->second);
    m_tasks.erase(it);
    ++m_running_tasks;
    lock.unlock();
    try {
      execute(task);
    } catch (const std::exception& e) {
      spdlog::error("sync instance={}: {}", task.address, e.what());
    }
    lock.lock();
    --m_running_tasks;
  }
}

std::size_t SyncManager::run_due_work() {
  std::size_t ran = 0;
  for (;;) {
    Task task;
    {
      std::lock_guard lock(m_mutex);
      if (m_stop.load() || m_tasks.empty()) break;
      auto it = m_tasks.begin();
      if (it->first > m_clock.steady_now()) break;
      task = std::move(it->second);
      m_tasks.erase(it);
      ++m_running_tasks;
    }
    try {
      execute(task);
    } catch (const std::exception& e) {
      spdlog::error("sync instance={}: {}", task.address, e.what());
    }
    {
      std::lock_guard lock(m_mutex);
      --m_running_tasks;
    }
    ++ran;
  }
  return ran;
}

std::optional<util::Clock::SteadyTime> SyncManager::next_work() const {
  std::lock_guard lock(m_mutex);
  if (m_tasks.empty()) return std::nullopt;
  return m_tasks.begin()->first;
}

void SyncManager::stop(std::chrono::milliseconds deadline) {
  (void)deadline;  // each worker finishes the one request it is sending
  {
    std::lock_guard lock(m_mutex);
    m_stop = true;
    m_tasks.clear();
  }
  m_cv.notify_all();
  for (auto& t : m_threads) {
    if (t.joinable()) t.join();
  }
  m_threads.clear();
  std::lock_guard lock(m_mutex);
  m_inst.clear();  // followed jobs stay recorded as running in state
}

bool SyncManager::idle() const {
  std::lock_guard lock(m_mutex);
  if (m_running_tasks != 0) return false;
  for (const auto& [address, in] : m_inst) {
    if (in.triggering || !in.jobs.empty() || in.observing) return false;
  }
  return true;
}

std::vector<std::string> SyncManager::paused() const {
  std::lock_guard lock(m_mutex);
  std::vector<std::string> out;
  for (const auto& [address, in] : m_inst) {
    if (in.paused_reported) out.push_back(address);
  }
  return out;
}

bool SyncManager::triggers_answered() const {
  std::lock_guard lock(m_mutex);
  if (m_running_tasks != 0) return false;
  for (const auto& [address, in] : m_inst) {
    if (in.triggering) return false;
  }
  return true;
}

std::vector<std::string> SyncManager::active() const {
  std::lock_guard lock(m_mutex);
  std::vector<std::string> out;
  for (const auto& [address, in] : m_inst) {
    if (in.triggering || !in.jobs.empty()) out.push_back(address);
  }
  return out;
}

std::size_t SyncManager::following() const {
  std::lock_guard lock(m_mutex);
  std::size_t n = 0;
  for (const auto& [address, in] : m_inst) n += in.jobs.size();
  return n;
}

std::vector<std::string> SyncManager::schedule_problems() const {
  std::lock_guard lock(m_mutex);
  return m_schedule_problems;
}

}  // namespace jobs
