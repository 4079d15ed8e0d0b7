#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "api/types.hpp"
#include "manifest/model.hpp"
#include "reconcile/plan.hpp"
#include "state/state.hpp"

namespace reconcile {

// What one namespace's instance list returned: every page, or an error (then nothing is planned
// for that namespace).
struct NamespaceListing {
  bool exists = true;                // false: the namespace does not exist remotely (not listed)
  std::optional<std::string> error;  // the list failed or was partial
  std::vector<api::Instance> instances;
};

// The remote state as the list endpoints returned it.
struct Observed {
  std::optional<std::string> namespaces_error;  // the namespace list failed: plan nothing at all
  int token_rejected = 0;  // that failure was the API refusing the token: its HTTP status
  std::map<std::string, api::Namespace> namespaces;  // remote namespaces ("default" always)
  std::map<std::string, NamespaceListing> listings;  // instance lists, by namespace
};

struct DiffOptions {
  bool correct_drift = true;  // drift: report -> drift-only updates are listed but blocked
};

// The namespaces whose instances must be listed: the manifest's and those state owns
// instances in (so moves and deletes are seen), "default" included when used.
std::set<std::string> namespaces_to_observe(const manifest::Manifest& desired,
                                            const state::State& state);

// Desired + observed + state -> Plan. Pure: no I/O, no clock, deterministic for equal inputs.
// Never plans a delete of an instance state does not own, never acts on a namespace whose list
// failed, and applies the safety rails of PRODUCT.md §5 (blocked actions stay in the plan).
Plan diff(const manifest::Manifest& desired, const Observed& observed, const state::State& state,
          const DiffOptions& options = {});

// The request body that creates `spec` (id + create-accepted fields) and the PUT that must follow
// it for fields only an update accepts (empty object when none).
nlohmann::json create_body(const manifest::InstanceSpec& spec);
nlohmann::json followup_body(const manifest::InstanceSpec& spec);

// Adopting `spec`'s instance that already exists as `remote` (an API object): nullopt when a
// field the manifest sets and the API never changes in place (type, source) differs (rail
// adopt_conflict: never adopted); otherwise the PUT body of the fields that differ (empty when
// none), with ignore_changes respected.
std::optional<nlohmann::json> adoption_update(const manifest::InstanceSpec& spec,
                                              const nlohmann::json& remote);

// The digests of every field the manifest sets for `spec` (what state records after an apply).
std::map<std::string, std::string> field_digests(const manifest::InstanceSpec& spec);

}  // namespace reconcile
