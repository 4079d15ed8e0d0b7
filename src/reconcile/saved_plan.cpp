#include "reconcile/saved_plan.hpp"

#include <map>
#include <optional>

#include "reconcile/render.hpp"
#include "util/strings.hpp"

namespace reconcile {

namespace {

using json = nlohmann::json;

json optional_ms(const std::optional<std::chrono::milliseconds>& d) {
  return d ? json(d->count()) : json();
}

json sync_json(const manifest::SyncSpec& s) {
  return {{"schedule", s.schedule ? json(*s.schedule) : json()},
          {"every_ms", optional_ms(s.every)},
          {"timezone", s.timezone},
          {"jitter_ms", s.jitter.count()},
          {"on_change", s.on_change},
          {"concurrency",
           s.concurrency == manifest::SyncSpec::Concurrency::forbid ? "forbid" : "replace"},
          {"timeout_ms", optional_ms(s.timeout)},
          {"max_staleness_ms", optional_ms(s.max_staleness)},
          {"suspend", s.suspend}};
}

// What a change acts on remotely: its address and, for a move or a replace that moves, the
// address it leaves.
std::vector<std::string> touched_addresses(const Change& c) {
  std::vector<std::string> out;
  if (c.is_namespace()) return out;
  out.push_back(c.address());
  if (!c.from_ns.empty() && c.from_ns != c.ns) out.push_back(c.from_ns + "/" + c.id);
  return out;
}

// The remote instance at `address` as observed: {"exists", "modified_at"}; null when its
// namespace was not (fully) listed.
json remote_record(const Observed& observed, const std::string& address) {
  const auto [ns, id] = state::split_address(address);
  auto l = observed.listings.find(ns);
  if (l == observed.listings.end() || l->second.error) return json();
  for (const auto& i : l->second.instances) {
    if (i.id == id)
      return {{"exists", true}, {"modified_at", i.modified_at}, {"modified_by", i.modified_by}};
  }
  return {{"exists", false}, {"modified_at", nullptr}};
}

json touched_json(const Plan& plan, const Observed& observed) {
  json touched = json::object();
  for (const auto& c : plan.changes) {
    for (const auto& a : touched_addresses(c)) touched[a] = remote_record(observed, a);
  }
  return touched;
}

json namespaces_json(const Plan& plan, const Observed& observed) {
  json out = json::object();
  for (const auto& c : plan.changes) {
    out[c.ns] = {{"exists", observed.namespaces.count(c.ns) > 0}};
  }
  return out;
}

std::string show(const json& v) {
  if (v.is_null()) return "none";
  if (v.is_string()) return v.get<std::string>().empty() ? "\"\"" : v.get<std::string>();
  return v.dump();
}

// One change of the JSON plan as "action" ("blocked action" when a rail stops it).
std::string describe_change(const json& c) {
  std::string s = c.value("action", "?");
  if (c.contains("blocked") && !c["blocked"].is_null()) s = "blocked " + s;
  return s;
}

std::map<std::string, json> changes_by_address(const json& plan) {
  std::map<std::string, json> out;
  if (!plan.contains("changes") || !plan["changes"].is_array()) return out;
  for (const auto& c : plan["changes"]) {
    out[c.value("address", "") + " " + c.value("action", "")] = c;
  }
  return out;
}

std::string address_of(const std::string& key) {
  return key.substr(0, key.find(' '));
}

}  // namespace

std::string manifest_digest(const manifest::Manifest& m) {
  json j = {{"api_version", m.api_version},
            {"account_id", m.account_id ? json(*m.account_id) : json()}};
  json namespaces = json::object();
  for (const auto& [name, ns] : m.namespaces) {
    json instances = json::object();
    for (const auto& [id, spec] : ns.instances) {
      instances[id] = {{"fields", spec.fields},
                       {"protect", spec.protect},
                       {"allow_replace", spec.allow_replace},
                       {"suspend", spec.suspend},
                       {"managed", spec.managed},
                       {"ignore_changes", spec.ignore_changes},
                       {"sync", spec.sync ? sync_json(*spec.sync) : json()}};
    }
    namespaces[name] = {{"description", ns.description ? json(*ns.description) : json()},
                        {"prune", ns.prune},
                        {"max_deletes", ns.max_deletes},
                        {"suspend", ns.suspend},
                        {"instances", std::move(instances)}};
  }
  j["namespaces"] = std::move(namespaces);
  return util::fnv1a_hex(j.dump(-1, ' ', false, json::error_handler_t::replace));
}

json make_saved_plan(const Plan& plan, const manifest::Manifest& manifest, const Observed& observed,
                     const SavedPlanInputs& inputs) {
  json out;
  out["kind"] = "aisearchd-saved-plan";
  out["version"] = k_saved_plan_version;
  out["created_at"] = inputs.created_at;
  out["aisearchd"] = inputs.version;
  out["account_id"] = inputs.account_id;
  out["api_url"] = inputs.api_url;
  out["manifest_digest"] = manifest_digest(manifest);
  out["targets"] = inputs.targets;
  out["touched"] = touched_json(plan, observed);
  out["namespaces"] = namespaces_json(plan, observed);
  out["plan"] = render_json(plan);
  return out;
}

std::vector<std::string> saved_plan_format_problems(const json& saved) {
  if (!saved.is_object() || saved.value("kind", json()) != "aisearchd-saved-plan")
    return {"not an aisearchd saved plan (no \"kind\": \"aisearchd-saved-plan\")"};
  if (saved.value("version", json()) != k_saved_plan_version) {
    return {"saved plan version " + show(saved.value("version", json())) +
            " is not one this aisearchd reads (" + std::to_string(k_saved_plan_version) + ")"};
  }
  std::vector<std::string> problems;
  auto need = [&](const char* key, bool ok) {
    if (!ok)
      problems.push_back(std::string("the saved plan's \"") + key +
                         "\" is missing or "
                         "of the wrong type");
  };
  need("account_id", saved.contains("account_id") && saved["account_id"].is_string());
  need("api_url", saved.contains("api_url") && saved["api_url"].is_string());
  need("manifest_digest",
       saved.contains("manifest_digest") && saved["manifest_digest"].is_string());
  need("targets", saved.contains("targets") && saved["targets"].is_array());
  if (saved.contains("targets") && saved["targets"].is_array()) {
    for (const auto& t : saved["targets"]) need("targets", t.is_string());
  }
  need("touched", saved.contains("touched") && saved["touched"].is_object());
  need("namespaces", saved.contains("namespaces") && saved["namespaces"].is_object());
  need("plan", saved.contains("plan") && saved["plan"].is_object() &&
                   saved["plan"].contains("changes") && saved["plan"]["changes"].is_array());
  return problems;
}

std::vector<std::string> saved_plan_differences(const json& saved, const Plan& plan,
                                                const manifest::Manifest& manifest,
                                                const Observed& observed,
                                                const std::string& account_id,
                                                const std::string& api_url) {
  std::vector<std::string> out;
  if (saved.value("account_id", "") != account_id) {
    out.push_back("the plan was made for account " + show(saved.value("account_id", json())) +
                  ", this is account " + account_id);
    return out;
  }
  if (saved.value("api_url", "") != api_url) {
    out.push_back("the plan was made against the API at " + show(saved.value("api_url", json())) +
                  ", this is " + api_url);
    return out;
  }
  const std::string digest = manifest_digest(manifest);
  if (saved.value("manifest_digest", "") != digest) {
    out.push_back("the manifest changed since the plan was saved (digest " +
                  show(saved.value("manifest_digest", json())) + ", now " + digest + ")");
  }
  for (const auto& [address, then] : saved["touched"].items()) {
    const json now = remote_record(observed, address);
    if (now.is_null() && !then.is_null()) {
      out.push_back(address + ": its namespace could not be listed now");
      continue;
    }
    if (now == then) continue;
    const bool existed = then.is_object() && then.value("exists", false);
    const bool exists = now.is_object() && now.value("exists", false);
    if (existed && !exists) {
      out.push_back(address + ": deleted remotely since the plan was saved");
    } else if (!existed && exists) {
      out.push_back(address + ": created remotely since the plan was saved");
    } else {
      const std::string by = now.value("modified_by", "");
      out.push_back(address + ": modified remotely since the plan was saved (modified_at " +
                    show(then.value("modified_at", json())) + ", now " +
                    show(now.value("modified_at", json())) + (by.empty() ? "" : ", by " + by) +
                    ")");
    }
  }
  for (const auto& [name, then] : saved["namespaces"].items()) {
    const bool existed = then.is_object() && then.value("exists", false);
    const bool exists = observed.namespaces.count(name) > 0;
    if (existed != exists)
      out.push_back("namespace " + name + (exists ? ": created" : ": deleted") +
                    " remotely since the plan was saved");
  }
  // The changes themselves: anything above also shows here, so these are said only when
  // nothing else explains the difference (state changed, a rail now blocks, ...).
  const json now_plan = render_json(plan);
  std::vector<std::string> changes;
  const auto before = changes_by_address(saved["plan"]);
  const auto after = changes_by_address(now_plan);
  for (const auto& [key, c] : before) {
    auto a = after.find(key);
    if (a == after.end()) {
      changes.push_back(address_of(key) + ": the saved plan has " + describe_change(c) +
                        ", not planned now");
    } else if (a->second != c) {
      changes.push_back(address_of(key) + ": planned now as " + describe_change(a->second) +
                        " with other fields or reasons than the saved " + describe_change(c));
    }
  }
  for (const auto& [key, c] : after) {
    if (!before.count(key))
      changes.push_back(address_of(key) + ": planned now (" + describe_change(c) +
                        "), not in the saved plan");
  }
  if (saved["plan"].value("skipped_namespaces", json::array()) != now_plan["skipped_namespaces"])
    changes.push_back("the namespaces that could not be listed differ from the saved plan's");
  if (out.empty()) out = std::move(changes);
  return out;
}

}  // namespace reconcile
