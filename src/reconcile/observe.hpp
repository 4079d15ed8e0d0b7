#pragma once

#include <set>
#include <string>

#include "api/client.hpp"
#include "reconcile/diff.hpp"

namespace reconcile {

// Reads the remote state with list calls only: the namespace list, then every page of each
// namespace's instance list, namespaces in parallel (at most `parallelism` at once; the client's
// own concurrency limit still applies). A failed namespace list or instance list is recorded as
// an error in Observed, never thrown.
Observed observe(api::Client& client, const std::set<std::string>& namespaces, int parallelism);

}  // namespace reconcile
