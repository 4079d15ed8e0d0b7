#include "reconcile/diff.hpp"

#include <algorithm>

#include "model/instance_fields.hpp"
#include "reconcile/compare.hpp"

namespace reconcile {

using nlohmann::json;

namespace {

constexpr const char* k_default_namespace = "default";

bool is_ignored(const manifest::InstanceSpec& spec, const std::string& path) {
  for (const auto& ignored : spec.ignore_changes) {
    if (path == ignored) return true;
    if (path.size() > ignored.size() && path.compare(0, ignored.size(), ignored) == 0 &&
        path[ignored.size()] == '.')
      return true;
  }
  return false;
}

bool is_whole_object(const model::FieldSpec* spec) {
  return spec && spec->type == model::FieldType::object &&
         (spec->replaced_whole || spec->children.empty());
}

// The field-by-field comparison of one desired instance against its remote object.
struct InstanceDiff {
  std::vector<FieldChange> fields;
  json update_body = json::object();  // changed top-level fields, as a PUT sends them
  bool immutable_changed = false;
  bool any_config = false;
  std::vector<std::string> unstable;  // fields skipped because the API did not take them before
};

InstanceDiff compare_instance(const manifest::InstanceSpec& spec, const json& remote,
                              const state::OwnedInstance* owned) {
  InstanceDiff d;
  for (const auto& [key, want] : spec.fields.items()) {
    if (is_ignored(spec, key)) continue;
    const model::FieldSpec* field = model::find_instance_field(key);
    const std::string want_digest = digest(want);
    const std::string* applied = nullptr;
    if (owned) {
      if (auto it = owned->unstable.find(key);
          it != owned->unstable.end() && it->second == want_digest) {
        d.unstable.push_back(key);
        continue;
      }
      if (auto it = owned->applied_digests.find(key); it != owned->applied_digests.end())
        applied = &it->second;
    }
    const bool manifest_unchanged = applied && *applied == want_digest;
    auto have = remote.find(key);
    std::vector<FieldChange> changes;
    if (have == remote.end()) {
      // The API does not return this field: compare against what we applied last.
      if (manifest_unchanged) continue;
      FieldChange fc;
      fc.path = key;
      fc.after = want;
      fc.unknown_before = true;
      fc.sensitive = model::is_sensitive_path(key);
      fc.reindex = field && field->reindex;
      changes.push_back(std::move(fc));
    } else {
      diff_value(key, want, *have, field, changes);
    }
    changes.erase(std::remove_if(changes.begin(), changes.end(),
                                 [&](const FieldChange& c) { return is_ignored(spec, c.path); }),
                  changes.end());
    if (changes.empty()) continue;
    if (field && field->immutable) d.immutable_changed = true;
    if (!manifest_unchanged) d.any_config = true;
    if (!field || field->on_update) {
      bool merge = field && field->type == model::FieldType::object && !is_whole_object(field) &&
                   have != remote.end() && have->is_object() && want.is_object();
      d.update_body[key] = merge ? overlay(*have, want) : want;
    }
    for (auto& c : changes) d.fields.push_back(std::move(c));
  }
  return d;
}

int action_rank(const Change& c) {
  if (c.is_namespace()) return 0;
  switch (c.action) {
    case Action::move:
      return 1;
    case Action::create:
      return 2;
    case Action::update:
      return 3;
    case Action::replace:
      return 4;
    case Action::delete_:
      return 5;
  }
  return 6;
}

}  // namespace

json create_body(const manifest::InstanceSpec& spec) {
  json body = json::object();
  body["id"] = spec.id;
  for (const auto& [key, value] : spec.fields.items()) {
    const auto* field = model::find_instance_field(key);
    if (!field || field->on_create) body[key] = value;
  }
  return body;
}

json followup_body(const manifest::InstanceSpec& spec) {
  json body = json::object();
  for (const auto& [key, value] : spec.fields.items()) {
    const auto* field = model::find_instance_field(key);
    if (field && !field->on_create && field->on_update) body[key] = value;
  }
  return body;
}

std::map<std::string, std::string> field_digests(const manifest::InstanceSpec& spec) {
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : spec.fields.items()) out[key] = digest(value);
  return out;
}

