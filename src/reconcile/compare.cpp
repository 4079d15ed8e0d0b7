#include "reconcile/compare.hpp"

#include <cmath>

#include "util/strings.hpp"

namespace reconcile {

using nlohmann::json;

namespace {

bool is_enum(const model::FieldSpec* spec) {
  return spec && !spec->enum_values.empty();
}

bool is_free_form(const model::FieldSpec* spec) {
  return spec && spec->type == model::FieldType::object && spec->children.empty();
}

// Compared whole: free-form maps (include_headers, metadata). Objects the API replaces whole on
// update (public_endpoint_params) still compare only the keys the manifest sets: the server
// fills the rest with defaults.
bool whole(const model::FieldSpec* spec) {
  return is_free_form(spec);
}

const model::FieldSpec* item_spec(const model::FieldSpec* spec) {
  return spec && spec->type == model::FieldType::array ? spec->item() : nullptr;
}

const model::FieldSpec* child_spec(const model::FieldSpec* spec, const std::string& key) {
  return spec && spec->type == model::FieldType::object ? spec->child(key) : nullptr;
}

bool scalar_equal(const json& a, const json& b, const model::FieldSpec* spec) {
  if (a.is_number() && b.is_number()) {
    double x = a.get<double>(), y = b.get<double>();
    return x == y || std::fabs(x - y) <= 1e-9 * std::max(std::fabs(x), std::fabs(y));
  }
  if (a.is_string() && b.is_string()) {
    return is_enum(spec)
               ? util::iequals(a.get_ref<const std::string&>(), b.get_ref<const std::string&>())
               : a == b;
  }
  return a == b;
}

// Whole comparison (arrays, free-form maps): same keys and values, except that a key
// the server sends as null counts as absent.
bool equal_whole(const json& a, const json& b, const model::FieldSpec* spec) {
  if (a.is_object() && b.is_object()) {
    for (const auto& [k, v] : a.items()) {
      auto it = b.find(k);
      if (it == b.end()) {
        if (!v.is_null()) return false;
        continue;
      }
      if (!equal_whole(v, *it, child_spec(spec, k))) return false;
    }
    for (const auto& [k, v] : b.items())
      if (!a.contains(k) && !v.is_null()) return false;
    return true;
  }
  if (a.is_array() && b.is_array()) {
    // Items pair up by position; an object item compares the keys the manifest sets (a key the
    // server adds to every item, such as boost_by[].dataType, is not drift).
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
      if (!satisfies(a[i], b[i], item_spec(spec))) return false;
    return true;
  }
  return scalar_equal(a, b, spec);
}

}  // namespace

bool satisfies(const json& desired, const json& observed, const model::FieldSpec* spec) {
  if (desired.is_object() && observed.is_object() && !whole(spec)) {
    for (const auto& [k, v] : desired.items()) {
      auto it = observed.find(k);
      const json& o = it == observed.end() ? json() : *it;
      if (!satisfies(v, o, child_spec(spec, k))) return false;
    }
    return true;
  }
  return equal_whole(desired, observed, spec);
}

void diff_value(const std::string& path, const json& desired, const json& observed,
                const model::FieldSpec* spec, std::vector<FieldChange>& out) {
  if (desired.is_object() && observed.is_object() && !whole(spec)) {
    for (const auto& [k, v] : desired.items()) {
      auto it = observed.find(k);
      const json& o = it == observed.end() ? json() : *it;
      diff_value(path + "." + k, v, o, child_spec(spec, k), out);
    }
    return;
  }
  if (satisfies(desired, observed, spec)) return;
  FieldChange change;
  change.path = path;
  change.before = observed;
  change.after = desired;
  change.sensitive = model::is_sensitive_path(path);
  const auto* leaf = model::find_field_path(path);
  change.reindex = leaf && leaf->reindex;
  // A whole-object change that touches a re-index leaf below it is a re-index too.
  if (!change.reindex && desired.is_object()) {
    for (const auto& [k, v] : desired.items()) {
      const auto* c = model::find_field_path(path + "." + k);
      if (c && c->reindex) {
        auto it = observed.is_object() ? observed.find(k) : observed.end();
        if (!observed.is_object() || it == observed.end() || !satisfies(v, *it, c))
          change.reindex = true;
      }
    }
  }
  out.push_back(std::move(change));
}

json mask_sensitive(const std::string& path, const json& value) {
  if (value.is_null()) return value;
  if (!path.empty() && model::is_sensitive_path(path)) return "(sensitive)";
  if (value.is_object()) {
    json out = json::object();
    for (const auto& [k, v] : value.items())
      out[k] = mask_sensitive(path.empty() ? k : path + "." + k, v);
    return out;
  }
  if (value.is_array()) {
    json out = json::array();
    for (const auto& v : value) out.push_back(mask_sensitive(path, v));
    return out;
  }
  return value;
}

std::string digest(const json& value) {
  return util::fnv1a_hex(value.dump());
}

std::string identity_digest(const json& object) {
  json identity = json::object();
  for (const char* key : {"type", "source", "created_at"}) {
    auto it = object.find(key);
    identity[key] = it == object.end() ? json() : *it;
  }
  return digest(identity);
}

std::string item_path(const std::string& path, std::size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

std::string top_level_key(const std::string& path) {
  return path.substr(0, path.find_first_of(".["));
}

void path_digests(const std::string& path, const json& value, const model::FieldSpec* spec,
                  std::map<std::string, std::string>& out) {
  out[path] = digest(value);
  if (value.is_array()) {
    // Object items by position (the comparison pairs them so): drift inside one item is told
    // from a manifest change of another. Lists of scalars are one value.
    for (std::size_t i = 0; i < value.size(); ++i)
      if (value[i].is_object()) path_digests(item_path(path, i), value[i], item_spec(spec), out);
    return;
  }
  if (!value.is_object()) return;
  if (whole(spec)) {
    // A free-form map's keys, one level (a key a path cannot name stays part of the whole):
    // a key changed outside is told from the manifest's change of another.
    for (const auto& [k, v] : value.items())
      if (k.find_first_of(".[") == std::string::npos) out[path + "." + k] = digest(v);
    return;
  }
  for (const auto& [k, v] : value.items())
    path_digests(path + "." + k, v, child_spec(spec, k), out);
}

json overlay(const json& base, const json& over, const model::FieldSpec* spec) {
  // Arrays of objects of the same length: item by item (the comparison pairs items by position
  // and compares the keys the manifest sets, so a key someone added to an item is kept).
  if (base.is_array() && over.is_array() && base.size() == over.size()) {
    json out = json::array();
    for (std::size_t i = 0; i < over.size(); ++i)
      out.push_back(base[i].is_object() && over[i].is_object()
                        ? overlay(base[i], over[i], item_spec(spec))
                        : over[i]);
    return out;
  }
  if (!base.is_object() || !over.is_object()) return over;
  if (is_free_form(spec)) return over;
  json out = base;
  for (const auto& [k, v] : over.items()) {
    auto it = out.find(k);
    out[k] = it == out.end() ? v : overlay(*it, v, child_spec(spec, k));
  }
  return out;
}

namespace {

std::vector<std::string> path_parts(const std::string& dotted) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    std::size_t dot = dotted.find('.', start);
    parts.push_back(dotted.substr(start, dot - start));
    if (dot == std::string::npos) return parts;
    start = dot + 1;
  }
}

void erase_parts(json& value, const std::vector<std::string>& parts, std::size_t i) {
  if (i >= parts.size()) return;
  if (value.is_array()) {
    for (auto& item : value) erase_parts(item, parts, i);
    return;
  }
  if (!value.is_object()) return;
  auto it = value.find(parts[i]);
  if (it == value.end()) return;
  if (i + 1 == parts.size())
    value.erase(it);
  else
    erase_parts(*it, parts, i + 1);
}

// A part is a key, optionally followed by item indexes ("boost_by[1]", as item_path writes).
const json* find_parts(const json& value, const std::vector<std::string>& parts) {
  const json* at = &value;
  for (const auto& p : parts) {
    const auto bracket = p.find('[');
    if (!at->is_object()) return nullptr;
    auto it = at->find(p.substr(0, bracket));
    if (it == at->end()) return nullptr;
    at = &*it;
    for (auto b = bracket; b != std::string::npos; b = p.find('[', b + 1)) {
      const auto close = p.find(']', b);
      if (close == std::string::npos || !at->is_array()) return nullptr;
      std::size_t i = 0;
      for (auto k = b + 1; k < close; ++k) {
        if (p[k] < '0' || p[k] > '9' || i > at->size()) return nullptr;
        i = i * 10 + static_cast<std::size_t>(p[k] - '0');
      }
      if (close == b + 1 || i >= at->size()) return nullptr;
      at = &(*at)[i];
    }
  }
  return at;
}

}  // namespace

