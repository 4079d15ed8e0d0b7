#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace model {

// The kinds of value a field holds.
enum class FieldType { string, boolean, integer, number, object, array };

// One field of the API's instance object (API.md §3), or one property nested inside one.
// The manifest loader validates against this tree, `aisearchd schema` prints it as JSON Schema,
// the diff takes its comparison rules from it and the apply step its create/update split, so the
// four cannot disagree.
struct FieldSpec {
  std::string name;
  FieldType type = FieldType::string;
  std::string description;
  bool nullable = false;

  // Constraints (checked by the manifest loader).
  std::optional<double> minimum, maximum;
  std::vector<std::string> enum_values;     // compared case-insensitively
  std::vector<long long> allowed_integers;  // e.g. sync_interval: one of a fixed set
  std::optional<std::string> pattern;       // ECMAScript regex, anchored
  std::optional<std::size_t> min_length, max_length;
  std::optional<std::size_t> max_items;
  bool unique_items = false;

  // object: its properties; array: children[0] describes every item.
  std::vector<FieldSpec> children;
  std::vector<std::string> required;  // object: properties that must be present

  // Top-level behaviour (API.md §3 C/U/R columns and §11).
  bool on_create = true;        // accepted by POST
  bool on_update = true;        // accepted by PUT
  bool returned = true;         // returned by GET/create/update (list responses carry every field)
  bool immutable = false;       // a change is a replace (type, source)
  bool reindex = false;         // a change makes Cloudflare rebuild the index
  bool replaced_whole = false;  // objects the API replaces whole on update
  bool sensitive = false;       // values masked as (sensitive) in every output
  // Accepted on write but read back as null: a null read-back compares against the digest of
  // what was last applied (token_id, API.md §12).
  bool write_only = false;

  const FieldSpec* child(std::string_view child_name) const;
  const FieldSpec* item() const { return children.empty() ? nullptr : &children.front(); }
};

// The instance fields a manifest may set, in API.md order. `id` is not among them: it is the
// manifest's map key.
const std::vector<FieldSpec>& instance_fields();
const FieldSpec* find_instance_field(std::string_view name);
std::vector<std::string> instance_field_names();

// The spec for a dotted path such as "indexing_options.use_ocr" (array items are transparent:
// "custom_metadata.field_name"). nullptr when the path names no field.
const FieldSpec* find_field_path(std::string_view dotted_path);

// True when a value at this dotted path must never be shown: values at or below a field marked
// `sensitive` (include_headers) and any path component named like a secret, matched as whole
// words (token, secret, password, api_key, authorization, cookie; token_id is an identifier):
// "keyword_tokenizer" is not sensitive.
bool is_sensitive_path(std::string_view dotted_path);
bool is_secret_like_name(std::string_view key);

// The id and namespace name rules (API.md §3, §4).
inline constexpr const char* k_instance_id_pattern = "^[a-z0-9_]+(?:-[a-z0-9_]+)*$";
inline constexpr std::size_t k_instance_id_max_length = 64;
inline constexpr const char* k_namespace_name_pattern = "^[a-z0-9]([a-z0-9-]{0,26}[a-z0-9])?$";
bool is_valid_instance_id(std::string_view id);
bool is_valid_namespace_name(std::string_view name);

}  // namespace model
