#pragma once

#include <chrono>
#include <optional>

#include <nlohmann/json_fwd.hpp>

#include "manifest/model.hpp"
#include "state/state.hpp"

namespace service {

// When the instance's sync is next due per its spec (slot + jitter, after the last slot in
// state, else after `now`); std::nullopt without a schedule, when suspended or unusable.
std::optional<std::chrono::system_clock::time_point> next_sync_due(
    const std::string& address, const manifest::SyncSpec& sync, const state::State& state,
    std::chrono::system_clock::time_point now);

// The per-instance part of `/status` and `aisearchd status -o json`: one object per instance of
// the manifest (may be null) or owned in state, sorted by address:
// plus the unmanaged remote instances the last reconcile saw (state's observation):
//   {"namespace", "id", "address", "owned", "in_manifest", "unmanaged", "drift": [field...]
//    (drifted at the last reconcile), "suspended", "protect",
//    "last_outcome" (null), "last_job_id" (null), "last_success" (RFC 3339 or null),
//    "freshness_seconds" (null without a success), "max_staleness_seconds" (null),
//    "healthy", "health" ("fresh", "stale", "never" or null without sync:), "sync_suspended",
//    "last_outcome_at" (RFC 3339 or null), "next_due" (RFC 3339 or null), "unstable": [...]}
nlohmann::json instances_status(const manifest::Manifest* manifest, const state::State& state,
                                std::chrono::system_clock::time_point now);

}  // namespace service
