#include "jobs/freshness.hpp"

#include "util/time_format.hpp"

namespace jobs {

Freshness freshness(const state::SyncState* sync,
                    std::optional<std::chrono::milliseconds> max_staleness,
                    std::chrono::system_clock::time_point now) {
  using std::chrono::milliseconds;
  const auto age_of = [&](const std::string& text) -> std::optional<milliseconds> {
    if (text.empty()) return std::nullopt;
    auto t = util::parse_rfc3339(text);
    if (!t) return std::nullopt;
    auto age = std::chrono::duration_cast<milliseconds>(now - *t);
    return age.count() < 0 ? milliseconds(0) : age;
  };
  Freshness out;
  if (sync) out.age = age_of(sync->last_success);
  if (!max_staleness) return out;
  if (out.age) {
    out.healthy = *out.age <= *max_staleness;
  } else if (sync) {
    // Never succeeded: count from first sight (a state from before `since` existed: from the
    // oldest job it recorded).
    std::string first = sync->since;
    if (first.empty() && !sync->history.empty())
      first = sync->history.front().started_at.empty() ? sync->history.front().ended_at
                                                       : sync->history.front().started_at;
    const auto since = age_of(first);
    out.healthy = !since || *since <= *max_staleness;
  }
  return out;
}

FreshnessWatch::Change FreshnessWatch::update(const std::string& address, bool healthy) {
  std::lock_guard lock(m_mutex);
  auto [it, inserted] = m_healthy.emplace(address, true);
  const bool before = it->second;
  it->second = healthy;
  if (before == healthy) return Change::none;
  return healthy ? Change::became_fresh : Change::became_stale;
}

}  // namespace jobs
