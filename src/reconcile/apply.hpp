#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/client.hpp"
#include "manifest/model.hpp"
#include "reconcile/plan.hpp"
#include "state/writer.hpp"
#include "util/clock.hpp"

namespace reconcile {

struct ActionResult;

// Where an apply stands, for progress output: every action of the plan counts (blocked ones and
// adoptions too), `finished` of `total` have a result, split by status.
struct ApplyCounts {
  std::size_t finished = 0, total = 0;
  int done = 0, failed = 0, blocked = 0, skipped = 0;
};

struct ApplyOptions {
  int concurrency = 8;  // changes in flight at once (one at a time per instance)
  const std::atomic<bool>* stop = nullptr;  // when set and true: start nothing new
  // Called after each instance create/update that affects indexing, for sync `on_change`.
  std::function<void(const std::string& ns, const std::string& id)> on_indexing_change;
  // Progress (each may be empty). on_start: once, before anything is done, with the number of
  // actions. on_result: once per action as soon as it has its result, from the worker thread
  // that finished it; apply serializes the calls (one at a time, `finished` counting up by one,
  // the counts including this result), so a slow one holds the workers back. on_end: once, from
  // the calling thread, when every action has its result and state is saved, before apply returns.
  std::function<void(std::size_t total)> on_start;
  std::function<void(const ActionResult& result, const ApplyCounts& counts)> on_result;
  std::function<void(const ApplyCounts& counts)> on_end;
};

struct ActionResult {
  std::string address;
  std::string action;                 // adopt create update replace move delete
  std::string status;                 // done failed blocked skipped
  std::string error;                  // failed: the API error; blocked: the rail's message
  std::vector<std::string> unstable;  // fields the API did not take
};

struct ApplyResult {
  std::vector<ActionResult> results;  // plan order
  int done = 0, failed = 0, blocked = 0, skipped = 0;
  std::vector<std::string> state_errors;  // saves that failed

  bool ok() const { return failed == 0 && state_errors.empty(); }
  nlohmann::json to_json() const;
  // One line per result ("  done    create default/docs"), then the summary line. With
  // `only_not_done`, the lines of actions done cleanly are left out (they were already printed
  // as they finished: a recap of what needs attention).
  std::string to_text(bool only_not_done = false) const;
};

// Executes `plan`: namespace creates/updates first, then moves, creates, updates and replaces,
// deletes last; each group with bounded concurrency. Idempotent outcomes: a create meeting
// "already exists" adopts and updates; a delete meeting 404 is done; an update meeting 404 fails
// (the next cycle re-plans). Blocked changes are skipped and reported. Every successful write is
// recorded in state at once and saved in the background, many writes to one save (the worker does
// not wait); apply returns only once all of them are saved, and a failed save is in
// `state_errors`. A crash before a record is saved leaves nothing the next apply mishandles: it
// adopts an instance this one created (the manifest declares it), forgets one this one deleted,
// and never creates twice or deletes what it does not own. Fields that did not stick are recorded
// `unstable` and not re-sent.
ApplyResult apply(const Plan& plan, const manifest::Manifest& desired, api::Client& client,
                  state::StateWriter& state, util::Clock& clock, const ApplyOptions& options);

// Keeps what `plan` saw for `status` (observation_of: drifted fields, unmanaged instances) in
// state, stamped with the clock, when it differs from what state holds (no save otherwise); a
// partial plan (a namespace skipped) changes nothing. A failed save is logged, never fatal.
void save_observation(const Plan& plan, state::StateWriter& state, util::Clock& clock);

// Splits an update body into the PUTs the API wants separately (API.md §11): metadata and
// public_endpoint_params each alone, everything else together. Never returns an empty body.
std::vector<nlohmann::json> split_update(const nlohmann::json& body);

}  // namespace reconcile
