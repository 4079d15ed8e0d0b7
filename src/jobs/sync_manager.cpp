#include "jobs/sync_manager.hpp"

#include <set>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "util/time_format.hpp"

namespace jobs {
namespace {

std::pair<std::string, std::string> split_address(const std::string& address) {
  const auto slash = address.find('/');
  if (slash == std::string::npos) return {"", address};
  return {address.substr(0, slash), address.substr(slash + 1)};
}

// What moves when a job starts or ends: last_activity, else status and modified_at.
std::string activity_of(const api::Instance& instance) {
  std::string out;
  auto it = instance.raw.find("last_activity");
  if (it != instance.raw.end() && !it->is_null()) {
    out = it->is_string() ? it->get<std::string>() : it->dump();
  }
  return out + "|" + instance.status + "|" + instance.modified_at;
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
  const int n = std::max(1, m_options.workers);
  for (int i = 0; i < n; ++i) m_threads.emplace_back([this] { worker(); });
}

SyncManager::~SyncManager() {
  stop(std::chrono::milliseconds(0));
}

void SyncManager::set_manifest(const manifest::Manifest& manifest) {
  std::map<std::string, Managed> managed;
  std::vector<schedule::Entry> entries;
  for (const auto& [ns_name, ns] : manifest.namespaces) {
    for (const auto& [id, inst] : ns.instances) {
      if (ns.suspend || inst.suspend) continue;
      Managed m;
      const std::string address = inst.address();
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
          m.scheduled = true;
          entries.push_back({address, spec->value(), sync.suspend});
        } else if (spec) {
          spdlog::error("sync instance={}: schedule not usable: {}", address, spec->error());
        }
      }
      managed.emplace(address, std::move(m));
    }
  }
  const state::State snapshot = m_writer.snapshot();
  std::lock_guard lock(m_mutex);
  m_managed = std::move(managed);
  m_scheduler.set_entries(entries);
  for (const auto& e : entries) {
    auto it = snapshot.sync.find(e.key);
    if (it == snapshot.sync.end()) continue;
    if (!it->second.last_slot.empty()) {
      if (auto t = util::parse_rfc3339(it->second.last_slot))
        m_scheduler.restore_last_slot(e.key, *t);
    } else if (!it->second.first_seen.empty()) {
      if (auto t = util::parse_rfc3339(it->second.first_seen))
        m_scheduler.restore_first_seen(e.key, *t);
    }
  }
  for (auto it = m_slots.begin(); it != m_slots.end();) {
    const bool busy = it->second.queued || it->second.running;
    if (!busy && m_managed.count(it->first) == 0) {
      it = m_slots.erase(it);
    } else {
      ++it;
    }
  }
}

SyncManager::TriggerResult SyncManager::trigger(const std::string& address,
                                                const std::string& reason) {
  std::lock_guard lock(m_mutex);
  if (m_stop.load()) return TriggerResult::ignored;
  auto it = m_managed.find(address);
  if (it == m_managed.end() || !it->second.has_sync) {
    if (reason != "manual" || split_address(address).first.empty()) return TriggerResult::ignored;
  } else if (reason == "on_change" && !it->second.spec.on_change) {
    return TriggerResult::ignored;
  }
  const bool coalesced = m_slots[address].queued || m_slots[address].running;
  enqueue_locked(address, reason);
  return coalesced ? TriggerResult::coalesced : TriggerResult::queued;
}

void SyncManager::enqueue_locked(const std::string& address, const std::string& reason,
                                 const std::string& schedule_slot) {
  Slot& slot = m_slots[address];
  if (slot.queued || slot.running) {
    // One follow-up at most; a real trigger outranks an observation.
    if (!slot.pending || *slot.pending == "observe") {
      slot.pending = reason;
      slot.pending_slot = schedule_slot;
    }
    return;
  }
  slot.queued = true;
  m_queue.push_back({address, reason, schedule_slot});
  m_cv.notify_one();
}

std::optional<std::chrono::system_clock::time_point> SyncManager::next_due() const {
  std::lock_guard lock(m_mutex);
  return m_scheduler.next_due();
}

