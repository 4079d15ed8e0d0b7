#include "reconcile/diff.hpp"

#include <algorithm>
#include <set>

#include "model/instance_fields.hpp"
#include "reconcile/compare.hpp"
#include "util/strings.hpp"

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

// A free-form map (include_headers, metadata): sent as the manifest has it, so a removed key is
// removed. Typed objects are sent over the remote's value, also those the API replaces whole
// (public_endpoint_params): a key the manifest does not set keeps the remote's value.
bool is_whole_object(const model::FieldSpec* spec) {
  return spec && spec->type == model::FieldType::object && spec->children.empty();
}

// The field-by-field comparison of one desired instance against its remote object.
struct InstanceDiff {
  std::vector<FieldChange> fields;
  json update_body = json::object();  // changed top-level fields, as a PUT sends them
  bool immutable_changed = false;
  bool immutable_config = false;  // an immutable field differs because the manifest changed it
  bool any_config = false;
  std::set<std::string> drift_keys;  // top-level fields that differ only because of drift
  // Paths inside a field the manifest changed that differ because of drift (the manifest's
  // value there is the one last applied, the remote's is not).
  std::set<std::string> drift_paths;
  // update_body without the drift keys and with the remote's value at each drift path: what
  // an update sends under drift: report.
  json held_body = json::object();
  // Items of an array of objects (the same length on both sides), or keys of a free-form map,
  // that differ because of drift,
  // while another item differs because the manifest changed it: "path[i]" each (warnings), and
  // the array as held_body sends it (the remote's item at each of them), by the array's path.
  std::vector<std::string> drift_items;
  std::map<std::string, json> held_arrays;
  std::vector<std::string> unstable;  // fields skipped because the API did not take them before
};

