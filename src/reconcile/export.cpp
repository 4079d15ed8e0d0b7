#include "reconcile/export.hpp"

#include <algorithm>
#include <climits>
#include <cmath>
#include <map>
#include <optional>
#include <set>

#include "model/instance_fields.hpp"
#include "util/strings.hpp"
#include "util/utf8.hpp"

namespace reconcile {

namespace {

using model::FieldSpec;
using model::FieldType;
using nlohmann::json;

constexpr const char* k_default_namespace = "default";
constexpr std::size_t k_max_description = 256;  // API.md §4

// Fields the server sets (API.md §3 read-only, §12 undeclared extras): never exported and not
// worth a word.
bool is_server_field(std::string_view key) {
  for (const char* k :
       {"id", "namespace", "status", "created_at", "modified_at", "created_by", "modified_by",
        "enable", "engine_version", "last_activity", "public_endpoint_id", "vectorize_name",
        "account_id", "account_tag", "internal_id", "vectorize_active_namespace"})
    if (key == k) return true;
  return false;
}

// The server's value for a new instance, by dotted path (array items transparent): API.md §3
// and §11, and what the bundled emulator fills in (emulator/store.cpp default_fields). Where
// the API says "" means the default model, "" is a default too. A remote value equal to one of
// these is left out of an export: the manifest then says nothing, which the plan never takes
// for drift (only what the manifest sets is compared).
const std::map<std::string, std::vector<json>>& server_defaults() {
  static const std::map<std::string, std::vector<json>> defaults = [] {
    const json llama = "@cf/meta/llama-3.3-70b-instruct-fp8-fast";
    std::map<std::string, std::vector<json>> d;
    d["hybrid_search_enabled"] = {true};
    d["index_method"] = {json{{"keyword", true}, {"vector", true}}};
    d["indexing_options.keyword_tokenizer"] = {"porter"};
    d["indexing_options.use_ocr"] = {false};
    d["embedding_model"] = {"", "@cf/baai/bge-m3"};
    d["ai_search_model"] = {"", llama};
    d["rewrite_model"] = {"", llama};
    d["reranking"] = {false};
    d["reranking_model"] = {"", "@cf/baai/bge-reranker-base"};
    d["rewrite_query"] = {false};
    d["chunk"] = {true};
    d["chunk_size"] = {256};
    d["chunk_overlap"] = {10};
    d["max_num_results"] = {10};
    d["score_threshold"] = {0.4};
    d["fusion_method"] = {"rrf"};
    d["cache"] = {true};
    d["cache_threshold"] = {"close_enough"};
    d["cache_ttl"] = {172800};
    d["sync_interval"] = {21600};
    d["retrieval_options.keyword_match_mode"] = {"and"};
    d["source_params.r2_jurisdiction"] = {"default"};
    d["source_params.web_crawler.parse_type"] = {"sitemap"};
    d["source_params.web_crawler.discover_options.include_external_links"] = {false};
    d["paused"] = {false};
    d["summarization"] = {false};
    d["summarization_model"] = {""};
    d["system_prompt_ai_search"] = {""};
    d["system_prompt_index_summarization"] = {""};
    d["system_prompt_rewrite_query"] = {""};
    return d;
  }();
  return defaults;
}

bool is_default(const std::string& dotted, const json& value) {
  const auto& d = server_defaults();
  auto it = d.find(dotted);
  if (it == d.end()) return false;
  return std::any_of(it->second.begin(), it->second.end(),
                     [&](const json& def) { return def == value; });
}

// Checks and trims one remote value against its catalogue entry.
class Cleaner {
 public:
  Cleaner(const std::string& address, ExportedManifest& out) : m_address(address), m_out(out) {}

  // The value as a manifest writes it, or nullopt when it is left out: quietly when it says
  // nothing (null, empty, every key a default), with a note in left_out when it cannot be
  // written. `shown` is the path for notes (with [i] for items); `dotted` the catalogue path.
  std::optional<json> clean(const json& v, const FieldSpec& spec, const std::string& shown,
                            const std::string& dotted) {
    if (v.is_null()) return std::nullopt;
    switch (spec.type) {
      case FieldType::string:
        return string(v, spec, shown, dotted);
      case FieldType::boolean:
        if (v.is_boolean()) return v;
        return drop(shown, "expected a boolean");
      case FieldType::integer:
        return integer(v, spec, shown);
      case FieldType::number:
        if (!v.is_number() || !std::isfinite(v.get<double>()))
          return drop(shown, "expected a number");
        if (out_of_range(spec, v.get<double>())) return drop(shown, "out of range");
        return v;
      case FieldType::object:
        return object(v, spec, shown, dotted);
      case FieldType::array:
        return array(v, spec, shown, dotted);
    }
    return std::nullopt;
  }

