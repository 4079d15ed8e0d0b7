#include "manifest/loader.hpp"

#include <algorithm>
#include <cstdio>
#include <regex>
#include <unordered_map>

#include "manifest/yaml_reader.hpp"
#include "model/instance_fields.hpp"
#include "schedule/cron.hpp"
#include "schedule/spec.hpp"
#include "schedule/timezone.hpp"
#include "util/duration.hpp"
#include "util/files.hpp"
#include "util/strings.hpp"
#include "util/utf8.hpp"

namespace manifest {

namespace {

using detail::Entry;
using detail::Reader;
using json = nlohmann::json;
using model::FieldSpec;
using model::FieldType;

constexpr const char* k_api_version = "aisearchd/v1";

// An object whose required keys are checked after the defaults merge (they may come from
// different layers).
struct Deferred {
  std::string path;  // dotted, from the instance root
  SourceLocation where;
  const FieldSpec* spec = nullptr;
};

// API fields given by one layer (defaults, namespace defaults or the instance itself).
struct Layer {
  json fields = json::object();
  std::map<std::string, SourceLocation> where;  // per top-level field
  std::vector<Deferred> deferred;
};

struct InstanceDraft {
  InstanceSpec spec;  // everything but the merged fields
  Layer own;
};

template <typename T>
struct Located {
  T value;
  SourceLocation where;
};

struct NamespaceDraft {
  std::string name;
  SourceLocation where;
  std::optional<Located<std::string>> description;
  std::optional<Located<bool>> prune;
  std::optional<Located<long long>> max_deletes;
  std::optional<Located<bool>> suspend;
  Layer defaults;
  std::map<std::string, InstanceDraft> instances;
};

struct Draft {
  std::optional<Located<std::string>> account_id;
  Layer defaults;
  std::map<std::string, NamespaceDraft> namespaces;
  std::vector<std::string> files;
};

const std::vector<std::string>& reconciler_keys() {
  static const std::vector<std::string> keys = {"protect", "allow_replace", "ignore_changes",
                                                "suspend", "sync",          "managed"};
  return keys;
}

bool is_read_only_field(std::string_view key) {
  for (const char* k :
       {"created_at", "modified_at", "created_by", "modified_by", "enable", "engine_version",
        "last_activity", "namespace", "public_endpoint_id", "status", "vectorize_name"})
    if (key == k) return true;
  return false;
}

void collect_paths(const FieldSpec& spec, const std::string& prefix,
                   std::vector<std::string>& out) {
  std::string path = prefix.empty() ? spec.name : prefix + "." + spec.name;
  out.push_back(path);
  const FieldSpec* node = &spec;
  while (node && node->type == FieldType::array) node = node->item();
  if (!node || node->type != FieldType::object) return;
  for (const auto& child : node->children) collect_paths(child, path, out);
}

std::string format_number(double v) {
  if (v == static_cast<double>(static_cast<long long>(v)))
    return std::to_string(static_cast<long long>(v));
  json j = v;
  return j.dump();
}

std::string range_text(const FieldSpec& spec) {
  if (spec.minimum && spec.maximum)
    return "between " + format_number(*spec.minimum) + " and " + format_number(*spec.maximum);
  if (spec.minimum) return "at least " + format_number(*spec.minimum);
  return "at most " + format_number(*spec.maximum);
}

// The field catalogue, prepared once per load: names for suggestions, compiled patterns.
class Catalogue {
 public:
  Catalogue() {
    m_field_names = model::instance_field_names();
    m_instance_keys = m_field_names;
    m_instance_keys.insert(m_instance_keys.end(), reconciler_keys().begin(),
                           reconciler_keys().end());
    m_paths = ignorable_field_paths();
  }
  const std::vector<std::string>& field_names() const { return m_field_names; }
  const std::vector<std::string>& instance_keys() const { return m_instance_keys; }
  const std::vector<std::string>& paths() const { return m_paths; }

  const std::vector<std::string>& child_names(const FieldSpec& spec) {
    auto it = m_child_names.find(&spec);
    if (it != m_child_names.end()) return it->second;
    std::vector<std::string> names;
    for (const auto& c : spec.children) names.push_back(c.name);
    return m_child_names.emplace(&spec, std::move(names)).first->second;
  }

  // Why a cron expression is unusable (std::nullopt: it is fine). Cached: manifests repeat a
  // few schedules over many instances.
  const std::optional<std::string>& cron_problem(const std::string& text) {
    auto it = m_cron.find(text);
    if (it != m_cron.end()) return it->second;
    std::optional<std::string> problem;
    auto cron = schedule::CronExpr::parse(text);
    if (!cron) {
      problem = "sync.schedule: invalid cron expression \"" + text + "\": " + cron.error();
    } else if (auto never = cron->never_fires()) {
      problem = "sync.schedule: \"" + text + "\" " +
                (util::starts_with(*never, "never fires") ? *never : "never fires: " + *never);
    }
    return m_cron.emplace(text, std::move(problem)).first->second;
  }