const json* find_path(const json& value, const std::string& path) {
  return path.empty() ? &value : find_parts(value, path_parts(path));
}

void erase_path(json& value, const std::string& path) {
  if (path.empty()) return;
  erase_parts(value, path_parts(path), 0);
}

namespace {

// carry_path below `body` from part `i` on; `remote` is the remote's value at the same place
// (null when it has none). Arrays pair their items by position.
void carry_parts(json& body, const json* remote, const std::vector<std::string>& parts,
                 std::size_t i) {
  if (body.is_array()) {
    for (std::size_t j = 0; j < body.size(); ++j) {
      const json* item =
          remote && remote->is_array() && j < remote->size() ? &(*remote)[j] : nullptr;
      carry_parts(body[j], item, parts, i);
    }
    return;
  }
  if (!body.is_object()) return;  // a scalar on the way: left as the manifest has it
  const json* next = nullptr;
  if (remote && remote->is_object())
    if (auto it = remote->find(parts[i]); it != remote->end()) next = &*it;
  if (i + 1 == parts.size()) {
    if (next)
      body[parts[i]] = *next;
    else
      body.erase(parts[i]);
    return;
  }
  auto it = body.find(parts[i]);
  if (it == body.end()) {
    if (!next || !next->is_object()) return;
    it = body.emplace(parts[i], json::object()).first;
  }
  carry_parts(*it, next, parts, i + 1);
}

}  // namespace

void carry_path(json& body, const json& remote, const std::string& path) {
  if (path.empty() || !body.is_object()) return;
  carry_parts(body, &remote, path_parts(path), 0);
}

}  // namespace reconcile
