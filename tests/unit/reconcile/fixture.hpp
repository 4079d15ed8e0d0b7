#pragma once

// Builders shared by the reconcile unit tests: manifest instances, remote objects as a real
// server returns them, observations and owned records.

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "reconcile/diff.hpp"

namespace reconcile_fixture {

using nlohmann::json;

inline manifest::InstanceSpec instance(const std::string& ns, const std::string& id, json fields) {
  manifest::InstanceSpec s;
  s.ns = ns;
  s.id = id;
  s.fields = std::move(fields);
  return s;
}

inline void declare(manifest::Manifest& m, manifest::InstanceSpec spec) {
  auto& ns = m.namespaces[spec.ns];
  ns.name = spec.ns;
  ns.instances[spec.id] = std::move(spec);
}

inline api::Instance remote(const std::string& ns, const std::string& id, json fields) {
  api::Instance i;
  i.id = id;
  i.ns = ns;
  i.modified_by = "alice@example.com";
  // What a real server adds: defaults and read-only fields the manifest never sets.
  json raw = {{"id", id},
              {"namespace", ns},
              {"chunk_size", 256},
              {"score_threshold", 0.4},
              {"status", "ready"},
              {"created_at", "2026-01-01T00:00:00Z"},
              {"modified_by", "alice@example.com"},
              {"index_method", {{"keyword", true}, {"vector", true}}}};
  for (auto& [k, v] : fields.items()) raw[k] = v;
  i.raw = raw;
  return i;
}

inline reconcile::Observed observed_with(std::vector<api::Instance> instances,
                                         std::vector<std::string> extra_namespaces = {}) {
  reconcile::Observed o;
  o.namespaces["default"].name = "default";
  for (const auto& n : extra_namespaces) o.namespaces[n].name = n;
  for (auto& n : o.namespaces) o.listings[n.first];
  for (auto& i : instances) {
    o.namespaces[i.ns].name = i.ns;
    o.listings[i.ns].instances.push_back(i);
  }
  return o;
}

inline void own(state::State& s, const std::string& ns, const std::string& id, bool protect = false,
                std::map<std::string, std::string> digests = {}) {
  state::OwnedInstance o;
  o.ns = ns;
  o.id = id;
  o.protect = protect;
  o.applied_digests = std::move(digests);
  s.owned[o.address()] = o;
}

inline const reconcile::Change* find(const reconcile::Plan& p, const std::string& address) {
  for (const auto& c : p.changes)
    if (c.address() == address) return &c;
  return nullptr;
}

}  // namespace reconcile_fixture