// The ignore_changes paths below top-level field `key`, relative to it ("a.b" for "key.a.b").
std::vector<std::string> ignored_below(const manifest::InstanceSpec& spec, const std::string& key) {
  std::vector<std::string> out;
  for (const auto& ignored : spec.ignore_changes)
    if (ignored.size() > key.size() + 1 && ignored.compare(0, key.size(), key) == 0 &&
        ignored[key.size()] == '.')
      out.push_back(ignored.substr(key.size() + 1));
  return out;
}

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
    // A write-only field (token_id) reads back as null although set.
    const bool write_only_null =
        field && field->write_only && have != remote.end() && have->is_null() && !want.is_null();
    const auto ignored = ignored_below(spec, key);
    std::vector<FieldChange> changes;
    if (have == remote.end() || write_only_null) {
      // The API does not return this field: compare against what we applied last.
      if (manifest_unchanged) continue;
      FieldChange fc;
      fc.path = key;
      fc.after = want;
      fc.unknown_before = true;
      fc.sensitive = model::is_sensitive_path(key);
      fc.reindex = field && field->reindex;
      changes.push_back(std::move(fc));
    } else if (ignored.empty()) {
      diff_value(key, want, *have, field, changes);
    } else {
      // Ignored sub-paths are compared on neither side.
      json want_cmp = want, have_cmp = *have;
      for (const auto& path : ignored) {
        erase_path(want_cmp, path);
        erase_path(have_cmp, path);
      }
      diff_value(key, want_cmp, have_cmp, field, changes);
    }
    changes.erase(std::remove_if(changes.begin(), changes.end(),
                                 [&](const FieldChange& c) { return is_ignored(spec, c.path); }),
                  changes.end());
    if (changes.empty()) continue;
    if (field && field->immutable) d.immutable_changed = true;
    if (field && field->immutable && !manifest_unchanged) d.immutable_config = true;
    // Inside a field the manifest changed, a path whose manifest value is the one last applied
    // differs because the remote changed there (state keeps digests per path of an object).
    bool key_drift = manifest_unchanged;
    std::vector<std::string> drift_sub;
    std::vector<std::pair<std::string, std::vector<std::size_t>>> item_drift;
    std::vector<std::pair<std::string, std::vector<std::string>>> map_drift;
    if (!manifest_unchanged && owned) {
      for (const auto& c : changes) {
        const json* mine = c.path == key ? &want : find_path(want, c.path.substr(key.size() + 1));
        if (mine && mine->is_object() && c.before.is_object() &&
            is_whole_object(model::find_field_path(c.path))) {
          if (auto it = owned->applied_digests.find(c.path);
              c.path != key && it != owned->applied_digests.end() && it->second == digest(*mine)) {
            drift_sub.push_back(c.path);  // the manifest's map is the one last applied
            continue;
          }
          // Key by key: a key whose manifest value is the one last applied, or one the manifest
          // never had and the last apply did not send, differs because the remote changed it.
          const std::string prefix = c.path + ".";
          const bool keyed = std::any_of(
              owned->applied_digests.begin(), owned->applied_digests.end(),
              [&](const auto& kv) { return kv.first.compare(0, prefix.size(), prefix) == 0; });
          std::set<std::string> keys;
          for (const auto& [k, v] : mine->items()) keys.insert(k);
          for (const auto& [k, v] : c.before.items()) keys.insert(k);
          std::vector<std::string> drifted;
          bool config_key = !keyed;
          for (const auto& k : keys) {
            const json m = mine->contains(k) ? (*mine)[k] : json();
            const json r = c.before.contains(k) ? c.before[k] : json();
            if (m == r) continue;
            auto it = owned->applied_digests.find(prefix + k);
            if (k.find_first_of(".[") != std::string::npos)
              config_key = true;
            else if (!m.is_null() ? it != owned->applied_digests.end() && it->second == digest(m)
                                  : it == owned->applied_digests.end())
              drifted.push_back(k);
            else
              config_key = true;
          }
          if (!drifted.empty() && !config_key)
            drift_sub.push_back(c.path);  // only drift in this map
          else if (!drifted.empty() && keyed)
            map_drift.emplace_back(c.path, std::move(drifted));
          continue;
        }
        if (mine && mine->is_array() && c.after.is_array() && c.before.is_array() &&
            mine->size() == c.after.size()) {
          if (auto it = owned->applied_digests.find(c.path);
              c.path != key && it != owned->applied_digests.end() && it->second == digest(*mine)) {
            drift_sub.push_back(c.path);  // the manifest's array is the one last applied
            continue;
          }
          // Items pair up by position: an item whose manifest value is the one last applied
          // differs because the remote changed it (state keeps digests per object item). Items
          // past the shorter array are the manifest's change (or the remote's: not kept).
          const auto* array_spec = model::find_field_path(c.path);
          const auto* items_spec = array_spec && array_spec->type == model::FieldType::array
                                       ? array_spec->item()
                                       : nullptr;
          std::vector<std::size_t> drifted;
          bool config_item = c.after.size() != c.before.size();
          for (std::size_t i = 0; i < std::min(c.after.size(), c.before.size()); ++i) {
            if (satisfies(c.after[i], c.before[i], items_spec)) continue;
            auto it = owned->applied_digests.find(item_path(c.path, i));
            if (it != owned->applied_digests.end() && it->second == digest((*mine)[i]))
              drifted.push_back(i);
            else
              config_item = true;
          }
          if (!drifted.empty() && !config_item)
            drift_sub.push_back(c.path);  // only drift in this array
          else if (!drifted.empty())
            item_drift.emplace_back(c.path, std::move(drifted));
          continue;
        }
        auto it = owned->applied_digests.find(c.path);
        if (c.path == key || it == owned->applied_digests.end()) continue;
        const json* now = find_path(want, c.path.substr(key.size() + 1));
        if (now && digest(*now) == it->second) drift_sub.push_back(c.path);
      }
      if (drift_sub.size() == changes.size()) {
        key_drift = true;  // what the manifest changed here the remote already has
        drift_sub.clear();
      }
    }
    if (!key_drift)
      d.any_config = true;
    else
      d.drift_keys.insert(key);
    d.drift_paths.insert(drift_sub.begin(), drift_sub.end());
    if (!field || field->on_update) {
      const bool present = have != remote.end() && !write_only_null;
      bool merge = field && field->type == model::FieldType::object && !is_whole_object(field) &&
                   present && have->is_object() && want.is_object();
      json body = merge ? overlay(*have, want, field) : want;
      // A PUT replaces the object: it carries the remote value of every ignored path in it.
      if (present)
        for (const auto& path : ignored) carry_path(body, *have, path);
      if (!key_drift) {
        json held = body;
        for (const auto& path : drift_sub) carry_path(held, *have, path.substr(key.size() + 1));
        // The value at `path` (an array or a map inside this field) in the held body, and the
        // remote's value there: null when either is missing or they differ in kind.
        const auto at_path = [&](const std::string& path) -> std::pair<json*, const json*> {
          const std::string rel = path == key ? "" : path.substr(key.size() + 1);
          json::json_pointer at;
          if (!rel.empty())
            for (const auto& part : util::split(rel, '.')) at /= part;
          const json* theirs = find_path(*have, rel);
          if (!held.contains(at) || !theirs || held[at].type() != theirs->type())
            return {nullptr, nullptr};
          return {&held[at], theirs};
        };
        for (const auto& [path, items] : item_drift) {
          auto [mine, theirs] = at_path(path);
          if (!mine || !mine->is_array()) continue;
          json& ours = *mine;
          for (auto i : items) {
            if (i >= ours.size() || i >= theirs->size()) continue;
            ours[i] = (*theirs)[i];
            d.drift_items.push_back(item_path(path, i));
          }
          d.held_arrays[path] = ours;
        }
        for (const auto& [path, drifted] : map_drift) {
          auto [mine, theirs] = at_path(path);
          if (!mine || !mine->is_object()) continue;
          json& ours = *mine;
          for (const auto& k : drifted) {
            if (auto it = theirs->find(k); it != theirs->end() && !it->is_null())
              ours[k] = *it;
            else
              ours.erase(k);
            d.drift_items.push_back(path + "." + k);
          }
          d.held_arrays[path] = ours;
        }
        d.held_body[key] = std::move(held);
      }
      d.update_body[key] = std::move(body);
    }
    for (auto& c : changes) d.fields.push_back(std::move(c));
  }
  return d;
}