 private:
  std::optional<json> drop(const std::string& shown, const std::string& why) {
    m_out.left_out.push_back(m_address + ": " + shown + ": " + why);
    return std::nullopt;
  }

  static bool out_of_range(const FieldSpec& spec, double v) {
    return (spec.minimum && v < *spec.minimum) || (spec.maximum && v > *spec.maximum);
  }

  std::optional<json> string(const json& v, const FieldSpec& spec, const std::string& shown,
                             const std::string& dotted) {
    if (!v.is_string()) return drop(shown, "expected a string");
    const auto& s = v.get_ref<const std::string&>();
    if (!spec.enum_values.empty()) {
      for (const auto& allowed : spec.enum_values)
        if (util::iequals(allowed, s)) return json(allowed);
      return drop(shown, "not one of " + util::join(spec.enum_values, ", "));
    }
    const std::size_t n = util::utf8_length(s);
    if ((spec.min_length && n < *spec.min_length) || (spec.max_length && n > *spec.max_length))
      return drop(shown, "length out of range");
    if (!s.empty() && model::is_sensitive_path(dotted))
      m_out.secrets.push_back(m_address + ": " + shown);
    return v;
  }

  std::optional<json> integer(const json& v, const FieldSpec& spec, const std::string& shown) {
    long long i = 0;
    if (v.is_number_integer()) {
      i = v.get<long long>();
    } else if (v.is_number_unsigned()) {
      if (v.get<unsigned long long>() > static_cast<unsigned long long>(LLONG_MAX))
        return drop(shown, "out of range");
      i = static_cast<long long>(v.get<unsigned long long>());
    } else if (v.is_number_float()) {
      const double d = v.get<double>();
      if (!std::isfinite(d) || d != std::trunc(d) || std::fabs(d) > 9.0e15)
        return drop(shown, "expected an integer");
      i = static_cast<long long>(d);
    } else {
      return drop(shown, "expected an integer");
    }
    if (out_of_range(spec, static_cast<double>(i))) return drop(shown, "out of range");
    if (!spec.allowed_integers.empty() &&
        std::find(spec.allowed_integers.begin(), spec.allowed_integers.end(), i) ==
            spec.allowed_integers.end())
      return drop(shown, "not one of the values the API allows");
    return json(i);
  }

  std::optional<json> object(const json& v, const FieldSpec& spec, const std::string& shown,
                             const std::string& dotted) {
    if (!v.is_object()) return drop(shown, "expected an object");
    if (spec.children.empty()) {
      // A free-form map of strings (include_headers): written whole or not at all, since the
      // plan compares it whole.
      if (v.empty()) return std::nullopt;
      for (const auto& [key, value] : v.items())
        if (!value.is_string()) return drop(shown, "holds a value that is not a string");
      if (spec.max_items && v.size() > *spec.max_items)
        return drop(shown, "more than " + std::to_string(*spec.max_items) + " entries");
      if (model::is_sensitive_path(dotted)) m_out.secrets.push_back(m_address + ": " + shown);
      return v;
    }
    json out = json::object();
    for (const auto& [key, value] : v.items()) {
      const FieldSpec* child = spec.child(key);
      if (!child) {
        if (!value.is_null()) drop(shown + "." + key, "not a field the manifest knows");
        continue;
      }
      const std::string child_dotted = dotted + "." + key;
      auto cleaned = clean(value, *child, shown + "." + key, child_dotted);
      if (cleaned && !is_default(child_dotted, *cleaned)) out[key] = std::move(*cleaned);
    }
    for (const auto& name : spec.required) {
      if (out.contains(name)) continue;
      // A required key that the remote has but could not be written: the object cannot be.
      if (v.contains(name) && !v[name].is_null())
        return drop(shown, "its required key " + name + " could not be written");
      if (!out.empty()) return drop(shown, "missing its required key " + name);
    }
    if (out.empty()) return std::nullopt;
    return out;
  }

  std::optional<json> array(const json& v, const FieldSpec& spec, const std::string& shown,
                            const std::string& dotted) {
    if (!v.is_array()) return drop(shown, "expected a list");
    if (v.empty()) return std::nullopt;
    if (spec.max_items && v.size() > *spec.max_items)
      return drop(shown, "more than " + std::to_string(*spec.max_items) + " items");
    const FieldSpec* item = spec.item();
    if (!item) return drop(shown, "not a field the manifest knows");
    json out = json::array();
    for (std::size_t i = 0; i < v.size(); ++i) {
      const std::string at = shown + "[" + std::to_string(i) + "]";
      // Items pair up by position in the plan: one that cannot be written drops the list.
      auto cleaned = clean(v[i], *item, at, dotted);
      if (!cleaned) return drop(shown, "item " + std::to_string(i) + " cannot be written");
      if (spec.unique_items && std::find(out.begin(), out.end(), *cleaned) != out.end())
        return drop(shown, "holds a duplicate item");
      out.push_back(std::move(*cleaned));
    }
    return out;
  }