  // Why a time zone name is unusable (std::nullopt: it is fine). Cached like cron_problem.
  const std::optional<std::string>& timezone_problem(const std::string& tz) {
    auto it = m_timezones.find(tz);
    if (it != m_timezones.end()) return it->second;
    std::optional<std::string> problem;
    if (!schedule::is_valid_timezone(tz)) {
      if (auto guess = schedule::suggest_timezone(tz))
        problem =
            "sync.timezone: unknown time zone \"" + tz + "\" (did you mean \"" + *guess + "\"?)";
      else
        problem =
            "sync.timezone: unknown time zone \"" + tz + "\" (an IANA name such as Europe/Berlin)";
    }
    return m_timezones.emplace(tz, std::move(problem)).first->second;
  }

  // The shortest time between two slots of a cron schedule in a zone (std::nullopt: none, or
  // the schedule is unusable, which other checks report). Cached like cron_problem.
  std::optional<std::chrono::milliseconds> cron_gap(const std::string& text,
                                                    const std::string& tz) {
    const std::string key = text + "\n" + tz;
    auto it = m_cron_gaps.find(key);
    if (it != m_cron_gaps.end()) return it->second;
    std::optional<std::chrono::milliseconds> gap;
    if (auto spec = schedule::Spec::cron(text, tz, std::chrono::milliseconds(0)))
      gap = spec->shortest_interval();
    return m_cron_gaps.emplace(key, gap).first->second;
  }

  bool matches_pattern(const FieldSpec& spec, const std::string& value) {
    auto it = m_patterns.find(&spec);
    if (it == m_patterns.end()) it = m_patterns.emplace(&spec, std::regex(*spec.pattern)).first;
    return std::regex_match(value, it->second);
  }

 private:
  std::vector<std::string> m_field_names, m_instance_keys, m_paths;
  std::unordered_map<const FieldSpec*, std::vector<std::string>> m_child_names;
  std::unordered_map<const FieldSpec*, std::regex> m_patterns;
  std::unordered_map<std::string, std::optional<std::string>> m_cron, m_timezones;
  std::unordered_map<std::string, std::optional<std::chrono::milliseconds>> m_cron_gaps;
};

// A dotted path to a value ("source_params.web_crawler", "custom_metadata[2].field_name"),
// built as a chain on the stack and turned into text only for a message.
struct Path {
  const Path* parent = nullptr;
  std::string_view key;
  long index = -1;  // >= 0: an item of the parent list

  std::string str() const {
    std::string out = parent ? parent->str() : std::string();
    if (index >= 0) return out + "[" + std::to_string(index) + "]";
    if (!out.empty()) out += '.';
    out += key;
    return out;
  }
};

// A scalar usable without expansion, type checks or messages (the common case).
bool simple_scalar(const detail::YNode* n) {
  return n->IsScalar() && n->text.find('$') == std::string::npos;
}

// Converts YAML values to the API's JSON, checked against the catalogue. Valid scalars take a
// fast path; anything else goes through Reader's typed readers for the exact message.
class FieldReader {
 public:
  FieldReader(Reader& reader, Catalogue& catalogue) : m_r(reader), m_c(catalogue) {}

  // `mergeable`: the value merges key by key with other layers (required keys are deferred).
  std::optional<json> value(const FieldSpec& spec, const Entry& e, const Path& path, bool mergeable,
                            std::vector<Deferred>& deferred) {
    if (!m_r.visit()) return std::nullopt;
    if (e.value->IsNull()) {
      if (spec.nullable) return json(nullptr);
      m_r.error(e, path.str() + ": may not be null (omit the key instead)");
      return std::nullopt;
    }
    switch (spec.type) {
      case FieldType::object:
        return object(spec, e, path, mergeable && !spec.replaced_whole, deferred);
      case FieldType::array:
        return array(spec, e, path, deferred);
      case FieldType::string:
        return string(spec, e, path);
      case FieldType::integer:
        return integer(spec, e, path);
      case FieldType::number:
        return number(spec, e, path);
      case FieldType::boolean: {
        bool b = false;
        if (simple_scalar(e.value) && e.value->plain && detail::parse_bool(e.value->text, b))
          return json(b);
        if (auto v = m_r.boolean(e, path.str())) return json(*v);
        return std::nullopt;
      }
    }
    return std::nullopt;
  }

 private:
  std::optional<json> object(const FieldSpec& spec, const Entry& e, const Path& path,
                             bool mergeable, std::vector<Deferred>& deferred) {
    if (!e.value->IsMap()) {
      m_r.error(e, path.str() + ": expected a mapping, got " + Reader::describe(e.value));
      return std::nullopt;
    }
    auto entries = m_r.entries(e.value, &e, path.str());
    json out = json::object();
    bool ok = true;
    if (spec.children.empty()) {  // free-form map of strings (include_headers)
      if (spec.max_items && entries.size() > *spec.max_items) {
        m_r.error(e, path.str() + ": at most " + std::to_string(*spec.max_items) +
                         " entries allowed (got " + std::to_string(entries.size()) + ")");
        ok = false;
      }
      for (const auto& child : entries) {
        if (auto s = m_r.string(child, Path{&path, child.key}.str()))
          out[child.key] = std::move(*s);
        else
          ok = false;
      }
      return ok ? std::optional<json>(std::move(out)) : std::nullopt;
    }
    for (const auto& child : entries) {
      const FieldSpec* child_spec = spec.child(child.key);
      if (!child_spec) {
        m_r.unknown_key(child, path.str(), m_c.child_names(spec));
        ok = false;
        continue;
      }
      if (auto v = value(*child_spec, child, Path{&path, child.key}, mergeable, deferred))
        out[child.key] = std::move(*v);
      else
        ok = false;
    }
    if (!spec.required.empty()) {
      if (mergeable) {
        deferred.push_back({path.str(), m_r.where(e), &spec});
      } else {
        for (const auto& name : spec.required) {
          bool given = std::any_of(entries.begin(), entries.end(),
                                   [&](const Entry& c) { return c.key == name; });
          if (!given) {
            m_r.error(e, path.str() + ": missing required key \"" + name + "\"");
            ok = false;
          }
        }
      }
    }
    return ok ? std::optional<json>(std::move(out)) : std::nullopt;
  }

