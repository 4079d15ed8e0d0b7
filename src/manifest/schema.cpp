#include "manifest/schema.hpp"

#include "manifest/loader.hpp"
#include "model/instance_fields.hpp"

namespace manifest {

namespace {

using json = nlohmann::json;
using model::FieldSpec;
using model::FieldType;

constexpr const char* k_env_ref = "#/$defs/env_reference";
constexpr const char* k_duration_ref = "#/$defs/duration";

const char* type_name(FieldType t) {
  switch (t) {
    case FieldType::string:
      return "string";
    case FieldType::boolean:
      return "boolean";
    case FieldType::integer:
      return "integer";
    case FieldType::number:
      return "number";
    case FieldType::object:
      return "object";
    case FieldType::array:
      return "array";
  }
  return "string";
}

json type_of(const FieldSpec& spec) {
  if (spec.nullable) return json::array({type_name(spec.type), "null"});
  return type_name(spec.type);
}

// `mergeable`: the object merges with `defaults`, so its required keys may come from another
// layer and are not required here.
json field_schema(const FieldSpec& spec, bool mergeable) {
  json s = json::object();
  s["type"] = type_of(spec);
  if (!spec.description.empty()) s["description"] = spec.description;
  switch (spec.type) {
    case FieldType::object: {
      if (spec.children.empty()) {
        s["additionalProperties"] = {{"type", "string"}};
        if (spec.max_items) s["maxProperties"] = *spec.max_items;
        break;
      }
      bool child_mergeable = mergeable && !spec.replaced_whole;
      json props = json::object();
      for (const auto& c : spec.children) props[c.name] = field_schema(c, child_mergeable);
      s["properties"] = std::move(props);
      s["additionalProperties"] = false;
      if (!spec.required.empty() && !child_mergeable) s["required"] = spec.required;
      break;
    }
    case FieldType::array:
      if (spec.item()) s["items"] = field_schema(*spec.item(), false);
      if (spec.max_items) s["maxItems"] = *spec.max_items;
      if (spec.min_length) s["minItems"] = *spec.min_length;
      if (spec.unique_items) s["uniqueItems"] = true;
      break;
    case FieldType::string:
      if (!spec.enum_values.empty()) {
        json values = spec.enum_values;
        if (spec.nullable) values.push_back(nullptr);
        s["enum"] = std::move(values);
      }
      if (spec.pattern) s["pattern"] = *spec.pattern;
      if (spec.min_length) s["minLength"] = *spec.min_length;
      if (spec.max_length) s["maxLength"] = *spec.max_length;
      break;
    case FieldType::integer:
    case FieldType::number:
      if (spec.minimum) s["minimum"] = *spec.minimum;
      if (spec.maximum) s["maximum"] = *spec.maximum;
      if (!spec.allowed_integers.empty()) {
        json values = spec.allowed_integers;
        if (spec.nullable) values.push_back(nullptr);
        s["enum"] = std::move(values);
      }
      break;
    case FieldType::boolean:
      break;
  }
  // A scalar the loader would read from ${VAR}: accept the reference where the plain rule
  // would reject it (typed, enumerated or patterned values).
  bool scalar = spec.type != FieldType::object && spec.type != FieldType::array;
  bool constrained = spec.type != FieldType::string || !spec.enum_values.empty() || spec.pattern ||
                     spec.min_length || spec.max_length;
  if (scalar && constrained) {
    json description = s.contains("description") ? s["description"] : json();
    s.erase("description");
    json wrapped = {{"anyOf", json::array({s, {{"$ref", k_env_ref}}})}};
    if (!description.is_null()) wrapped["description"] = description;
    return wrapped;
  }
  return s;
}

json instance_field_properties() {
  json props = json::object();
  for (const auto& f : model::instance_fields()) props[f.name] = field_schema(f, true);
  return props;
}

json boolean_schema(const char* description) {
  return {{"anyOf", json::array({{{"type", "boolean"}}, {{"$ref", k_env_ref}}})},
          {"description", description}};
}

json duration_schema(const char* description) {
  return {{"$ref", k_duration_ref}, {"description", description}};
}

json sync_schema() {
  json props = {
      {"schedule",
       {{"type", "string"},
        {"description",
         "5-field cron (minute hour day-of-month month day-of-week) or @hourly, @daily, "
         "@weekly, @monthly, @yearly, @annually, @midnight. Exclusive with every."}}},
      {"every", duration_schema("Interval between syncs (at least 1m). Exclusive with schedule.")},
      {"timezone",
       {{"type", "string"}, {"description", "IANA time zone of the cron schedule; default UTC."}}},
      {"jitter", duration_schema("Random delay added to each due time.")},
      {"on_change", boolean_schema("Sync after a create or update that affects indexing.")},
      {"concurrency",
       {{"anyOf",
         json::array({{{"enum", json::array({"forbid", "replace"})}}, {{"$ref", k_env_ref}}})},
        {"description", "forbid: skip when a job runs; replace: start anyway."}}},
      {"timeout", duration_schema("Cancel a job running longer (reported as timed_out).")},
      {"max_staleness", duration_schema("Older last success makes the instance unhealthy.")},
      {"suspend", boolean_schema("Stop triggering syncs of this instance.")}};
  return {{"type", "object"},
          {"description", "When aisearchd triggers sync jobs of this instance."},
          {"properties", std::move(props)},
          {"additionalProperties", false},
          {"oneOf", json::array({{{"required", json::array({"schedule"})},
                                  {"not", {{"required", json::array({"every"})}}}},
                                 {{"required", json::array({"every"})},
                                  {"not", {{"required", json::array({"schedule"})}}}}})}};
}

json instance_schema() {
  json props = instance_field_properties();
  props["protect"] =
      boolean_schema("Never deleted by aisearchd, even after removal from the manifest.");
  props["allow_replace"] =
      boolean_schema("Allow a replace (delete + create) when type or source changes.");
  props["suspend"] = boolean_schema("Leave this instance alone entirely.");
  props["managed"] =
      boolean_schema("Upload-only storage: no type, no source. Required for such an instance.");
  props["ignore_changes"] = {
      {"type", json::array({"array", "null"})},
      {"description", "Fields (or dotted paths) whose remote changes are not corrected."},
      {"items", {{"enum", ignorable_field_paths()}}}};
  props["sync"] = {{"$ref", "#/$defs/sync"}};
  // The source a type needs, where the instance sets both (an environment reference passes);
  // an inferred type, or one from defaults, is left to the loader.
  auto source_for = [](const char* type, const char* pattern) {
    return json{{"if",
                 {{"properties", {{"type", {{"const", type}}}}},
                  {"required", json::array({"type", "source"})}}},
                {"then", {{"properties", {{"source", {{"pattern", pattern}}}}}}}};
  };
  return {{"type", json::array({"object", "null"})},
          {"description", "An AI Search instance: its API fields plus aisearchd's own keys."},
          {"properties", std::move(props)},
          {"additionalProperties", false},
          {"allOf",
           json::array({source_for("web-crawler", R"(^(https?://[^/?#\s@]+\S*|.*\$\{.*)$)"),
                        source_for("r2", R"(^([a-z0-9][a-z0-9-]{1,61}[a-z0-9]|.*\$\{.*)$)")})}};
}

json defaults_schema(const char* description) {
  return {{"type", json::array({"object", "null"})},
          {"description", description},
          {"properties", instance_field_properties()},
          {"additionalProperties", false}};
}

json namespace_schema() {
  json props = {
      {"description", {{"type", "string"}, {"maxLength", 256}}},
      {"prune", boolean_schema("Delete owned instances that left the manifest (default false).")},
      {"max_deletes",
       {{"anyOf", json::array({{{"type", "integer"}, {"minimum", 0}, {"maximum", 1000000}},
                               {{"$ref", k_env_ref}}})},
        {"description", "Deletes allowed per run in this namespace (default 1)."}}},
      {"defaults", {{"$ref", "#/$defs/namespace_defaults"}}},
      {"suspend", boolean_schema("Leave this namespace alone.")},
      {"instances",
       {{"type", json::array({"object", "null"})},
        {"propertyNames",
         {{"pattern", model::k_instance_id_pattern},
          {"minLength", 1},
          {"maxLength", model::k_instance_id_max_length}}},
        {"additionalProperties", {{"$ref", "#/$defs/instance"}}}}}};
  return {{"type", json::array({"object", "null"})},
          {"properties", std::move(props)},
          {"additionalProperties", false}};
}

}  // namespace

json manifest_json_schema() {
  json defs = {
      {"env_reference",
       {{"type", "string"},
        {"pattern", "\\$\\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\\}"},
        {"description", "A value read from the environment: ${VAR} or ${VAR:-default}."}}},
      {"duration",
       {{"anyOf", json::array({{{"type", "string"}, {"pattern", "^([0-9]+(ms|s|m|h|d))+$"}},
                               {{"$ref", k_env_ref}}})}}},
      {"sync", sync_schema()},
      {"instance", instance_schema()},
      {"namespace", namespace_schema()},
      {"namespace_defaults", defaults_schema("API fields merged under every instance of the "
                                             "namespace (over the top-level defaults).")}};
  json namespaces = {
      {"type", json::array({"object", "null"})},
      {"description", "Namespaces by name; `default` always exists remotely."},
      {"propertyNames", {{"pattern", model::k_namespace_name_pattern}}},
      {"properties",
       {{"default",
         {{"allOf",
           json::array(
               {{{"$ref", "#/$defs/namespace"}},
                {{"not", {{"type", "object"}, {"required", json::array({"description"})}}}}})},
          {"description", "The default namespace (its description cannot be set)."}}}}},
      {"additionalProperties", {{"$ref", "#/$defs/namespace"}}}};
  return {{"$schema", "https://json-schema.org/draft/2020-12/schema"},
          {"$id", "urn:aisearchd:manifest:v1"},
          {"title", "aisearchd manifest"},
          {"description",
           "Desired Cloudflare AI Search instances, by namespace (apiVersion aisearchd/v1)."},
          {"type", "object"},
          {"required", json::array({"apiVersion"})},
          {"additionalProperties", false},
          {"properties",
           {{"apiVersion", {{"const", "aisearchd/v1"}}},
            {"account_id", {{"type", "string"}}},
            {"defaults", defaults_schema("API fields merged under every instance.")},
            {"namespaces", std::move(namespaces)}}},
          {"$defs", std::move(defs)}};
}

}  // namespace manifest
