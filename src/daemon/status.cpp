#include "daemon/status.hpp"

#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "jobs/freshness.hpp"
#include "schedule/spec.hpp"
#include "util/time_format.hpp"

namespace service {

std::optional<std::chrono::system_clock::time_point> next_sync_due(
    const std::string& address, const manifest::SyncSpec& sync, const state::State& state,
    std::chrono::system_clock::time_point now) {
  if (sync.suspend) return std::nullopt;
  std::optional<util::Result<schedule::Spec, std::string>> spec;
  if (sync.schedule)
    spec = schedule::Spec::cron(*sync.schedule, sync.timezone, sync.jitter);
  else if (sync.every)
    spec = schedule::Spec::every(*sync.every, sync.jitter);
  if (!spec || !spec->ok()) return std::nullopt;
  auto base = now;
  auto it = state.sync.find(address);
  if (it != state.sync.end() && !it->second.last_slot.empty())
    if (auto t = util::parse_rfc3339(it->second.last_slot)) base = *t;
  auto slot = spec->value().next_slot(base);
  if (!slot) return std::nullopt;
  return *slot + spec->value().jitter_for(address);
}

nlohmann::json instances_status(const manifest::Manifest* manifest, const state::State& state,
                                std::chrono::system_clock::time_point now) {
  struct Row {
    const manifest::InstanceSpec* spec = nullptr;
    bool suspended = false;
    std::string ns, id;
  };
  std::map<std::string, Row> rows;
  if (manifest) {
    for (const auto& [ns_name, ns] : manifest->namespaces)
      for (const auto& [id, inst] : ns.instances)
        rows[inst.address()] = {&inst, ns.suspend || inst.suspend, ns_name, id};
  }
  for (const auto& [address, owned] : state.owned)
    if (!rows.count(address)) rows[address] = {nullptr, false, owned.ns, owned.id};
  // Remote instances the last reconcile saw and aisearchd does not manage.
  std::set<std::string> unmanaged;
  if (state.observation) {
    for (const auto& address : state.observation->unmanaged) {
      const auto [ns, id] = state::split_address(address);
      if (ns.empty() || rows.count(address)) continue;
      unmanaged.insert(address);
      rows[address] = {nullptr, false, ns, id};
    }
  }

  nlohmann::json out = nlohmann::json::array();
  for (const auto& [address, row] : rows) {
    nlohmann::json j;
    j["namespace"] = row.ns;
    j["id"] = row.id;
    j["address"] = address;
    const auto* owned = state.find(row.ns, row.id);
    j["owned"] = owned != nullptr;
    j["in_manifest"] = row.spec != nullptr;
    j["unmanaged"] = unmanaged.count(address) > 0;
    // The fields the last reconcile found drifted (corrected, or reported under drift: report).
    j["drift"] = nlohmann::json::array();
    if (state.observation) {
      if (auto d = state.observation->drift.find(address); d != state.observation->drift.end())
        j["drift"] = d->second;
    }
    j["suspended"] = row.suspended;
    j["protect"] = (owned && owned->protect) || (row.spec && row.spec->protect);
    const state::SyncState* sync = nullptr;
    if (auto it = state.sync.find(address); it != state.sync.end()) sync = &it->second;
    j["last_outcome"] = nullptr;
    j["last_job_id"] = nullptr;
    if (sync && !sync->history.empty()) {
      j["last_outcome"] = sync->history.back().outcome;
      if (!sync->history.back().job_id.empty()) j["last_job_id"] = sync->history.back().job_id;
    }
    j["last_success"] = sync && !sync->last_success.empty() ? nlohmann::json(sync->last_success)
                                                            : nlohmann::json(nullptr);
    std::optional<std::chrono::milliseconds> max_staleness;
    if (row.spec && row.spec->sync) max_staleness = row.spec->sync->max_staleness;
    auto fresh = jobs::freshness(sync, max_staleness, now);
    j["freshness_seconds"] =
        fresh.age ? nlohmann::json(fresh.age->count() / 1000.0) : nlohmann::json(nullptr);
    j["max_staleness_seconds"] =
        max_staleness ? nlohmann::json(max_staleness->count() / 1000.0) : nlohmann::json(nullptr);
    j["healthy"] = fresh.healthy;
    // fresh | stale | never (no success recorded yet, still within max_staleness) | null
    // (the manifest gives it no sync:)
    if (!(row.spec && row.spec->sync))
      j["health"] = nullptr;
    else if (!fresh.healthy)
      j["health"] = "stale";
    else
      j["health"] = fresh.age ? "fresh" : "never";
    j["sync_suspended"] = row.spec && row.spec->sync && row.spec->sync->suspend;
    j["last_outcome_at"] = nullptr;
    if (sync && !sync->history.empty()) {
      const auto& last = sync->history.back();
      const std::string& at = last.ended_at.empty() ? last.started_at : last.ended_at;
      if (!at.empty()) j["last_outcome_at"] = at;
    }
    j["next_due"] = nullptr;
    if (row.spec && row.spec->sync && !row.suspended)
      if (auto due = next_sync_due(address, *row.spec->sync, state, now))
        j["next_due"] = util::format_rfc3339(*due);
    // Jobs being followed (saved when triggered, cleared when their outcome is recorded).
    j["running_jobs"] = nlohmann::json::array();
    if (sync)
      for (const auto& r : sync->running) j["running_jobs"].push_back(r.job_id);
    if (row.spec && row.spec->sync) {
      const auto& s = *row.spec->sync;
      std::optional<util::Result<schedule::Spec, std::string>> spec;
      if (s.schedule)
        spec = schedule::Spec::cron(*s.schedule, s.timezone, s.jitter);
      else if (s.every)
        spec = schedule::Spec::every(*s.every, s.jitter);
      if (spec && !spec->ok()) j["schedule_error"] = spec->error();
    }
    j["unstable"] = nlohmann::json::array();
    if (owned)
      for (const auto& [field, digest] : owned->unstable) j["unstable"].push_back(field);
    out.push_back(std::move(j));
  }
  return out;
}

}  // namespace service