  std::optional<json> array(const FieldSpec& spec, const Entry& e, const Path& path,
                            std::vector<Deferred>& deferred) {
    if (!e.value->IsSequence()) {
      m_r.error(e, path.str() + ": expected a list, got " + Reader::describe(e.value));
      return std::nullopt;
    }
    std::size_t n = e.value->size();
    bool ok = true;
    if (spec.max_items && n > *spec.max_items) {
      m_r.error(e, path.str() + ": at most " + std::to_string(*spec.max_items) +
                       " items allowed (got " + std::to_string(n) + ")");
      ok = false;
    }
    if (spec.min_length && n < *spec.min_length) {
      m_r.error(e, path.str() + (n == 0 ? ": must not be empty (omit the key instead)"
                                        : ": at least " + std::to_string(*spec.min_length) +
                                              " items required"));
      ok = false;
    }
    const FieldSpec* item = spec.item();
    json out = json::array();
    long index = 0;
    for (const detail::YNode* node : e.value->children) {
      if (m_r.stopped()) return std::nullopt;
      Entry item_entry{e.key, node, node};
      Path item_path{&path, {}, index++};
      if (!item) continue;
      if (auto v = value(*item, item_entry, item_path, false, deferred)) {
        if (spec.unique_items && std::find(out.begin(), out.end(), *v) != out.end()) {
          m_r.error(item_entry, item_path.str() + ": duplicate item");
          ok = false;
        }
        out.push_back(std::move(*v));
      } else {
        ok = false;
      }
    }
    return ok ? std::optional<json>(std::move(out)) : std::nullopt;
  }

  std::optional<json> string(const FieldSpec& spec, const Entry& e, const Path& path) {
    std::optional<std::string> s;
    if (simple_scalar(e.value) &&
        (!e.value->plain || detail::classify_plain(e.value->text) == detail::PlainKind::string))
      s = e.value->text;
    else
      s = m_r.string(e, path.str());
    if (!s) return std::nullopt;
    if (!spec.enum_values.empty()) {
      for (const auto& allowed : spec.enum_values)
        if (util::iequals(allowed, *s)) return json(allowed);
      std::string message =
          path.str() + ": \"" + *s + "\" is not one of: " + util::join(spec.enum_values, ", ");
      m_r.error(e, std::move(message));
      return std::nullopt;
    }
    if (spec.min_length || spec.max_length) {
      std::size_t n = util::utf8_length(*s);
      if ((spec.min_length && n < *spec.min_length) || (spec.max_length && n > *spec.max_length)) {
        m_r.error(e, path.str() + ": must be " + std::to_string(spec.min_length.value_or(0)) +
                         " to " +
                         (spec.max_length ? std::to_string(*spec.max_length) : std::string("any")) +
                         " characters long (got " + std::to_string(n) + ")");
        return std::nullopt;
      }
    }
    if (spec.pattern && !m_c.matches_pattern(spec, *s)) {
      m_r.error(e, path.str() + ": \"" + *s + "\" does not match the pattern " + *spec.pattern);
      return std::nullopt;
    }
    return json(std::move(*s));
  }

  std::optional<json> integer(const FieldSpec& spec, const Entry& e, const Path& path) {
    std::optional<long long> i;
    if (simple_scalar(e.value) && e.value->plain) i = detail::parse_integer(e.value->text);
    if (!i) i = m_r.integer(e, path.str());
    if (!i) return std::nullopt;
    auto v = static_cast<double>(*i);
    if ((spec.minimum && v < *spec.minimum) || (spec.maximum && v > *spec.maximum)) {
      m_r.error(e, path.str() + ": " + std::to_string(*i) + " is out of range (must be " +
                       range_text(spec) + ")");
      return std::nullopt;
    }
    if (!spec.allowed_integers.empty() &&
        std::find(spec.allowed_integers.begin(), spec.allowed_integers.end(), *i) ==
            spec.allowed_integers.end()) {
      std::vector<std::string> allowed;
      for (long long a : spec.allowed_integers) allowed.push_back(std::to_string(a));
      m_r.error(e, path.str() + ": " + std::to_string(*i) +
                       " is not one of: " + util::join(allowed, ", "));
      return std::nullopt;
    }
    return json(*i);
  }

  std::optional<json> number(const FieldSpec& spec, const Entry& e, const Path& path) {
    if (e.value->IsScalar()) {
      auto t = m_r.text(e, path.str());
      if (!t) return std::nullopt;
      if (t->plain || t->expanded) {
        if (auto v = detail::parse_number(t->value)) {
          if ((spec.minimum && *v < *spec.minimum) || (spec.maximum && *v > *spec.maximum)) {
            m_r.error(e, path.str() + ": " + t->value + " is out of range (must be " +
                             range_text(spec) + ")");
            return std::nullopt;
          }
          return json(*v);
        }
      }
    }
    m_r.error(e, path.str() + ": expected a number, got " + Reader::describe(e.value));
    return std::nullopt;
  }

