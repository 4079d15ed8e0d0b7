#pragma once

#include <set>
#include <string>

#include "api/client.hpp"
#include "reconcile/diff.hpp"

namespace reconcile {

// Reads the remote state: the namespace list, then every page of each namespace's instance list,
// namespaces in parallel (at most `parallelism` at once; the client's own concurrency limit still
// applies). A failed namespace list or instance list is recorded as an error in Observed, never
// thrown.
//
// A list whose pages add up can still leave an instance out: offset pages read while someone
// deletes an instance listed on an earlier page and adds another skip the item that moved up a
// page. So an instance `recorded` holds (state's records) that a complete list leaves out is
// confirmed with a GET before it counts as gone: found, or not answered, the namespace's list
// is an error (nothing is created, moved, deleted or forgotten on it); 404, it is gone.
Observed observe(api::Client& client, const std::set<std::string>& namespaces, int parallelism,
                 const state::State& recorded);

}  // namespace reconcile
