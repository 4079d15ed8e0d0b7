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

bool whole(const model::FieldSpec* spec) {
  return spec && (spec->replaced_whole || is_free_form(spec));
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

// Whole comparison (arrays, whole-replaced objects): same keys and values, except that a key
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
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
      if (!equal_whole(a[i], b[i], item_spec(spec))) return false;
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

json overlay(const json& base, const json& over) {
  if (!base.is_object() || !over.is_object()) return over;
  json out = base;
  for (const auto& [k, v] : over.items()) {
    auto it = out.find(k);
    out[k] = it == out.end() ? v : overlay(*it, v);
  }
  return out;
}

}  // namespace reconcile