  Reader& m_r;
  Catalogue& m_c;
};

// Reads the documents of one file into the draft.
class DocumentReader {
 public:
  DocumentReader(Reader& reader, Catalogue& catalogue, Draft& draft)
      : m_r(reader), m_c(catalogue), m_fields(reader, catalogue), m_draft(draft) {}

  void read(const detail::YNode* root) {
    if (!root || root->IsNull()) return;  // an empty document
    if (!root->IsMap()) {
      m_r.error(root->mark,
                "expected a mapping at the top level (apiVersion, namespaces, ...), got " +
                    Reader::describe(root));
      return;
    }
    bool saw_version = false;
    static const std::vector<std::string> top_keys = {"apiVersion", "account_id", "defaults",
                                                      "namespaces"};
    for (const auto& e : m_r.entries(root, nullptr, "manifest")) {
      if (e.key == "apiVersion") {
        saw_version = true;
        if (auto v = m_r.string(e, "apiVersion"); v && *v != k_api_version)
          m_r.error(
              e, "apiVersion: unsupported version \"" + *v + "\" (expected " + k_api_version + ")");
      } else if (e.key == "account_id") {
        read_account_id(e);
      } else if (e.key == "defaults") {
        read_layer(e, m_draft.defaults, "defaults");
      } else if (e.key == "namespaces") {
        for (const auto& ns : m_r.entries(e.value, &e, "namespaces")) read_namespace(ns);
      } else {
        m_r.unknown_key(e, "the manifest", top_keys);
      }
    }
    if (!saw_version)
      m_r.error(root->mark,
                std::string("missing apiVersion (add apiVersion: ") + k_api_version + ")");
  }

 private:
  void read_account_id(const Entry& e) {
    auto v = m_r.string(e, "account_id");
    if (!v || v->empty()) return;
    Located<std::string> id{*v, m_r.where(e)};
    if (m_draft.account_id && m_draft.account_id->value != *v) {
      m_r.error(e, "account_id differs from the one at " + m_draft.account_id->where.to_string());
      return;
    }
    if (!m_draft.account_id) m_draft.account_id = std::move(id);
  }

  // An API-fields-only mapping (top-level or namespace defaults), merged field by field across
  // files: the same field in two places must have the same value.
  void read_layer(const Entry& e, Layer& layer, const std::string& context) {
    for (const auto& f : m_r.entries(e.value, &e, context)) {
      const FieldSpec* spec = model::find_instance_field(f.key);
      if (!spec) {
        if (std::find(reconciler_keys().begin(), reconciler_keys().end(), f.key) !=
            reconciler_keys().end())
          m_r.error(f.key_node->mark, f.key + " cannot be set in " + context +
                                          " (defaults hold API fields; set it per instance)");
        else
          unknown_field(f, context, m_c.field_names());
        continue;
      }
      std::vector<Deferred> deferred;
      auto v = m_fields.value(*spec, f, Path{nullptr, f.key}, true, deferred);
      if (!v) continue;
      if (auto it = layer.where.find(f.key); it != layer.where.end()) {
        if (layer.fields[f.key] != *v)
          m_r.error(f.key_node->mark, context + "." + f.key +
                                          " is also set, to a different value, at " +
                                          it->second.to_string());
        continue;
      }
      layer.fields[f.key] = std::move(*v);
      layer.where.emplace(f.key, m_r.where(f.key_node->mark));
      for (auto& d : deferred) layer.deferred.push_back(std::move(d));
    }
  }

  void unknown_field(const Entry& f, const std::string& context,
                     const std::vector<std::string>& allowed) {
    if (f.key == "id") {
      m_r.error(f.key_node->mark,
                "id cannot be set here: an instance's id is its key under instances");
    } else if (is_read_only_field(f.key)) {
      m_r.error(f.key_node->mark,
                f.key + " is read-only (set by Cloudflare) and cannot be set in a manifest");
    } else {
      m_r.unknown_key(f, context, allowed);
    }
  }

  template <typename T>
  void set_setting(std::optional<Located<T>>& slot, T value, const Entry& e,
                   const std::string& what) {
    if (slot && slot->value != value) {
      m_r.error(e, what + " is also set, to a different value, at " + slot->where.to_string());
      return;
    }
    if (!slot) slot = Located<T>{std::move(value), m_r.where(e)};
  }