int action_rank(const Change& c) {
  if (c.is_namespace()) return 0;
  switch (c.action) {
    case Action::adopt:
      return 1;
    case Action::move:
      return 2;
    case Action::create:
      return 3;
    case Action::update:
      return 4;
    case Action::replace:
      return 5;
    case Action::delete_:
      return 6;
  }
  return 7;
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

// Whether the remote object's type or source differ from what the manifest sets, whatever
// ignore_changes says: adopting an instance needs both to match.
bool identity_differs(const manifest::InstanceSpec& spec, const json& remote) {
  auto want = spec.fields.find("type");
  if (want != spec.fields.end()) {
    auto have = remote.find("type");
    if (have == remote.end() || *have != *want) return true;
  }
  // No source in the manifest is the API's blank source (upload-only storage): it matches only
  // an instance without one, never any instance that happens to have the id.
  auto text = [](const json& o, const char* key) {
    auto it = o.find(key);
    return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  return text(spec.fields, "source") != text(remote, "source");
}

// A record marked `deleting` whose id is there again with another type, source or created_at
// than the instance the DELETE was for: aisearchd's DELETE went through (its answer lost, or the
// run killed) and someone else made an instance under the id since. The record proves nothing about
// it.
bool remade_by_someone_else(const state::OwnedInstance& owned, const json& remote) {
  return owned.deleting && !owned.deleting_identity.empty() &&
         identity_digest(remote) != owned.deleting_identity;
}

// Whether `remote`'s type or source differ from the digests a record holds for them (a field
// the record has no digest of does not count).
bool record_identity_differs(const state::OwnedInstance& owned, const json& remote) {
  for (const char* key : {"type", "source"}) {
    auto recorded = owned.applied_digests.find(key);
    if (recorded == owned.applied_digests.end()) continue;
    auto it = remote.find(key);
    if (digest(it == remote.end() ? json() : *it) != recorded->second) return true;
  }
  return false;
}

std::optional<json> adoption_update(const manifest::InstanceSpec& spec, const json& remote) {
  InstanceDiff d = compare_instance(spec, remote, nullptr);
  if (d.immutable_changed || identity_differs(spec, remote)) return std::nullopt;
  return std::move(d.update_body);
}

std::map<std::string, std::string> field_digests(const manifest::InstanceSpec& spec) {
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : spec.fields.items())
    path_digests(key, value, model::find_instance_field(key), out);
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

  // What is known of each namespace: listed completely, known not to exist (so it holds
  // nothing), or unknown (its list failed or was partial, or it was not listed). Only the
  // first two may justify a create, a delete, a move or a forget (PRODUCT.md §5).
  enum class Seen { complete, absent, unknown };
  auto seen = [&](const std::string& ns) {
    if (ns != k_default_namespace && !observed.namespaces.count(ns)) return Seen::absent;
    auto it = observed.listings.find(ns);
    if (it == observed.listings.end()) return Seen::unknown;
    if (!it->second.exists) return Seen::absent;
    return it->second.error ? Seen::unknown : Seen::complete;
  };
  std::map<std::string, std::map<std::string, const api::Instance*>> listed;
  for (const auto& [ns, listing] : observed.listings)
    if (seen(ns) == Seen::complete)
      for (const auto& inst : listing.instances) listed[ns][inst.id] = &inst;
  auto find_remote = [&](const std::string& ns, const std::string& id) -> const api::Instance* {
    auto n = listed.find(ns);
    if (n == listed.end()) return nullptr;
    auto i = n->second.find(id);
    return i == n->second.end() ? nullptr : i->second;
  };
  auto spec_of = [&](const std::string& ns) -> const manifest::NamespaceSpec* {
    auto it = desired.namespaces.find(ns);
    return it == desired.namespaces.end() ? nullptr : &it->second;
  };
  auto declared = [&](const std::string& ns, const std::string& id) {
    const auto* n = spec_of(ns);
    return n && n->instances.count(id) > 0;
  };
  // The namespaces that declare `id` (suspended ones included: a declaration anywhere keeps the
  // instance from being deleted elsewhere).
  auto declared_in = [&](const std::string& id) {
    std::vector<std::string> out;
    for (const auto& [name, ns] : desired.namespaces)
      if (ns.instances.count(id)) out.push_back(name);
    return out;
  };

  // Moves: an owned instance A/x that the manifest now declares as B/x (and no longer in A),
  // present in A and absent from B. Both ends must be known; when an end is not, or more than
  // one owned instance could be the one that moved, nothing is planned for x in either.
  std::map<std::string, std::string> move_source;  // "B/x" -> A
  std::set<std::string> moved_away;                // "A/x"
  // "B/x" -> the rail and message of the blocked create shown for it: neither created nor moved
  // this run (a plan that shows it differs: `plan --detailed-exitcode` exits 2).
  std::map<std::string, Blocked> held;
  for (const auto& [ns_name, ns] : desired.namespaces) {
    if (ns.suspend || seen(ns_name) == Seen::unknown) continue;
    for (const auto& [id, inst] : ns.instances) {
      if (inst.suspend || find_remote(ns_name, id)) continue;
      std::vector<std::string> sources, waiting;
      for (const auto& [address, owned] : state.owned) {
        if (owned.id != id || owned.ns == ns_name || declared(owned.ns, id)) continue;
        const auto* from = spec_of(owned.ns);
        if ((from && from->suspend) || seen(owned.ns) == Seen::unknown) {
          waiting.push_back(owned.ns);
        } else if (const auto* there = find_remote(owned.ns, id)) {
          // A record never confirmed proves nothing: it is a move's source only when the
          // instance there has the manifest's type and source (the adopt rule).
          if (owned.pending_create && identity_differs(inst, there->raw)) continue;
          if (remade_by_someone_else(owned, there->raw)) continue;
          sources.push_back(owned.ns);
        }
      }
      if (!waiting.empty()) {
        held[inst.address()] = {
            "move_unknown", "aisearchd owns " + id + " in namespace " + util::join(waiting, ", ") +
                                ", which was not listed completely (or is suspended): a move "
                                "cannot be told from a create, so nothing is done this run"};
      } else if (sources.size() > 1) {
        held[inst.address()] = {"move_ambiguous",
                                "aisearchd owns " + id + " in " + util::join(sources, " and ") +
                                    ": which one moved is ambiguous, so nothing is done"};
      } else if (sources.size() == 1) {
        move_source[inst.address()] = sources.front();
        moved_away.insert(sources.front() + "/" + id);
      }
    }
  }

  // One owned instance that two declarations could each be the move of: as ambiguous as two
  // sources, so nothing is planned for either destination (and the source stays).
  std::map<std::string, std::vector<std::string>> destinations;  // "A/x" -> {"B/x", ...}
  for (const auto& [to, from_ns] : move_source)
    destinations[from_ns + "/" + to.substr(to.find('/') + 1)].push_back(to);
  for (const auto& [from, tos] : destinations) {
    if (tos.size() < 2) continue;
    for (const auto& to : tos) {
      move_source.erase(to);
      held[to] = {"move_ambiguous", from + " (owned) is declared in " + util::join(tos, " and ") +
                                        ": which one it moved to is ambiguous, so nothing is done"};
    }
    moved_away.erase(from);
  }

  // drift: report: a change made for the manifest (or a move) does not send what differs only
  // by drift; those fields are reported in a warning instead.
  auto hold_drift = [&](Change& c, const InstanceDiff& d) {
    if (options.correct_drift ||
        (d.drift_keys.empty() && d.drift_paths.empty() && d.drift_items.empty()))
      return;
    std::vector<std::string> held;
    c.body = d.held_body;
    std::erase_if(c.fields, [&](const FieldChange& f) {
      if (!d.drift_keys.count(f.path.substr(0, f.path.find('.'))) && !d.drift_paths.count(f.path))
        return false;
      held.push_back(f.path);
      return true;
    });
    // An array the manifest changed in one item keeps the remote's drifted items.
    for (auto& f : c.fields)
      if (auto it = d.held_arrays.find(f.path); it != d.held_arrays.end()) f.after = it->second;
    held.insert(held.end(), d.drift_items.begin(), d.drift_items.end());
    if (!held.empty())
      plan.warnings.push_back(c.address() + ": changed outside aisearchd, reported not corrected " +
                              "(drift: report): " + util::join(held, ", "));
  };

  // drift: report blocks a change made only for drift (rail drift_report).
  auto report_only = [&](Change& c, const std::string& what) {
    if (c.blocked || c.reason != Reason::drift || options.correct_drift) return;
    c.blocked = Blocked{"drift_report", (what.empty() ? "" : what + "; ") +
                                            "drift is reported, not corrected (drift: report)"};
  };

  // Protected as the manifest says or as state remembers: taking `protect` off releases the
  // record only in a run that does not also replace it (apply), so the replace is planned and
  // shown in a later plan, never carried out unseen.
  auto replace_rails = [&](Change& c, const manifest::InstanceSpec& ispec, bool is_protected) {
    if (ispec.protect)
      c.blocked = Blocked{"protected", "protected instances are never deleted, so never replaced"};
    else if (is_protected)
      c.blocked = Blocked{"protected",
                          "protected in state: apply protect: false without the type/source "
                          "change first, then change it (the replace is planned then)"};
    else if (!ispec.allow_replace)
      c.blocked = Blocked{"replace_not_allowed",
                          "type/source changed: replacing deletes and rebuilds the index; set "
                          "allow_replace: true to allow it"};
  };
  auto create_change = [&](const manifest::InstanceSpec& ispec, Change& c) {
    c.body = create_body(ispec);
    c.followup_update = followup_body(ispec);
    for (const auto& [key, value] : ispec.fields.items()) {
      if (key == "id") continue;
      FieldChange f;
      f.path = key;
      f.after = value;
      f.sensitive = model::is_sensitive_path(key);
      c.fields.push_back(std::move(f));
    }
  };

  for (const auto& ns_name : managed) {
    const manifest::NamespaceSpec* nspec = spec_of(ns_name);
    const Seen ns_seen = seen(ns_name);

    if (ns_seen == Seen::absent && !nspec) {
      // State owns instances in a namespace that is gone remotely and from the manifest.
      for (const auto& [address, owned] : state.owned)
        if (owned.ns == ns_name) plan.forget.push_back(address);
      continue;
    }
    if (ns_seen == Seen::unknown) {
      auto it = observed.listings.find(ns_name);
      std::string why = it != observed.listings.end() && it->second.error
                            ? *it->second.error
                            : std::string("instance list missing");
      plan.skipped_namespaces.push_back({ns_name, why});
      continue;
    }

    // The namespace itself.
    // A namespace aisearchd made or updated (state.namespaces) that is gone was deleted outside;
    // a description that differs while the manifest's is the one applied was changed outside:
    // both drift, which drift: report shows and never writes back.
    const auto ns_record = state.namespaces.find(ns_name);
    if (nspec && ns_seen == Seen::absent) {
      Change c;
      c.action = Action::create;
      c.ns = ns_name;
      c.body = {{"name", ns_name}};
      if (nspec->description) {
        c.body["description"] = *nspec->description;
        c.fields.push_back({"description", nullptr, *nspec->description});
      }
      if (ns_record != state.namespaces.end()) c.reason = Reason::drift;
      report_only(c, "namespace deleted outside aisearchd");
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
          if (ns_record != state.namespaces.end() &&
              ns_record->second == digest(json(*nspec->description)))
            c.reason = Reason::drift;
          report_only(c, "");
          plan.changes.push_back(std::move(c));
        }
      }
    }
    // A declared namespace first seen as the manifest has it is recorded as it is (on apply),
    // so a later change or delete of it outside is drift too.
    if (nspec && ns_seen == Seen::complete && ns_name != k_default_namespace &&
        ns_record == state.namespaces.end()) {
      const auto& remote_ns = observed.namespaces.at(ns_name);
      if (!nspec->description || remote_ns.description.value_or("") == *nspec->description)
        plan.namespace_records[ns_name] =
            digest(nspec->description ? json(*nspec->description) : json(nullptr));
    }

    // Desired instances.
    if (nspec) {
      for (const auto& [id, ispec] : nspec->instances) {
        if (ispec.suspend) continue;
        const state::OwnedInstance* owned = state.find(ns_name, id);
        const api::Instance* remote = find_remote(ns_name, id);
        if (!remote) {
          if (auto h = held.find(ispec.address()); h != held.end()) {
            Change c;
            c.action = Action::create;
            c.ns = ns_name;
            c.id = id;
            create_change(ispec, c);
            c.blocked = h->second;
            plan.changes.push_back(std::move(c));
            continue;
          }
          if (auto mv = move_source.find(ispec.address()); mv != move_source.end()) {
            const std::string& from_ns = mv->second;
            const state::OwnedInstance* from_owned = state.find(from_ns, id);
            InstanceDiff d = compare_instance(ispec, find_remote(from_ns, id)->raw, from_owned);
            Change c;
            c.ns = ns_name;
            c.id = id;
            c.from_ns = from_ns;
            c.fields = std::move(d.fields);
            for (const auto& f : c.fields) c.reindex = c.reindex || f.reindex;
            if (d.immutable_changed) {
              // A move that changes type or source is a replace: delete A/x, create B/x.
              c.action = Action::replace;
              c.deletes_identity = identity_digest(find_remote(from_ns, id)->raw);
              c.reindex = true;
              c.body = create_body(ispec);
              c.followup_update = followup_body(ispec);
              replace_rails(c, ispec, from_owned && from_owned->protect);
              // The move is config; a replace for type/source changed outside is drift.
              if (!d.immutable_config) {
                c.reason = Reason::drift;
                c.modified_by = find_remote(from_ns, id)->modified_by;
              }
              report_only(c, "type/source changed outside aisearchd: the move waits");
            } else {
              c.action = Action::move;
              c.body = std::move(d.update_body);
              hold_drift(c, d);
            }
            plan.changes.push_back(std::move(c));
            continue;
          }
          // An owned record of an instance that is not there: deleted outside aisearchd
          // (drift), unless its create was never confirmed (pending_create) or its own
          // delete was sent (deleting): then creating it is config.
          const bool deleted_outside = owned && !owned->pending_create && !owned->deleting;
          Change c;
          c.action = Action::create;
          c.reason = deleted_outside ? Reason::drift : Reason::config;
          c.ns = ns_name;
          c.id = id;
          create_change(ispec, c);
          if (deleted_outside && options.correct_drift)
            plan.warnings.push_back(ispec.address() +
                                    " was deleted outside aisearchd: it is created again");
          report_only(c, "deleted outside aisearchd");
          plan.changes.push_back(std::move(c));
          continue;
        }
        InstanceDiff d = compare_instance(ispec, remote->raw, owned);
        // A record whose create was never confirmed (pending_create) proves nothing: the
        // instance there may be someone else's.
        const bool unproven =
            !owned || owned->pending_create || remade_by_someone_else(*owned, remote->raw);
        if (unproven && (d.immutable_changed || identity_differs(ispec, remote->raw))) {
          // Someone else's instance with another type or source: never adopted, never replaced.
          Change c;
          c.action = Action::replace;
          c.ns = ns_name;
          c.id = id;
          c.fields = std::move(d.fields);
          c.reindex = true;
          c.blocked = Blocked{
              "adopt_conflict",
              ispec.address() +
                  " exists but aisearchd does not own it and its type/source differ from the "
                  "manifest: fix the manifest, or adopt it explicitly with `aisearchd adopt`"};
          plan.changes.push_back(std::move(c));
          // A create record (its answer lost) whose id holds an instance of another type or
          // source than the POST sent: the create met someone else's instance; the record goes.
          if (owned && owned->pending_create && record_identity_differs(*owned, remote->raw))
            plan.forget.push_back(ispec.address());
          continue;
        }
        // Adopted (or, for a create whose answer was lost, confirmed) on apply; so is a record
        // marked `deleting` whose instance is still there, unless this plan replaces it again.
        if (unproven) plan.adopt.push_back(ispec.address());
        if (!owned || remade_by_someone_else(*owned, remote->raw)) {
          // Shown: from now on aisearchd owns it (prune can delete it, drift is corrected). So
          // is an instance someone made again under the id of one aisearchd deleted: the record
          // of the deleted one goes (plan.forget) and this one is adopted afresh.
          Change c;
          c.action = Action::adopt;
          c.ns = ns_name;
          c.id = id;
          plan.changes.push_back(std::move(c));
        }
        for (const auto& f : d.unstable)
          plan.warnings.push_back(
              ispec.address() + ": field " + f +
              " is unstable (the API did not take the value last time): not re-sent");
        if (d.fields.empty()) continue;
        Change c;
        c.ns = ns_name;
        c.id = id;
        c.fields = std::move(d.fields);
        // A replace is config only when the manifest changed type/source.
        const bool config = d.immutable_changed ? d.immutable_config : d.any_config;
        c.reason = config ? Reason::config : Reason::drift;
        if (c.reason == Reason::drift) c.modified_by = remote->modified_by;
        for (const auto& f : c.fields) c.reindex = c.reindex || f.reindex;
        if (d.immutable_changed) {
          c.action = Action::replace;
          c.deletes_identity = identity_digest(remote->raw);
          c.reindex = true;
          c.body = create_body(ispec);
          c.followup_update = followup_body(ispec);
          replace_rails(c, ispec, owned->protect);
        } else {
          c.action = Action::update;
          c.body = std::move(d.update_body);
          if (c.reason == Reason::config) hold_drift(c, d);
        }
        report_only(c, "");
        if (c.action == Action::update && c.fields.empty()) continue;
        plan.changes.push_back(std::move(c));
      }
    }

    // Remote instances the manifest does not declare here.
    auto listed_here = listed.find(ns_name);
    if (listed_here != listed.end()) {
      for (const auto& [inst_id, inst] : listed_here->second) {
        if (declared(ns_name, inst_id)) continue;
        const std::string address = ns_name + "/" + inst_id;
        if (moved_away.count(address)) continue;
        const state::OwnedInstance* owned = state.find(ns_name, inst_id);
        // An unconfirmed create, or an instance remade by someone else after aisearchd's own
        // delete, never authorizes a delete.
        if (!owned || owned->pending_create || remade_by_someone_else(*owned, inst->raw)) {
          plan.unmanaged.push_back({ns_name, inst_id});
          continue;
        }
        const auto elsewhere = declared_in(inst_id);
        if (!elsewhere.empty() &&
            std::none_of(elsewhere.begin(), elsewhere.end(),
                         [&](const std::string& n) { return find_remote(n, inst_id); })) {
          // Declared in a namespace where it is not (yet): a move that could not be planned
          // this run (an end not listed, or ambiguous). Nothing is planned for it here either.
          plan.warnings.push_back(address + ": the manifest declares " + inst_id +
                                  " in namespace " + util::join(elsewhere, ", ") +
                                  ": left alone until it can be moved");
          continue;
        }
        Change c;
        c.action = Action::delete_;
        c.ns = ns_name;
        c.id = inst_id;
        c.deletes_identity = identity_digest(inst->raw);
        if (owned->protect)
          c.blocked =
              Blocked{"protected",
                      "protected in state: never deleted by aisearchd (forget it to release it)"};
        else if (!elsewhere.empty())
          c.blocked =
              Blocked{"declared_elsewhere", "the manifest declares " + inst_id + " in namespace " +
                                                util::join(elsewhere, ", ") +
                                                ": an id the manifest declares is never deleted"};
        else if (!nspec || !nspec->prune)
          c.blocked =
              Blocked{"prune_disabled",
                      "left the manifest, but prune is not enabled for namespace " + ns_name};
        else if (std::none_of(nspec->instances.begin(), nspec->instances.end(),
                              [](const auto& kv) { return !kv.second.suspend; }))
          c.blocked = Blocked{"never_empty", "the manifest lists no instances for namespace " +
                                                 ns_name + ": aisearchd never empties a namespace"};
        plan.changes.push_back(std::move(c));
      }
    }

    // Owned instances gone remotely (the namespace is listed completely, or does not exist)
    // that the manifest does not declare here and that did not move.
    for (const auto& [address, owned] : state.owned) {
      if (owned.ns != ns_name || declared(ns_name, owned.id) || moved_away.count(address)) continue;
      if (!find_remote(ns_name, owned.id)) plan.forget.push_back(address);
    }
  }

  // max_deletes per namespace per run: deletes and replaces (a replace deletes) share it, in
  // address order; a move that replaces counts where it lands.
  std::map<std::string, std::vector<Change*>> deleting;
  for (auto& c : plan.changes)
    if (!c.blocked && !c.is_namespace() &&
        (c.action == Action::delete_ || c.action == Action::replace))
      deleting[c.ns].push_back(&c);
  for (auto& [ns_name, changes] : deleting) {
    std::sort(changes.begin(), changes.end(),
              [](const Change* a, const Change* b) { return a->address() < b->address(); });
    const auto* nspec = spec_of(ns_name);
    const int allowed = nspec ? nspec->max_deletes : 0;
    int used = 0;
    for (auto* c : changes) {
      if (used < allowed) {
        ++used;
        continue;
      }
      c->blocked = Blocked{"max_deletes", "more than max_deletes (" + std::to_string(allowed) +
                                              ") deletes and replaces in namespace " + ns_name +
                                              " this run"};
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
  // A record marked `deleting` whose instance a complete list still shows, and that this plan
  // does not delete or replace, was not deleted: the mark goes on apply (through adopt, which
  // confirms a record), so a later delete outside is drift again.
  for (const auto& [address, owned] : state.owned) {
    const auto* there = find_remote(owned.ns, owned.id);
    if (!owned.deleting || seen(owned.ns) != Seen::complete || !there) continue;
    if (remade_by_someone_else(owned, there->raw)) {
      // aisearchd's instance is gone; the one there now is someone else's: the record goes
      // (and when the manifest declares it with its type and source, it is adopted afresh).
      if (std::find(plan.forget.begin(), plan.forget.end(), address) == plan.forget.end())
        plan.forget.push_back(address);
      continue;
    }
    bool deletes = false;
    for (const auto& c : plan.changes)
      deletes =
          deletes || (!c.blocked && (c.action == Action::delete_ || c.action == Action::replace) &&
                      (c.address() == address || c.from_ns + "/" + c.id == address));
    if (!deletes && std::find(plan.adopt.begin(), plan.adopt.end(), address) == plan.adopt.end())
      plan.adopt.push_back(address);
  }
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
