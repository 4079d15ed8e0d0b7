#include "cli/apply_syncs.hpp"

#include <algorithm>
#include <map>

#include "jobs/reporter.hpp"
#include "jobs/runner.hpp"
#include "jobs/sync_manager.hpp"

namespace cli {

namespace {

// Keeps the skipped records (the only outcomes a trigger alone produces); says nothing.
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
  if (changed.empty()) return out;
  SkipCollector reporter;
  jobs::Runner runner(client, clock, writer, reporter, jobs::FollowOptions{});
  jobs::SyncManagerOptions options;
  options.workers = 0;  // driven on this thread below
  jobs::SyncManager manager(runner, client, clock, writer, reporter, options);
  manager.set_manifest(manifest);
  const state::State before = writer.snapshot();

  std::vector<std::string> asked;
  for (const auto& address : changed) {
    if (manager.trigger(address, "on_change") != jobs::SyncManager::TriggerResult::ignored)
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
    for (const auto& r : is.running) {
      if (r.trigger == "on_change" && !has_job(was, r.job_id)) s.job_id = r.job_id;
    }
    if (!s.job_id.empty()) {
      s.result = "started";
    } else if (is.held == "on_change" || is.held == "manual") {
      s.result = "held";
      s.detail =
          "a job of the instance is running (concurrency: forbid): the run is saved in "
          "state and the daemon starts it when that job ends";
    } else if (auto k = skipped.find(address); k != skipped.end()) {
      s.result = "skipped";
      s.detail = k->second.end_reason.empty() ? k->second.outcome : k->second.end_reason;
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
  std::string line = "sync " + s.address + " (on_change): " + s.result;
  if (!s.job_id.empty()) line += ", job " + s.job_id;
  if (!s.detail.empty()) line += " (" + s.detail + ")";
  return line;
}

nlohmann::json to_json(const OnChangeSync& s) {
  return {{"address", s.address},
          {"trigger", "on_change"},
          {"result", s.result},
          {"job_id", s.job_id.empty() ? nlohmann::json() : nlohmann::json(s.job_id)},
          {"detail", s.detail.empty() ? nlohmann::json() : nlohmann::json(s.detail)}};
}

}  // namespace cli