  void read_namespace(const Entry& e) {
    if (!model::is_valid_namespace_name(e.key)) {
      m_r.error(e.key_node->mark, "invalid namespace name \"" + e.key +
                                      "\": 1-28 lowercase letters, digits and '-', starting and "
                                      "ending with a letter or digit");
      return;
    }
    auto [it, created] = m_draft.namespaces.try_emplace(e.key);
    NamespaceDraft& ns = it->second;
    if (created) {
      ns.name = e.key;
      ns.where = m_r.where(e.key_node->mark);
    }
    static const std::vector<std::string> keys = {"description", "prune",   "max_deletes",
                                                  "defaults",    "suspend", "instances"};
    const std::string label = "namespace " + e.key;
    for (const auto& f : m_r.entries(e.value, &e, label)) {
      if (f.key == "description") {
        auto v = m_r.string(f, "description");
        if (!v) continue;
        if (e.key == "default") {
          m_r.error(f,
                    "description: the default namespace's description cannot be set (the API "
                    "rejects it)");
        } else if (util::utf8_length(*v) > 256) {
          m_r.error(f, "description: at most 256 characters (got " +
                           std::to_string(util::utf8_length(*v)) + ")");
        } else {
          set_setting(ns.description, std::move(*v), f, label + ": description");
        }
      } else if (f.key == "prune") {
        if (auto v = m_r.boolean(f, "prune")) set_setting(ns.prune, *v, f, label + ": prune");
      } else if (f.key == "suspend") {
        if (auto v = m_r.boolean(f, "suspend")) set_setting(ns.suspend, *v, f, label + ": suspend");
      } else if (f.key == "max_deletes") {
        auto v = m_r.integer(f, "max_deletes");
        if (!v) continue;
        if (*v < 0 || *v > 1'000'000)
          m_r.error(f, "max_deletes: " + std::to_string(*v) +
                           " is out of range (must be between 0 and 1000000)");
        else
          set_setting(ns.max_deletes, *v, f, label + ": max_deletes");
      } else if (f.key == "defaults") {
        read_layer(f, ns.defaults, label + " defaults");
      } else if (f.key == "instances") {
        for (const auto& i : m_r.entries(f.value, &f, label + " instances")) read_instance(ns, i);
      } else {
        m_r.unknown_key(f, label, keys);
      }
    }
  }

  void read_instance(NamespaceDraft& ns, const Entry& e) {
    // A bad id is reported, and the instance's fields are still checked (every error of a file
    // in one run); the instance is then left out.
    const bool bad_id = !model::is_valid_instance_id(e.key);
    if (bad_id)
      m_r.error(e.key_node->mark,
                "invalid instance id \"" + e.key +
                    "\": 1-64 characters of a-z, 0-9 and _, with single '-' between them");
    InstanceDraft draft;
    draft.spec.ns = ns.name;
    draft.spec.id = e.key;
    draft.spec.where = m_r.where(e.key_node->mark);
    const std::string label = "instance " + ns.name + "/" + e.key;
    for (const auto& f : m_r.entries(e.value, &e, label)) {
      if (const FieldSpec* spec = model::find_instance_field(f.key)) {
        if (auto v = m_fields.value(*spec, f, Path{nullptr, f.key}, true, draft.own.deferred))
          draft.own.fields[f.key] = std::move(*v);
      } else if (f.key == "protect") {
        if (auto v = m_r.boolean(f, "protect")) draft.spec.protect = *v;
      } else if (f.key == "allow_replace") {
        if (auto v = m_r.boolean(f, "allow_replace")) draft.spec.allow_replace = *v;
      } else if (f.key == "suspend") {
        if (auto v = m_r.boolean(f, "suspend")) draft.spec.suspend = *v;
      } else if (f.key == "managed") {
        if (auto v = m_r.boolean(f, "managed")) draft.spec.managed = *v;
      } else if (f.key == "ignore_changes") {
        read_ignore_changes(f, draft.spec);
      } else if (f.key == "sync") {
        draft.spec.sync = read_sync(f);
      } else {
        unknown_field(f, label, m_c.instance_keys());
      }
    }
    if (bad_id) return;
    auto existing = ns.instances.find(e.key);
    if (existing != ns.instances.end()) {
      m_r.error(e.key_node->mark, "instance " + ns.name + "/" + e.key + " is also defined at " +
                                      existing->second.spec.where.to_string());
      return;
    }
    ns.instances.emplace(e.key, std::move(draft));
  }

  void read_ignore_changes(const Entry& f, InstanceSpec& spec) {
    if (f.value->IsNull()) return;
    if (!f.value->IsSequence()) {
      m_r.error(f,
                "ignore_changes: expected a list of field names, got " + Reader::describe(f.value));
      return;
    }
    for (const detail::YNode* node : f.value->children) {
      if (!m_r.visit()) return;
      Entry item{f.key, node, node};
      auto path = m_r.string(item, "ignore_changes");
      if (!path) continue;
      if (!model::find_field_path(*path)) {
        std::string message = "ignore_changes: \"" + *path + "\" names no instance field";
        if (auto guess = util::closest_match(*path, m_c.paths()))
          message += " (did you mean \"" + *guess + "\"?)";
        m_r.error(item, std::move(message));
        continue;
      }
      if (std::find(spec.ignore_changes.begin(), spec.ignore_changes.end(), *path) ==
          spec.ignore_changes.end())
        spec.ignore_changes.push_back(std::move(*path));
    }
  }