  const std::string& m_address;
  ExportedManifest& m_out;
};

bool blank_source(const json& remote) {
  auto it = remote.find("source");
  return it == remote.end() || it->is_null() ||
         (it->is_string() && it->get_ref<const std::string&>().empty());
}

}  // namespace

json export_instance(const json& remote, const std::string& address, ExportedManifest& out) {
  json fields = json::object();
  if (!remote.is_object()) {
    out.left_out.push_back(address + ": the API's answer is not an object");
    return fields;
  }
  Cleaner cleaner(address, out);
  auto index_method = remote.find("index_method");
  const bool has_index_method = index_method != remote.end() && index_method->is_object();
  for (const auto& [key, value] : remote.items()) {
    if (is_server_field(key)) continue;
    const FieldSpec* spec = model::find_instance_field(key);
    if (!spec) {
      if (!value.is_null()) out.unknown_fields.push_back(key);
      continue;
    }
    if (spec->write_only) continue;  // token_id: read back as null; never the value applied
    if (key == "hybrid_search_enabled" && has_index_method) continue;
    if (key == "type" || key == "source") continue;  // below
    auto cleaned = cleaner.clean(value, *spec, key, key);
    if (cleaned && !is_default(key, *cleaned)) fields[key] = std::move(*cleaned);
  }
  // The identity: a source (with its type when the remote says one), or upload-only storage.
  if (blank_source(remote)) {
    fields["managed"] = true;
  } else {
    if (auto source = cleaner.clean(remote["source"], *model::find_instance_field("source"),
                                    "source", "source"))
      fields["source"] = std::move(*source);
    if (auto it = remote.find("type"); it != remote.end())
      if (auto type = cleaner.clean(*it, *model::find_instance_field("type"), "type", "type"))
        fields["type"] = std::move(*type);
  }
  return fields;
}

util::Result<ExportedManifest, std::string> export_manifest(
    const Observed& observed, const std::vector<std::string>& namespaces) {
  if (observed.namespaces_error)
    return util::Err("the namespace list failed: " + *observed.namespaces_error);
  const std::set<std::string> wanted(namespaces.begin(), namespaces.end());
  std::vector<std::string> problems;
  for (const auto& ns : wanted) {
    auto it = observed.listings.find(ns);
    if (it == observed.listings.end())
      problems.push_back(ns + ": not listed");
    else if (!it->second.exists)
      problems.push_back(ns + ": no such namespace");
    else if (it->second.error)
      problems.push_back(ns + ": " + *it->second.error);
  }
  if (!problems.empty()) return util::Err("could not list " + util::join(problems, "; "));

  ExportedManifest out;
  json all = json::object();
  for (const auto& ns : wanted) {
    if (!model::is_valid_namespace_name(ns)) {
      out.left_out.push_back(ns + ": a manifest cannot name this namespace");
      continue;
    }
    json n = json::object();
    if (ns != k_default_namespace) {
      auto remote_ns = observed.namespaces.find(ns);
      if (remote_ns != observed.namespaces.end() && remote_ns->second.description &&
          !remote_ns->second.description->empty()) {
        const std::string& d = *remote_ns->second.description;
        if (util::utf8_length(d) > k_max_description)
          out.left_out.push_back(ns + ": description: longer than 256 characters");
        else
          n["description"] = d;
      }
    }
    std::vector<const api::Instance*> listed;
    for (const auto& i : observed.listings.at(ns).instances) listed.push_back(&i);
    std::sort(listed.begin(), listed.end(),
              [](const api::Instance* a, const api::Instance* b) { return a->id < b->id; });
    json instances = json::object();
    for (const api::Instance* i : listed) {
      const std::string address = ns + "/" + i->id;
      if (!model::is_valid_instance_id(i->id)) {
        out.left_out.push_back(address + ": a manifest cannot declare this id");
        continue;
      }
      instances[i->id] = export_instance(i->raw, address, out);
      ++out.instances;
    }
    if (!instances.empty()) n["instances"] = std::move(instances);
    all[ns] = std::move(n);
    ++out.namespaces;
  }
  std::sort(out.unknown_fields.begin(), out.unknown_fields.end());
  out.unknown_fields.erase(std::unique(out.unknown_fields.begin(), out.unknown_fields.end()),
                           out.unknown_fields.end());
  out.document = {{"apiVersion", "aisearchd/v1"}, {"namespaces", std::move(all)}};
  return out;
}

}  // namespace reconcile
