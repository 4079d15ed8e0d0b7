#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "state/state.hpp"

namespace reconcile {

// adopt: an existing remote instance the manifest declares and state does not own becomes
// owned (a state record, no API write); shown so a reviewer sees that prune can delete it later.
enum class Action { adopt, create, update, replace, move, delete_ };
enum class Reason { config, drift };

const char* to_string(Action a);  // "adopt" "create" "update" "replace" "move" "delete"
const char* to_string(Reason r);  // "config" "drift"

// One changed field: dotted path, values before and after (null = absent / unknown).
struct FieldChange {
  std::string path;
  nlohmann::json before;
  nlohmann::json after;
  bool sensitive = false;  // shown as (sensitive) in every output
  bool reindex = false;    // this change makes Cloudflare rebuild the index
  bool unknown_before =
      false;  // the API never returns it: compared against the last-applied digest
};

// Why an action will not be executed (a safety rail), shown in the plan.
struct Blocked {
  // prune_disabled protected max_deletes never_empty replace_not_allowed adopt_conflict
  // declared_elsewhere drift_report move_ambiguous move_unknown
  std::string rail;
  std::string message;
};

struct Change {
  Action action = Action::create;
  Reason reason = Reason::config;
  std::string ns;
  std::string id;           // empty for a namespace change
  std::string from_ns;      // move, or a replace that moves: the namespace it leaves
  std::string modified_by;  // drift: who changed it remotely, when known
  std::vector<FieldChange> fields;
  bool reindex = false;
  std::optional<Blocked> blocked;
  // create / replace: the full body to POST (id included); update: the changed top-level fields.
  nlohmann::json body = nlohmann::json::object();
  // delete / replace: identity_digest() of the instance the DELETE is for (saved with the
  // record's `deleting` mark).
  std::string deletes_identity;
  // Fields accepted only by PUT, sent right after a create (paused, summarization*, ...).
  nlohmann::json followup_update = nlohmann::json::object();

  bool is_namespace() const { return id.empty(); }
  std::string address() const { return id.empty() ? ns : ns + "/" + id; }
};

// The action as one word for log fields and metric labels: "create", or "namespace_create" for
// a change to a namespace.
std::string action_name(const Change& change);

struct Unmanaged {
  std::string ns;
  std::string id;
};

struct SkippedNamespace {
  std::string ns;
  std::string error;
};

struct Summary {
  int adopt = 0, create = 0, update = 0, replace = 0, delete_ = 0, move = 0, blocked = 0;
  int total() const { return adopt + create + update + replace + delete_ + move; }
};

struct Plan {
  std::vector<Change> changes;  // no-ops are not listed; deterministic order
  std::vector<Unmanaged> unmanaged;
  std::vector<SkippedNamespace> skipped_namespaces;
  std::vector<std::string> warnings;
  // Bookkeeping for apply: remote instances the manifest declares that state does not own yet
  // or has not confirmed (recorded as owned on apply; the ones state has no record of are also
  // `adopt` changes), and owned instances that are gone both remotely and from the manifest
  // (dropped from state on apply). Addresses "ns/id".
  std::vector<std::string> adopt;
  std::vector<std::string> forget;
  // Set by the caller when the state the plan was made from records nothing (missing or empty):
  // what aisearchd owns is unknown, so deletes of owned instances cannot be shown and existing
  // declared instances plan as adoptions. Rendered first in every output ("ownership":
  // "unknown" in JSON), naming `state_location`.
  bool ownership_unknown = false;
  std::string state_location;
  // Declared namespaces seen as the manifest has them and not yet in state.namespaces:
  // name -> digest of the description (recorded on apply).
  std::map<std::string, std::string> namespace_records;
  // Set by restrict_to_targets (--target): the addresses the plan speaks for. Apply's
  // bookkeeping that otherwise follows the whole manifest (protect) then touches only these.
  std::optional<std::set<std::string>> scope;

  // Counts of actions that will run (blocked ones are counted in `blocked` only).
  Summary summary() const;
  bool has_changes() const;  // any non-blocked change
  // Whether the remote differs from the manifest at all: any change, blocked ones included
  // (what `plan --detailed-exitcode` reports with exit 2).
  bool has_differences() const { return !changes.empty(); }
};

// What `plan` says for `status` (state::Observation, `at` left empty): the drifted fields of
// every drift change, the unmanaged instances.
state::Observation observation_of(const Plan& plan);

}  // namespace reconcile