  std::optional<SyncSpec> read_sync(const Entry& e) {
    if (e.value->IsNull()) {
      m_r.error(e, "sync: expected a mapping with schedule or every");
      return std::nullopt;
    }
    SyncSpec sync;
    sync.where = m_r.where(e.key_node->mark);
    bool ok = e.value->IsMap();
    static const std::vector<std::string> keys = {"schedule", "every",         "timezone",
                                                  "jitter",   "on_change",     "concurrency",
                                                  "timeout",  "max_staleness", "suspend"};
    for (const auto& f : m_r.entries(e.value, &e, "sync")) {
      if (f.key == "schedule") {
        auto text = m_r.string(f, "sync.schedule");
        if (!text) {
          ok = false;
          continue;
        }
        if (const auto& problem = m_c.cron_problem(*text)) {
          m_r.error(f, *problem);
          ok = false;
        } else {
          sync.schedule = *text;
        }
      } else if (f.key == "every") {
        auto d = m_r.duration(f, "sync.every");
        if (d && *d < std::chrono::minutes(1)) {
          m_r.error(f, "sync.every: must be at least 1m");
          d.reset();
        }
        if (d)
          sync.every = *d;
        else
          ok = false;
      } else if (f.key == "timezone") {
        auto tz = m_r.string(f, "sync.timezone");
        if (tz) {
          if (const auto& problem = m_c.timezone_problem(*tz)) {
            m_r.error(f, *problem);
            tz.reset();
          }
        }
        if (tz)
          sync.timezone = *tz;
        else
          ok = false;
      } else if (f.key == "jitter") {
        if (auto d = m_r.duration(f, "sync.jitter"))
          sync.jitter = *d;
        else
          ok = false;
      } else if (f.key == "on_change") {
        if (auto b = m_r.boolean(f, "sync.on_change"))
          sync.on_change = *b;
        else
          ok = false;
      } else if (f.key == "suspend") {
        if (auto b = m_r.boolean(f, "sync.suspend"))
          sync.suspend = *b;
        else
          ok = false;
      } else if (f.key == "concurrency") {
        auto v = m_r.one_of(f, "sync.concurrency", {"forbid", "replace"});
        if (v)
          sync.concurrency =
              *v == "forbid" ? SyncSpec::Concurrency::forbid : SyncSpec::Concurrency::replace;
        else
          ok = false;
      } else if (f.key == "timeout" || f.key == "max_staleness") {
        auto d = m_r.duration(f, "sync." + f.key);
        if (d && d->count() <= 0) {
          m_r.error(f, "sync." + f.key + ": must be greater than 0");
          d.reset();
        }
        if (!d)
          ok = false;
        else if (f.key == "timeout")
          sync.timeout = *d;
        else
          sync.max_staleness = *d;
      } else {
        m_r.unknown_key(f, "sync", keys);
        ok = false;
      }
    }
    if (!e.value->IsMap()) return std::nullopt;
    bool has_schedule = e.value->has_key("schedule");
    bool has_every = e.value->has_key("every");
    if (has_schedule && has_every) {
      m_r.error(e.key_node->mark, "sync: set either schedule or every, not both");
      ok = false;
    } else if (!has_schedule && !has_every) {
      m_r.error(e.key_node->mark,
                "sync: needs schedule (a cron expression) or every (an interval)");
      ok = false;
    }
    if (ok && sync.jitter.count() > 0) {
      // The jitter must be shorter than the schedule's shortest interval, or a run could pass
      // the next slot (PRODUCT.md §7).
      std::optional<std::chrono::milliseconds> gap = sync.every;
      if (sync.schedule) gap = m_c.cron_gap(*sync.schedule, sync.timezone);
      if (gap && sync.jitter >= *gap) {
        m_r.error(e.key_node->mark, "sync.jitter: " + util::format_duration(sync.jitter) +
                                        " is not shorter than the schedule's shortest interval " +
                                        util::format_duration(*gap));
        ok = false;
      }
    }
    if (!ok) return std::nullopt;
    return sync;
  }

