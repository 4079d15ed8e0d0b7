#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "state/state.hpp"

namespace jobs {

// Freshness of an instance's index (PRODUCT.md §7): the time since its last succeeded job.
struct Freshness {
  std::optional<std::chrono::milliseconds> age;  // std::nullopt: no success recorded
  bool healthy = true;
};

// `sync` may be null (nothing known). With `max_staleness` unset the instance is always healthy.
// With it set: unhealthy when the last success is older than max_staleness; with no success
// recorded, unhealthy once max_staleness has passed since the instance's sync was first seen
// (SyncState::since; an instance not seen yet is healthy). A time in the future (clock skew)
// counts as age 0.
Freshness freshness(const state::SyncState* sync,
                    std::optional<std::chrono::milliseconds> max_staleness,
                    std::chrono::system_clock::time_point now);

// Remembers each instance's health, so a change is logged once (a warning when an instance goes
// stale, a line when it is fresh again). Thread-safe.
class FreshnessWatch {
 public:
  enum class Change { none, became_stale, became_fresh };
  // The change since the last update for `address` (an address seen for the first time counts
  // as having been healthy).
  Change update(const std::string& address, bool healthy);

 private:
  std::mutex m_mutex;
  std::map<std::string, bool> m_healthy;
};

}  // namespace jobs
