#include "cli/apply_syncs.hpp"

#include <algorithm>
#include <map>

#include "jobs/reporter.hpp"
#include "jobs/runner.hpp"
#include "jobs/sync_manager.hpp"

namespace cli {

namespace {

// Keeps the last outcome recorded per instance (skipped ones, and jobs that ended while apply
// still waited for another trigger); says nothing.
class SkipCollector final : public jobs::Reporter {
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
                                                  std::chrono::milliseconds max_wait) {
  std::vector<OnChangeSync> out;
  const state::State before = writer.snapshot();
  const bool any_held = std::any_of(before.sync.begin(), before.sync.end(),
                                    [](const auto& s) { return !s.second.held.empty(); });
  if (changed.empty() && !any_held) return out;
  SkipCollector reporter;
  jobs::Runner runner(client, clock, writer, reporter, jobs::FollowOptions{});
  jobs::SyncManagerOptions options;
  options.workers = 0;  // driven on this thread below
  jobs::SyncManager manager(runner, client, clock, writer, reporter, options);
  manager.set_manifest(manifest);

  // What to trigger: the runs of what changed, and the runs an earlier apply held (a job of the
  // instance ran then) that no daemon has started since: this apply starts them now, or holds
  // them again while a job still runs.
  std::map<std::string, std::string> reasons;
  for (const auto& address : changed) reasons[address] = "on_change";
  for (const auto& [address, sync] : before.sync) {
    if (sync.held == "manual" || (sync.held == "on_change" && !reasons.count(address)))
      reasons[address] = sync.held;
  }
  std::vector<std::string> asked;
  for (const auto& [address, reason] : reasons) {
    if (manager.trigger(address, reason) != jobs::SyncManager::TriggerResult::ignored)
      asked.push_back(address);
  }
  const auto deadline = clock.steady_now() + max_wait;
  while (!manager.triggers_answered()) {
    manager.run_due_work();
    if (manager.triggers_answered()) break;
    const auto now = clock.steady_now();
    const auto next = manager.next_work();
    if (!next || now >= deadline) break;
    auto wait =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::min(*next, deadline) - now);
    clock.sleep_for(
        std::clamp(wait, std::chrono::milliseconds(1), std::chrono::milliseconds(1000)));
  }
  manager.stop(std::chrono::milliseconds(0));

  const state::State after = writer.snapshot();
  const auto skipped = reporter.records();
  for (const auto& address : asked) {
    OnChangeSync s;
    s.address = address;
    const state::SyncState none;
    auto b = before.sync.find(address);
    auto a = after.sync.find(address);
    const state::SyncState& was = b == before.sync.end() ? none : b->second;
    const state::SyncState& is = a == after.sync.end() ? none : a->second;
    s.trigger = reasons[address];
    for (const auto& r : is.running) {
      if (r.trigger == s.trigger && !has_job(was, r.job_id)) s.job_id = r.job_id;
    }
    const auto record = skipped.find(address);
    if (!s.job_id.empty()) {
      s.result = "started";
    } else if (record != skipped.end() && record->second.outcome != "skipped" &&
               !record->second.job_id.empty()) {
      // Its job started and already ended while apply waited for another trigger.
      s.result = "started";
      s.job_id = record->second.job_id;
      s.detail = "already ended: " + record->second.outcome;
    } else if (is.held == "on_change" || is.held == "manual") {
      s.result = "held";
      s.detail =
          "a job of the instance is running (concurrency: forbid): the run is saved in "
          "state and the daemon starts it when that job ends";
    } else if (record != skipped.end()) {
      s.result = "skipped";
      s.detail =
          record->second.end_reason.empty() ? record->second.outcome : record->second.end_reason;
    } else if (!is.triggers.empty()) {
      s.result = "waiting";
      s.detail =
          "the trigger was not answered in time; it is saved in state and settled by "
          "the daemon or the next apply";
    } else {
      s.result = "skipped";
      s.detail = "no job was started";
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
