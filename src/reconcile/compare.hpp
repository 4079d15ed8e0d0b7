#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/instance_fields.hpp"
#include "reconcile/plan.hpp"

namespace reconcile {

// True when the remote value satisfies the desired one under the plan's rules (PRODUCT.md §5):
// only what the manifest sets is compared (keys of desired objects, also inside array items; a
// remote object may hold more), numbers by value, enum strings case-insensitively, free-form
// maps compared whole, arrays item by item in order. `spec` may be null (then plain
// structural rules apply).
bool satisfies(const nlohmann::json& desired, const nlohmann::json& observed,
               const model::FieldSpec* spec);

// Appends the differing leaves of `desired` vs `observed` under `path` to `out` (dotted paths;
// whole-replaced objects and arrays are one change). Marks sensitive and re-index leaves.
void diff_value(const std::string& path, const nlohmann::json& desired,
                const nlohmann::json& observed, const model::FieldSpec* spec,
                std::vector<FieldChange>& out);

// `value` (found at dotted `path`) with every sensitive value below it replaced by the string
// "(sensitive)"; a sensitive path itself becomes "(sensitive)" (null stays null).
nlohmann::json mask_sensitive(const std::string& path, const nlohmann::json& value);

// A stable digest of a JSON value (canonical dump, FNV-1a): what state keeps of applied values.
std::string digest(const nlohmann::json& value);

// A digest of an API object's type, source and created_at (absent = null): what tells one
// instance under an id from another made under it later, also one with the same type and source.
std::string identity_digest(const nlohmann::json& object);

// The digest of `value` at dotted `path` and, where the comparison goes into an object key by
// key (not a free-form map), of every value below it under its dotted path, and of each object
// item of an array under "path[i]" (and below it): what state keeps of an applied field, so a
// later diff can tell which part of an object (or which item) the manifest changed and which
// part changed outside aisearchd.
void path_digests(const std::string& path, const nlohmann::json& value,
                  const model::FieldSpec* spec, std::map<std::string, std::string>& out);

// "path[i]": the path of an array's item `i` (path_digests, the drift of one item).
std::string item_path(const std::string& path, std::size_t i);

// The top-level field of a path ("retrieval_options" for "retrieval_options.boost_by[0].field").
std::string top_level_key(const std::string& path);

// The value at dotted `path` below `value`, or null when there is none. A part may end in item
// indexes ("retrieval_options.boost_by[1].field").
const nlohmann::json* find_path(const nlohmann::json& value, const std::string& path);

// `base` with `overlay`'s keys written over it, recursively for objects (arrays and scalars
// replace, except arrays of the same length, whose object items are overlaid by position). Used to
// send a whole nested object when the manifest sets only part of it (also an object the API
// replaces whole: the keys the manifest does not set keep the remote's values). Below a `spec`
// that is a free-form map (include_headers, metadata), `overlay` replaces the base's value whole,
// so a key the manifest removed is removed.
nlohmann::json overlay(const nlohmann::json& base, const nlohmann::json& overlay,
                       const model::FieldSpec* spec = nullptr);

// Removes the value at dotted `path` (relative to `value`; through arrays, from every item).
void erase_path(nlohmann::json& value, const std::string& path);

// Sets the value at dotted `path` of `body` to `remote`'s value there, or removes it from `body`
// when `remote` has none: a PUT carries the remote value of an ignore_changes path.
void carry_path(nlohmann::json& body, const nlohmann::json& remote, const std::string& path);

}  // namespace reconcile
