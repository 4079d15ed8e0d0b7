#include "cli/apply_syncs.hpp"

#include <algorithm>
#include <map>
#include <mutex>

#include "jobs/reporter.hpp"
#include "jobs/runner.hpp"
#include "jobs/sync_manager.hpp"

namespace cli {

namespace {

// Keeps the last outcome recorded per instance (skipped ones, and jobs that ended while apply
// still waited for another trigger); says nothing.
class OutcomeCollector final : public jobs::Reporter {
 public:
  void outcome(const std::string& address, const state::JobRecord& record) override {
    std::lock_guard lock(m_mutex);
    m_records[address] = record;
  }
  void stalled(const std::string&, const std::string&) override {}
  std::map<std::string, state::JobRecord> records() const {
    std::lock_guard lock(m_mutex);
    return m_records;
  }

 private:
  mutable std::mutex m_mutex;
  std::map<std::string, state::JobRecord> m_records;
};

bool has_job(const state::SyncState& s, const std::string& job_id) {
  return std::any_of(s.running.begin(), s.running.end(),
                     [&](const state::RunningJob& r) { return r.job_id == job_id; });
}

}  // namespace

std::vector<OnChangeSync> trigger_on_change_syncs(const std::set<std::string>& changed,
                                                  const manifest::Manifest& manifest,
                                                  api::Client& client, util::Clock& clock,
                                                  state::StateWriter& writer,
                                                  std::chrono::milliseconds max_wait,
                                                  bool resume_recorded) {
  std::vector<OnChangeSync> out;
  const state::State before = writer.snapshot();
  // What state holds from earlier runs: held runs, unanswered triggers, jobs still recorded as
  // running. With `resume_recorded` they are taken up as the daemon takes them up at start.
  std::map<std::string, std::string> held_before;
  bool recorded = false;
  for (const auto& [address, sync] : before.sync) {
    if (!sync.held.empty()) held_before[address] = sync.held;
    recorded = recorded || !sync.held.empty() || !sync.triggers.empty() || !sync.running.empty();
  }
  if (changed.empty() && !(resume_recorded && recorded)) return out;
  OutcomeCollector reporter;
  jobs::Runner runner(client, clock, writer, reporter, jobs::FollowOptions{});
  jobs::SyncManagerOptions options;
  options.workers = 0;  // driven on this thread below
  jobs::SyncManager manager(runner, client, clock, writer, reporter, options);
  manager.set_manifest(manifest);
  // The daemon's start-up path: an unanswered trigger is settled from the job list (never sent
  // again), a recorded job is followed (its outcome recorded once it has ended), a held run
  // whose job has ended starts now.
  if (resume_recorded) manager.resume();

  std::map<std::string, std::string> reasons;
  if (resume_recorded) reasons = held_before;
  for (const auto& address : changed) {
    if (manager.trigger(address, "on_change") != jobs::SyncManager::TriggerResult::ignored &&
        !reasons.count(address))
      reasons[address] = "on_change";
  }
  // Run what is due now (triggers, settling, polls of jobs that ended long ago) until every
  // trigger is answered and nothing more is due within a moment; jobs still running are left
  // recorded for the daemon or the next apply. A cooldown is waited out up to `max_wait`.
  const auto deadline = clock.steady_now() + max_wait;
  for (;;) {
    manager.run_due_work();
    const auto now = clock.steady_now();
    const auto next = manager.next_work();
    const bool imminent = next && *next <= now + std::chrono::seconds(2);
    if ((manager.triggers_answered() && !imminent) || !next || now >= deadline) break;
    auto wait =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::min(*next, deadline) - now);
    clock.sleep_for(
        std::clamp(wait, std::chrono::milliseconds(1), std::chrono::milliseconds(1000)));
  }
  manager.stop(std::chrono::milliseconds(0));

  const state::State after = writer.snapshot();
  const auto records = reporter.records();
  for (const auto& [address, trigger] : reasons) {
    OnChangeSync s;
    s.address = address;
    s.trigger = trigger;
    const state::SyncState none;
    auto b = before.sync.find(address);
    auto a = after.sync.find(address);
    const state::SyncState& was = b == before.sync.end() ? none : b->second;
    const state::SyncState& is = a == after.sync.end() ? none : a->second;
    const auto known_before = [&](const std::string& job_id) {
      return job_id.empty() || has_job(was, job_id) || was.recorded(job_id) != nullptr;
    };
    for (const auto& r : is.running) {
      if ((r.trigger == "on_change" || r.trigger == "manual") && !known_before(r.job_id))
        s.job_id = r.job_id;
    }
    const auto record = records.find(address);
    if (!s.job_id.empty()) {
      s.result = "started";
    } else if (record != records.end() && record->second.outcome != "skipped" &&
               (record->second.trigger == "on_change" || record->second.trigger == "manual") &&
               !known_before(record->second.job_id)) {
      // Its job started and already ended while apply waited for another trigger.
      s.result = "started";
      s.job_id = record->second.job_id;
      s.detail = "already ended: " + record->second.outcome;
    } else if (!is.held.empty()) {
      s.result = "held";
      s.detail =
          "a job of the instance is running (concurrency: forbid): the run is saved in state; "
          "the daemon, or the next apply, starts it when that job has ended";
    } else if (record != records.end() && record->second.outcome == "skipped") {
      s.result = "skipped";
      s.detail =
          record->second.end_reason.empty() ? record->second.outcome : record->second.end_reason;
    } else if (!is.triggers.empty()) {
      s.result = "waiting";
      s.detail =
          "the trigger was not answered in time; it is saved in state and settled by "
          "the daemon or the next apply";
    } else if (was.held.empty() || !is.held.empty()) {
      s.result = "skipped";
      s.detail = "no job was started";
    } else {
      // A held run that settling found already made (its job recorded) or that was dropped.
      s.result = "settled";
      s.detail = "no longer held: its job was found, or the manifest no longer asks for it";
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::string to_text(const OnChangeSync& s) {
  std::string line = "sync " + s.address + " (" + s.trigger + "): " + s.result;
  if (!s.job_id.empty()) line += ", job " + s.job_id;
  if (!s.detail.empty()) line += " (" + s.detail + ")";
  return line;
}

nlohmann::json to_json(const OnChangeSync& s) {
  return {{"address", s.address},
          {"trigger", s.trigger},
          {"result", s.result},
          {"job_id", s.job_id.empty() ? nlohmann::json() : nlohmann::json(s.job_id)},
          {"detail", s.detail.empty() ? nlohmann::json() : nlohmann::json(s.detail)}};
}

}  // namespace cli
