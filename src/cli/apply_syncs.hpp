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
  // saved in state and the daemon or the next apply starts it when that job ends; skipped: why
  // in `detail`; settled: a held run found already made, or dropped;
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
// after it) reports their outcome. Instances that take no on_change run are not listed.
// With `resume_recorded` (an apply of the whole manifest, not a targeted one) it first takes up
// what state records from earlier runs as the daemon does at start: unanswered triggers are
// settled from the job list (never sent twice), recorded jobs that have ended get their outcome,
// and a held run whose job has ended starts; so without a daemon the next apply runs it once.
std::vector<OnChangeSync> trigger_on_change_syncs(const std::set<std::string>& changed,
                                                  const manifest::Manifest& manifest,
                                                  api::Client& client, util::Clock& clock,
                                                  state::StateWriter& writer,
                                                  std::chrono::milliseconds max_wait,
                                                  bool resume_recorded);

std::string to_text(const OnChangeSync& sync);
nlohmann::json to_json(const OnChangeSync& sync);

}  // namespace cli
