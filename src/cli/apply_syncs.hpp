#pragma once

#include <chrono>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/client.hpp"
#include "manifest/model.hpp"
#include "state/writer.hpp"
#include "util/clock.hpp"

namespace cli {

// One on_change run a one-shot apply asked for, as it stood when apply returned.
struct OnChangeSync {
  std::string address;
  std::string trigger;  // on_change; manual or on_change for a run an earlier apply held
  // started: job_id made; held: a job of the instance runs (concurrency: forbid), the run is
  // saved in state and the daemon starts it when that job ends; skipped: why in `detail`;
  // waiting: the trigger was not answered within the wait (saved in state, settled by the
  // daemon or the next apply).
  std::string result;
  std::string job_id;
  std::string detail;
};

// After a one-shot apply, the on_change runs of `changed` (instances whose create, update or
// replace affects indexing), through the daemon's own jobs::SyncManager, so the rules are the
// daemon's: only instances whose `sync:` has on_change: true, never a suspended sync, instance
// or namespace; under forbid a running job (ours or Cloudflare's) holds the run, under replace
// it is superseded; a trigger is never sent twice (its job is found first after an unclear
// answer); a sync cooldown (7020) is waited out for at most `max_wait`. Jobs are started, not
// followed: they stay recorded as running in state, and the daemon (or `aisearchd status`
// after it) reports their outcome. Instances that take no on_change run are not listed. A run
// an earlier apply held (state's `held`) is triggered again too, so without a daemon the next
// apply starts it once the job that held it has ended.
std::vector<OnChangeSync> trigger_on_change_syncs(const std::set<std::string>& changed,
                                                  const manifest::Manifest& manifest,
                                                  api::Client& client, util::Clock& clock,
                                                  state::StateWriter& writer,
                                                  std::chrono::milliseconds max_wait);

std::string to_text(const OnChangeSync& sync);
nlohmann::json to_json(const OnChangeSync& sync);

}  // namespace cli