void SyncManager::tick(std::chrono::system_clock::time_point now) {
  std::vector<schedule::Scheduler::Due> due;
  std::vector<std::pair<std::string, schedule::TimePoint>> first_sights;
  {
    std::lock_guard lock(m_mutex);
    if (m_stop.load()) return;
    due = m_scheduler.run_due(now);
    first_sights = m_scheduler.take_first_sights();
  }
  if (due.empty() && first_sights.empty()) return;
  // Persist the slots first: a crash after this neither re-runs nor skips them. First sights
  // too, so a restart or a new leader keeps the schedule's baseline.
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
  });
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
  std::lock_guard lock(m_mutex);
  for (const auto& d : due) {
    if (m_managed.count(d.key) == 0) continue;
    enqueue_locked(d.key, "schedule", util::format_rfc3339(d.slot));
  }
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
      Slot& slot = m_slots[address];
      if (it->second.scheduled && inst.paused) {
        if (!slot.paused_reported) newly_paused.push_back(address);
        slot.paused_reported = true;
      } else if (!inst.paused) {
        slot.paused_reported = false;
      }
      const std::string activity = activity_of(inst);
      if (slot.queued || slot.running) {
        slot.rebaseline = true;  // our own work moves it
        continue;
      }
      if (slot.seen_activity.empty() || slot.rebaseline) {
        slot.seen_activity = activity;
        slot.rebaseline = false;
        continue;
      }
      if (activity == slot.seen_activity) continue;
      slot.seen_activity = activity;
      enqueue_locked(address, "observe");
    }
  }
  for (const auto& address : newly_paused) m_reporter.paused(address);
}

void SyncManager::observe_jobs(const std::string& ns, const std::string& id,
                               const manifest::SyncSpec& policy) {
  const std::string address = ns + "/" + id;
  auto listed = m_client.list_jobs(ns, id, 1);
  if (!listed.ok()) {
    spdlog::debug("sync instance={}: job list failed: {}", address, listed.error().describe());
    return;
  }
  std::set<std::string> known;
  {
    const state::State snapshot = m_writer.snapshot();
    if (auto it = snapshot.sync.find(address); it != snapshot.sync.end()) {
      if (!it->second.last_job_id.empty()) known.insert(it->second.last_job_id);
      for (const auto& r : it->second.history) {
        if (!r.job_id.empty()) known.insert(r.job_id);
      }
    }
  }
  // Newest first: everything before the first known job is new. With nothing known, only the
  // newest job is taken (older ones predate aisearchd).
  std::vector<api::Job> fresh;
  for (const auto& job : listed.value()) {
    if (known.count(job.id) != 0) break;
    fresh.push_back(job);
    if (known.empty()) break;
  }
  for (auto it = fresh.rbegin(); it != fresh.rend(); ++it) {
    if (m_stop.load()) return;
    if (it->pending()) continue;  // seen again once it starts
    const std::string trigger = it->source == "schedule" ? "cloudflare" : "external";
    m_runner.follow_existing(ns, id, *it, policy, trigger, &m_stop);
  }
}

void SyncManager::execute(const Work& work) {
  const auto [ns, id] = split_address(work.address);
  manifest::SyncSpec policy;
  {
    std::lock_guard lock(m_mutex);
    auto it = m_managed.find(work.address);
    if (it == m_managed.end() && work.reason != "manual") return;  // left the manifest
    if (it != m_managed.end()) policy = it->second.spec;
  }
  if (work.reason == "observe") {
    observe_jobs(ns, id, policy);
  } else {
    m_runner.run(ns, id, policy, work.reason, true, &m_stop, work.slot);
  }
}

void SyncManager::worker() {
  std::unique_lock lock(m_mutex);
  for (;;) {
    m_cv.wait(lock, [&] { return m_stop.load() || !m_queue.empty(); });
    if (m_stop.load()) return;
    Work work = std::move(m_queue.front());
    m_queue.pop_front();
    Slot& slot = m_slots[work.address];
    slot.queued = false;
    slot.running = true;
    lock.unlock();
    try {
      execute(work);
    } catch (const std::exception& e) {
      spdlog::error("sync instance={}: {}", work.address, e.what());
    }
    lock.lock();
    Slot& after = m_slots[work.address];
    after.running = false;
    after.rebaseline = true;
    if (after.pending && !m_stop.load()) {
      const std::string reason = *after.pending;
      const std::string pending_slot = std::move(after.pending_slot);
      after.pending.reset();
      after.pending_slot.clear();
      enqueue_locked(work.address, reason, pending_slot);
    }
  }
}

void SyncManager::stop(std::chrono::milliseconds deadline) {
  (void)deadline;  // follows notice the stop within FollowOptions::wait_slice
  {
    std::lock_guard lock(m_mutex);
    m_stop = true;
    m_queue.clear();
  }
  m_cv.notify_all();
  for (auto& t : m_threads) {
    if (t.joinable()) t.join();
  }
  m_threads.clear();
}

bool SyncManager::idle() const {
  std::lock_guard lock(m_mutex);
  if (!m_queue.empty()) return false;
  for (const auto& [address, slot] : m_slots) {
    if (slot.queued || slot.running) return false;
  }
  return true;
}

std::vector<std::string> SyncManager::active() const {
  std::lock_guard lock(m_mutex);
  std::vector<std::string> out;
  for (const auto& [address, slot] : m_slots) {
    if (slot.queued || slot.running) out.push_back(address);
  }
  return out;
}

}  // namespace jobs
