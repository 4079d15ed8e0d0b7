#include "reconcile/target.hpp"

#include <algorithm>

namespace reconcile {

namespace {

bool targeted(const Change& c, const std::set<std::string>& targets) {
  if (targets.count(c.address())) return true;
  return !c.from_ns.empty() && targets.count(c.from_ns + "/" + c.id);
}

}  // namespace

Plan restrict_to_targets(Plan plan, const std::set<std::string>& targets,
                         const manifest::Manifest& desired, const state::State& state) {
  // Namespaces the kept changes live in, and the ones a target's list depends on.
  std::set<std::string> needed_ns;
  for (const auto& c : plan.changes) {
    if (!c.is_namespace() && targeted(c, targets)) needed_ns.insert(c.ns);
  }
  std::set<std::string> relevant_ns;
  for (const auto& t : targets) relevant_ns.insert(state::split_address(t).first);
  std::set<std::string> ids;
  for (const auto& t : targets) ids.insert(state::split_address(t).second);
  for (const auto& [address, owned] : state.owned) {
    if (ids.count(owned.id)) relevant_ns.insert(owned.ns);
  }
  for (const auto& [name, ns] : desired.namespaces) {
    for (const auto& id : ids) {
      if (ns.instances.count(id)) relevant_ns.insert(name);
    }
  }

  std::vector<Change> kept;
  for (auto& c : plan.changes) {
    const bool keep = c.is_namespace() ? c.action == Action::create && needed_ns.count(c.ns) > 0
                                       : targeted(c, targets);
    if (keep) kept.push_back(std::move(c));
  }
  plan.changes = std::move(kept);

  auto drop_untargeted = [&](std::vector<std::string>& addresses) {
    addresses.erase(std::remove_if(addresses.begin(), addresses.end(),
                                   [&](const std::string& a) { return targets.count(a) == 0; }),
                    addresses.end());
  };
  drop_untargeted(plan.adopt);
  drop_untargeted(plan.forget);
  plan.unmanaged.erase(
      std::remove_if(plan.unmanaged.begin(), plan.unmanaged.end(),
                     [&](const Unmanaged& u) { return targets.count(u.ns + "/" + u.id) == 0; }),
      plan.unmanaged.end());
  plan.skipped_namespaces.erase(
      std::remove_if(plan.skipped_namespaces.begin(), plan.skipped_namespaces.end(),
                     [&](const SkippedNamespace& s) { return relevant_ns.count(s.ns) == 0; }),
      plan.skipped_namespaces.end());
  for (auto it = plan.namespace_records.begin(); it != plan.namespace_records.end();) {
    it = needed_ns.count(it->first) ? std::next(it) : plan.namespace_records.erase(it);
  }
  std::set<std::string> scope = targets;
  for (const auto& c : plan.changes) {
    if (!c.is_namespace() && !c.from_ns.empty()) scope.insert(c.from_ns + "/" + c.id);
  }
  plan.scope = std::move(scope);
  return plan;
}

std::vector<std::string> unknown_targets(const std::set<std::string>& targets,
                                         const manifest::Manifest& desired,
                                         const Observed& observed, const state::State& state) {
  std::vector<std::string> unknown;
  for (const auto& t : targets) {
    const auto [ns, id] = state::split_address(t);
    bool known = state.owned.count(t) > 0;
    if (auto n = desired.namespaces.find(ns); !known && n != desired.namespaces.end())
      known = n->second.instances.count(id) > 0;
    if (auto l = observed.listings.find(ns); !known && l != observed.listings.end()) {
      known = std::any_of(l->second.instances.begin(), l->second.instances.end(),
                          [&](const api::Instance& i) { return i.id == id; });
    }
    if (!known) unknown.push_back(t);
  }
  return unknown;
}

}  // namespace reconcile
