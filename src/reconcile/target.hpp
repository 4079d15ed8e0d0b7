#pragma once

#include <set>
#include <string>
#include <vector>

#include "manifest/model.hpp"
#include "reconcile/diff.hpp"
#include "reconcile/plan.hpp"
#include "state/state.hpp"

namespace reconcile {

// `--target NS/ID` (repeatable): the part of a whole plan that concerns only these instances.
// The plan is always computed over everything observed (so a move from another namespace is
// seen as a move, never as a create), then narrowed here:
// - an instance change is kept when its address, or for a move (or a replace that moves) the
//   address it leaves, is a target;
// - a namespace create is kept when a kept change needs it (a target in a namespace that does
//   not exist yet); namespace updates are not the targets' business and are dropped;
// - the apply bookkeeping (adopt, forget, namespace records) and the unmanaged list keep the
//   targets' entries only, so a targeted apply never prunes, forgets or records anything else;
// - `scope` names the targets (and the addresses their moves leave), so apply's bookkeeping
//   that follows the whole manifest (protect) touches nothing else;
// - a skipped namespace is kept when it is a target's namespace, or one the manifest declares
//   or state records a target's id in (a move's other side: a list the targets depend on
//   failed, so the plan is partial for them too).
// Pure and deterministic.
Plan restrict_to_targets(Plan plan, const std::set<std::string>& targets,
                         const manifest::Manifest& desired, const state::State& state);

// The targets that name nothing: no manifest instance, no state record and no observed remote
// instance has the address (a typo would otherwise plan "No changes." and look fine).
std::vector<std::string> unknown_targets(const std::set<std::string>& targets,
                                         const manifest::Manifest& desired,
                                         const Observed& observed, const state::State& state);

}  // namespace reconcile
