#include "jobs/freshness.hpp"

#include "util/time_format.hpp"

namespace jobs {

Freshness freshness(const state::SyncState* sync,
                    std::optional<std::chrono::milliseconds> max_staleness,
                    std::chrono::system_clock::time_point now) {
  Freshness out;
  std::optional<std::chrono::system_clock::time_point> last;
  if (sync && !sync->last_success.empty()) last = util::parse_rfc3339(sync->last_success);
  if (last) {
    auto age = std::chrono::duration_cast<std::chrono::milliseconds>(now - *last);
    out.age = age.count() < 0 ? std::chrono::milliseconds(0) : age;
  }
  if (!max_staleness) return out;
  if (out.age) {
    out.healthy = *out.age <= *max_staleness;
  } else {
    out.healthy = sync == nullptr || sync->history.empty();
  }
  return out;
}

}  // namespace jobs
