#pragma once

#include <chrono>
#include <optional>

#include "state/state.hpp"

namespace jobs {

// Freshness of an instance's index (PRODUCT.md §7): the time since its last succeeded job.
struct Freshness {
  std::optional<std::chrono::milliseconds> age;  // std::nullopt: no success recorded
  bool healthy = true;
};

// `sync` may be null (nothing known). With `max_staleness` unset the instance is always healthy.
// With it set: unhealthy when the last success is older than max_staleness, or when jobs ran
// (history not empty) and none ever succeeded. An instance with no job history yet is healthy
// (a new instance is not stale before its first run). A last success in the future (clock skew)
// counts as age 0.
Freshness freshness(const state::SyncState* sync,
                    std::optional<std::chrono::milliseconds> max_staleness,
                    std::chrono::system_clock::time_point now);

}  // namespace jobs