std::set<std::string> namespaces_to_observe(const manifest::Manifest& desired,
                                            const state::State& state) {
  std::set<std::string> out;
  for (const auto& [name, ns] : desired.namespaces)
    if (!ns.suspend) out.insert(name);
  for (const auto& [address, owned] : state.owned) {
    auto it = desired.namespaces.find(owned.ns);
    if (it == desired.namespaces.end() || !it->second.suspend) out.insert(owned.ns);
  }
  return out;
}

Plan diff(const manifest::Manifest& desired, const Observed& observed, const state::State& state,
          const DiffOptions& options) {
  Plan plan;
  const auto managed = namespaces_to_observe(desired, state);
  for (const auto& [name, ns] : desired.namespaces)
    if (ns.suspend) plan.warnings.push_back("namespace " + name + " is suspended: left alone");

  if (observed.namespaces_error) {
    for (const auto& ns : managed)
      plan.skipped_namespaces.push_back(
          {ns, "namespace list failed: " + *observed.namespaces_error});
    return plan;
  }

  auto listing_ok = [&](const std::string& ns) -> const NamespaceListing* {
    auto it = observed.listings.find(ns);
    if (it == observed.listings.end() || it->second.error || !it->second.exists) return nullptr;
    return &it->second;
  };
  auto remote_exists = [&](const std::string& ns) {
    return ns == k_default_namespace || observed.namespaces.count(ns) > 0;
  };
  auto find_remote = [&](const std::string& ns, const std::string& id) -> const api::Instance* {
    const auto* listing = listing_ok(ns);
    if (!listing) return nullptr;
    for (const auto& inst : listing->instances)
      if (inst.id == id) return &inst;
    return nullptr;
  };
  auto declared = [&](const std::string& ns, const std::string& id) {
    auto it = desired.namespaces.find(ns);
    return it != desired.namespaces.end() && it->second.instances.count(id) > 0;
  };

  // Moves: an owned instance that left namespace A of the manifest and appeared in B, still
  // present in A remotely and absent from B. Both lists must have succeeded.
  std::map<std::string, std::string> move_source;  // "B/id" -> A
  std::set<std::string> moved_away;                // "A/id"
  for (const auto& [ns_name, ns] : desired.namespaces) {
    if (ns.suspend) continue;
    bool target_known = !remote_exists(ns_name) || listing_ok(ns_name);
    if (!target_known) continue;
    for (const auto& [id, inst] : ns.instances) {
      if (inst.suspend || find_remote(ns_name, id)) continue;
      for (const auto& [address, owned] : state.owned) {
        if (owned.id != id || owned.ns == ns_name || declared(owned.ns, id)) continue;
        auto from_it = desired.namespaces.find(owned.ns);
        if (from_it != desired.namespaces.end() && from_it->second.suspend) continue;
        if (!find_remote(owned.ns, id) || moved_away.count(address)) continue;
        move_source[inst.address()] = owned.ns;
        moved_away.insert(address);
        break;
      }
    }
  }

  for (const auto& ns_name : managed) {
    auto ns_it = desired.namespaces.find(ns_name);
    const manifest::NamespaceSpec* nspec =
        ns_it == desired.namespaces.end() ? nullptr : &ns_it->second;
    const bool exists = remote_exists(ns_name);

    if (!exists && !nspec) {
      // State owns instances in a namespace that is gone remotely and from the manifest.
      for (const auto& [address, owned] : state.owned)
        if (owned.ns == ns_name) plan.forget.push_back(address);
      continue;
    }
    const NamespaceListing* listing = nullptr;
    if (exists) {
      listing = listing_ok(ns_name);
      if (!listing) {
        auto it = observed.listings.find(ns_name);
        std::string why = it != observed.listings.end() && it->second.error
                              ? *it->second.error
                              : std::string("instance list missing");
        plan.skipped_namespaces.push_back({ns_name, why});
        continue;
      }
    }

    // The namespace itself.
    if (nspec && !exists) {
      Change c;
      c.action = Action::create;
      c.ns = ns_name;
      c.body = {{"name", ns_name}};
      if (nspec->description) {
        c.body["description"] = *nspec->description;
        c.fields.push_back({"description", nullptr, *nspec->description});
      }
      plan.changes.push_back(std::move(c));
    } else if (nspec && nspec->description) {
      if (ns_name == k_default_namespace) {
        plan.warnings.push_back("the description of namespace default cannot be changed: ignored");
      } else {
        const auto& remote_ns = observed.namespaces.at(ns_name);
        if (remote_ns.description.value_or("") != *nspec->description) {
          Change c;
          c.action = Action::update;
          c.ns = ns_name;
          c.body = {{"description", *nspec->description}};
          c.fields.push_back({"description",
                              remote_ns.description ? json(*remote_ns.description) : json(nullptr),
                              *nspec->description});
          plan.changes.push_back(std::move(c));
        }
      }
    }

    // Desired instances.
    if (nspec) {
      for (const auto& [id, ispec] : nspec->instances) {
        if (ispec.suspend) continue;
        const state::OwnedInstance* owned = state.find(ns_name, id);
        const api::Instance* remote = find_remote(ns_name, id);
        if (!remote) {
          if (auto mv = move_source.find(ispec.address()); mv != move_source.end()) {
            const api::Instance* from = find_remote(mv->second, id);
            InstanceDiff d = compare_instance(ispec, from->raw, state.find(mv->second, id));
            Change c;
            c.action = Action::move;
            c.ns = ns_name;
            c.id = id;
            c.from_ns = mv->second;
            c.fields = std::move(d.fields);
            c.body = std::move(d.update_body);
            for (const auto& f : c.fields) c.reindex = c.reindex || f.reindex;
            plan.changes.push_back(std::move(c));
            continue;
          }
          Change c;
          c.action = Action::create;
          c.reason = owned ? Reason::drift : Reason::config;
          c.ns = ns_name;
          c.id = id;
          c.body = create_body(ispec);
          c.followup_update = followup_body(ispec);
          if (ispec.fields.is_object()) {
            for (const auto& [key, value] : ispec.fields.items()) {
              FieldChange f;
              f.path = key;
              f.after = value;
              f.sensitive = model::is_sensitive_path(key);
              c.fields.push_back(std::move(f));
            }
          }
          if (owned)
            plan.warnings.push_back(ispec.address() +
                                    " was deleted outside aisearchd: it is created again");
          plan.changes.push_back(std::move(c));
          continue;
        }
        if (!owned) plan.adopt.push_back(ispec.address());
        InstanceDiff d = compare_instance(ispec, remote->raw, owned);
        for (const auto& f : d.unstable)
          plan.warnings.push_back(
              ispec.address() + ": field " + f +
              " is unstable (the API did not take the value last time): not re-sent");
        if (d.fields.empty()) continue;
        Change c;
        c.ns = ns_name;
        c.id = id;
        c.fields = std::move(d.fields);
        c.reason = d.any_config ? Reason::config : Reason::drift;
        if (c.reason == Reason::drift) c.modified_by = remote->modified_by;
        for (const auto& f : c.fields) c.reindex = c.reindex || f.reindex;
        if (d.immutable_changed) {
          c.action = Action::replace;
          c.reindex = true;
          c.body = create_body(ispec);
          c.followup_update = followup_body(ispec);
          bool is_protected = ispec.protect || (owned && owned->protect);
          if (is_protected)
            c.blocked =
                Blocked{"protected", "protected instances are never deleted, so never replaced"};
          else if (!ispec.allow_replace)
            c.blocked = Blocked{"replace_not_allowed",
                                "type/source changed: replacing deletes and rebuilds the index; "
                                "set allow_replace: true to allow it"};
        } else {
          c.action = Action::update;
          c.body = std::move(d.update_body);
          if (c.reason == Reason::drift && !options.correct_drift)
            c.blocked = Blocked{"drift_report", "drift is reported, not corrected (drift: report)"};
        }
        plan.changes.push_back(std::move(c));
      }
    }

    // Remote instances the manifest does not declare.
    std::vector<Change> deletes;
    if (listing) {
      for (const auto& inst : listing->instances) {
        if (nspec && nspec->instances.count(inst.id)) continue;
        const std::string address = ns_name + "/" + inst.id;
        if (moved_away.count(address)) continue;
        const state::OwnedInstance* owned = state.find(ns_name, inst.id);
        if (!owned) {
          plan.unmanaged.push_back({ns_name, inst.id});
          continue;
        }
        Change c;
        c.action = Action::delete_;
        c.ns = ns_name;
        c.id = inst.id;
        c.reindex = false;
        if (owned->protect)
          c.blocked =
              Blocked{"protected",
                      "protected in state: never deleted by aisearchd (forget it to release it)"};
        else if (!nspec || !nspec->prune)
          c.blocked =
              Blocked{"prune_disabled",
                      "left the manifest, but prune is not enabled for namespace " + ns_name};
        else if (std::none_of(nspec->instances.begin(), nspec->instances.end(),
                              [](const auto& kv) { return !kv.second.suspend; }))
          c.blocked = Blocked{"never_empty", "the manifest lists no instances for namespace " +
                                                 ns_name + ": aisearchd never empties a namespace"};
        deletes.push_back(std::move(c));
      }
      std::sort(deletes.begin(), deletes.end(),
                [](const Change& a, const Change& b) { return a.id < b.id; });
      int allowed = nspec ? nspec->max_deletes : 0;
      int used = 0;
      for (auto& c : deletes) {
        if (c.blocked) continue;
        if (used >= allowed)
          c.blocked = Blocked{"max_deletes", "more than max_deletes (" + std::to_string(allowed) +
                                                 ") deletes in namespace " + ns_name + " this run"};
        else
          ++used;
      }
      for (auto& c : deletes) plan.changes.push_back(std::move(c));

      // Owned instances gone remotely that the manifest no longer declares.
      for (const auto& [address, owned] : state.owned) {
        if (owned.ns != ns_name || declared(ns_name, owned.id)) continue;
        if (moved_away.count(address)) continue;
        bool present = std::any_of(listing->instances.begin(), listing->instances.end(),
                                   [&](const api::Instance& i) { return i.id == owned.id; });
        if (!present) plan.forget.push_back(address);
      }
    }
  }

  std::stable_sort(plan.changes.begin(), plan.changes.end(), [](const Change& a, const Change& b) {
    int ra = action_rank(a), rb = action_rank(b);
    if (ra != rb) return ra < rb;
    return a.address() < b.address();
  });
  std::sort(plan.unmanaged.begin(), plan.unmanaged.end(),
            [](const Unmanaged& a, const Unmanaged& b) {
              return std::tie(a.ns, a.id) < std::tie(b.ns, b.id);
            });
  std::sort(plan.adopt.begin(), plan.adopt.end());
  std::sort(plan.forget.begin(), plan.forget.end());
  for (auto& c : plan.changes) {
    for (auto& f : c.fields) {
      f.before = mask_sensitive(f.path, f.before);
      f.after = mask_sensitive(f.path, f.after);
      f.sensitive = f.sensitive || model::is_sensitive_path(f.path);
    }
  }
  return plan;
}

}  // namespace reconcile