  Reader& m_r;
  Catalogue& m_c;
  FieldReader m_fields;
  Draft& m_draft;
};

// Deep merge: objects key by key, except replaced-whole and free-form ones; the rest replaces.
void merge_into(json& base, const json& overlay, const FieldSpec* parent) {
  for (const auto& [key, value] : overlay.items()) {
    const FieldSpec* spec = parent ? parent->child(key) : model::find_instance_field(key);
    auto it = base.find(key);
    if (spec && spec->type == FieldType::object && !spec->children.empty() &&
        !spec->replaced_whole && value.is_object() && it != base.end() && it->is_object()) {
      merge_into(*it, value, spec);
    } else {
      base[key] = value;
    }
  }
}

const json* find_path(const json& root, const std::string& dotted) {
  const json* node = &root;
  for (const auto& part : util::split(dotted, '.')) {
    if (!node->is_object()) return nullptr;
    auto it = node->find(part);
    if (it == node->end()) return nullptr;
    node = &*it;
  }
  return node;
}

bool is_http_url(std::string_view text) {
  std::string_view rest;
  for (std::string_view scheme : {"http://", "https://"}) {
    if (text.size() > scheme.size() && util::iequals(text.substr(0, scheme.size()), scheme))
      rest = text.substr(scheme.size());
  }
  if (rest.empty()) return false;
  for (char c : text)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return false;
  const auto host_end = rest.find_first_of("/?#");
  std::string_view host = rest.substr(0, host_end);
  if (const auto at = host.rfind('@'); at != std::string_view::npos) host = host.substr(at + 1);
  if (const auto colon = host.rfind(':'); colon != std::string_view::npos && host.front() != '[')
    host = host.substr(0, colon);
  return !host.empty() && host.front() != '.' && host.front() != '-';
}

// How the API infers the type of a source (API.md §11), kept loose so that a mistyped URL is
// reported as a bad URL rather than as a bad bucket name.
bool looks_like_url(std::string_view text) {
  return text.find("://") != std::string_view::npos ||
         (text.size() >= 5 && util::iequals(text.substr(0, 5), "http:")) ||
         (text.size() >= 6 && util::iequals(text.substr(0, 6), "https:"));
}

// R2 bucket names: 3-63 characters of a-z, 0-9 and '-', beginning and ending with a letter or
// digit.
bool is_bucket_name(std::string_view name) {
  if (name.size() < 3 || name.size() > 63 || name.front() == '-' || name.back() == '-')
    return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

// What the source must be for the instance's type (set, or inferred as the API does: an
// http(s) source is a web crawler, any other an R2 bucket name). Blamed on the layer that set
// the source when the instance did not.
void check_source(const InstanceSpec& spec, const json& own, detail::Diagnostics& diag) {
  const std::string label = "instance " + spec.address();
  auto type_it = spec.fields.find("type");
  auto source_it = spec.fields.find("source");
  const std::string source = source_it != spec.fields.end() && source_it->is_string()
                                 ? source_it->get<std::string>()
                                 : std::string();
  std::string type = type_it != spec.fields.end() && type_it->is_string()
                         ? type_it->get<std::string>()
                         : std::string();
  if (type.empty()) type = looks_like_url(source) ? "web-crawler" : "r2";
  const std::string from = own.contains("source") ? "" : " (from defaults)";
  if (source.empty()) return;  // a type without a source: the API answers for it
  if (type == "web-crawler" && !is_http_url(source)) {
    diag.add(spec.where, label + ": source \"" + source + "\"" + from +
                             " is not an absolute http(s) URL (a web-crawler source)");
  } else if (type == "r2" && !is_bucket_name(source)) {
    diag.add(spec.where, label + ": source \"" + source + "\"" + from +
                             " is not an R2 bucket name (3-63 characters of a-z, 0-9 and '-', "
                             "beginning and ending with a letter or digit)");
  }
}

// An instance with neither type nor source is upload-only storage, which the API makes silently
// from a blank source: the manifest must say so with `managed: true` (PRODUCT.md §4), so that a
// forgotten source is an error, not an empty index. A managed instance takes no type or source of
// its own; defaults that set them do not apply to it.
void check_storage_kind(InstanceSpec& spec, const json& own, detail::Diagnostics& diag) {
  auto blank = [](const json& fields, const char* key) {
    auto it = fields.find(key);
    return it == fields.end() || it->is_null() ||
           (it->is_string() && it->get_ref<const std::string&>().empty());
  };
  const std::string label = "instance " + spec.address();
  if (spec.managed) {
    for (const char* key : {"type", "source"}) {
      if (!blank(own, key))
        diag.add(spec.where, label + ": managed: true (upload-only storage) takes no " + key +
                                 "; remove " + key + " or managed");
      spec.fields.erase(key);
    }
    return;
  }
  if (blank(spec.fields, "type") && blank(spec.fields, "source")) {
    diag.add(spec.where, label +
                             ": no type and no source: set source, or managed: true for "
                             "upload-only storage (the API makes one from a blank source)");
    return;
  }
  check_source(spec, own, diag);
}

Manifest finish(Draft& draft, detail::Diagnostics& diag) {
  Manifest m;
  if (draft.account_id) m.account_id = draft.account_id->value;
  m.files = draft.files;
  for (auto& [name, nd] : draft.namespaces) {
    NamespaceSpec ns;
    ns.name = name;
    ns.where = nd.where;
    if (nd.description) ns.description = nd.description->value;
    if (nd.prune) ns.prune = nd.prune->value;
    if (nd.max_deletes) ns.max_deletes = static_cast<int>(nd.max_deletes->value);
    if (nd.suspend) ns.suspend = nd.suspend->value;
    json base = draft.defaults.fields;
    merge_into(base, nd.defaults.fields, nullptr);
    for (auto& [id, inst] : nd.instances) {
      InstanceSpec spec = std::move(inst.spec);
      spec.fields = base;
      if (!inst.own.fields.empty()) merge_into(spec.fields, inst.own.fields, nullptr);
      check_storage_kind(spec, inst.own.fields, diag);
      // Required keys of merged objects: blame the most specific layer that set the object.
      std::map<std::string, const Deferred*> checks;
      for (const Layer* layer : {&draft.defaults, &nd.defaults, &inst.own})
        for (const auto& d : layer->deferred) checks[d.path] = &d;
      for (const auto& [path, d] : checks) {
        const json* obj = find_path(spec.fields, path);
        if (!obj || !obj->is_object()) continue;
        for (const auto& key : d->spec->required)
          if (!obj->contains(key))
            diag.add(d->where, path + ": missing required key \"" + key + "\"");
      }
      ns.instances.emplace(id, std::move(spec));
    }
    m.namespaces.emplace(name, std::move(ns));
  }
  return m;
}

util::Result<Manifest, std::vector<ManifestError>> load_all(
    const std::vector<ManifestSource>& sources, std::vector<ManifestError> errors,
    const util::EnvLookup& env) {
  detail::Diagnostics diag(errors);
  Catalogue catalogue;
  Draft draft;
  for (const auto& source : sources) {
    if (diag.full()) break;
    draft.files.push_back(source.filename);
    Reader reader(source.filename, env, diag);
    bool any_content = false;
    for (const auto& doc : reader.parse(source.text)) {
      if (reader.stopped()) break;
      any_content = any_content || (doc && !doc->IsNull());
      DocumentReader(reader, catalogue, draft).read(doc);
    }
    if (!any_content && errors.empty())
      diag.add({source.filename, 1, 1}, std::string("empty manifest: expected apiVersion: ") +
                                            k_api_version +
                                            " and namespaces (an empty file would manage nothing)");
  }
  Manifest manifest;
  if (!diag.full()) manifest = finish(draft, diag);
  if (errors.empty()) return manifest;

  // Report in file order, then position; drop repeats (a defaults error blamed per instance).
  std::map<std::string, std::size_t> file_rank;
  for (std::size_t i = 0; i < sources.size(); ++i) file_rank.emplace(sources[i].filename, i);
  auto rank = [&](const ManifestError& e) {
    auto it = file_rank.find(e.where.file);
    return it == file_rank.end() ? 0 : it->second + 1;
  };
  std::stable_sort(errors.begin(), errors.end(),
                   [&](const ManifestError& a, const ManifestError& b) {
                     return std::make_tuple(rank(a), a.where.line, a.where.column) <
                            std::make_tuple(rank(b), b.where.line, b.where.column);
                   });
  std::vector<ManifestError> unique;
  for (auto& e : errors) {
    bool repeat = std::any_of(unique.begin(), unique.end(), [&](const ManifestError& u) {
      return u.where.file == e.where.file && u.where.line == e.where.line &&
             u.where.column == e.where.column && u.message == e.message;
    });
    if (!repeat) unique.push_back(std::move(e));
  }
  return util::Err{std::move(unique)};
}

}  // namespace

std::vector<std::string> ignorable_field_paths() {
  std::vector<std::string> out;
  for (const auto& f : model::instance_fields()) collect_paths(f, "", out);
  return out;
}

util::Result<Manifest, std::vector<ManifestError>> load_manifest_sources(
    const std::vector<ManifestSource>& sources, const util::EnvLookup& env) {
  try {
    return load_all(sources, {}, env);
  } catch (const std::exception& e) {
    std::string file = sources.empty() ? std::string("manifest") : sources.front().filename;
    return util::Err{
        std::vector<ManifestError>{{{file, 0, 0}, std::string("internal error: ") + e.what()}}};
  }
}

util::Result<Manifest, std::vector<ManifestError>> load_manifest_string(
    std::string_view yaml, const std::string& filename, const util::EnvLookup& env) {
  return load_manifest_sources({{filename, std::string(yaml)}}, env);
}

void attribute_manifest_path(std::vector<ManifestError>& errors, const std::string& path,
                             const std::string& config_file) {
  for (auto& e : errors)
    if (e.where.line == 0 && e.where.file == path)
      e.message += " (the manifest path is `manifest:` in " + config_file + ")";
}

util::Result<Manifest, std::vector<ManifestError>> load_manifest(const std::filesystem::path& path,
                                                                 const util::EnvLookup& env) {
  namespace fs = std::filesystem;
  const std::string shown = path.string();
  auto fail = [&](const std::string& file, std::string message) {
    return util::Err{std::vector<ManifestError>{{{file, 0, 0}, std::move(message)}}};
  };
  try {
    std::error_code ec;
    auto status = fs::status(path, ec);
    if (ec || !fs::exists(status)) return fail(shown, "no such file or directory");
    std::vector<fs::path> files;
    if (fs::is_directory(status)) {
      for (const auto& entry : fs::directory_iterator(path, ec)) {
        const std::string name = entry.path().filename().string();
        const std::string ext = entry.path().extension().string();
        if (name.empty() || name.front() == '.' || (ext != ".yaml" && ext != ".yml")) continue;
        std::error_code file_ec;
        if (!fs::is_regular_file(entry.path(), file_ec)) continue;
        files.push_back(entry.path());
      }
      if (ec) return fail(shown, "cannot list the directory: " + ec.message());
      std::sort(files.begin(), files.end(),
                [](const fs::path& a, const fs::path& b) { return a.filename() < b.filename(); });
    } else if (fs::is_regular_file(status)) {
      files.push_back(path);
    } else {
      return fail(shown, "not a regular file or a directory");
    }
    std::vector<ManifestSource> sources;
    std::vector<ManifestError> errors;
    for (const auto& file : files) {
      std::error_code size_ec;
      auto size = fs::file_size(file, size_ec);
      if (!size_ec && size > detail::k_max_input_bytes) {
        errors.push_back({{file.string(), 0, 0},
                          "file too large: " + std::to_string(size) + " bytes (the limit is " +
                              std::to_string(detail::k_max_input_bytes / (1024 * 1024)) + " MiB)"});
        continue;
      }
      auto text = util::read_file(file);
      if (!text) {
        errors.push_back({{file.string(), 0, 0}, "cannot read: " + text.error()});
        continue;
      }
      sources.push_back({file.string(), std::move(text.value())});
    }
    return load_all(sources, std::move(errors), env);
  } catch (const std::exception& e) {
    return fail(shown, std::string("cannot load: ") + e.what());
  }
}

}  // namespace manifest
