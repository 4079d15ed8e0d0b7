#include "validation.hpp"

#include <algorithm>
#include <cmath>
#include <set>

namespace emulator {
namespace {

using nlohmann::json;
using Path = std::vector<std::string>;

class Checker {
 public:
  explicit Checker(std::vector<FieldError>& out) : m_out(out) {}

  void fail(Path path, std::string message) {
    m_out.push_back({std::move(path), std::move(message)});
  }

  static std::string name(const Path& path) {
    std::string s;
    for (const auto& p : path) s += (s.empty() ? "" : ".") + p;
    return s;
  }

  bool is_bool(const json& v, const Path& p) {
    if (v.is_boolean()) return true;
    fail(p, name(p) + ": expected a boolean");
    return false;
  }

  bool is_string(const json& v, const Path& p, bool nullable, std::size_t min_len = 0,
                 std::size_t max_len = 100000) {
    if (v.is_null() && nullable) return true;
    if (!v.is_string()) {
      fail(p, name(p) + ": expected a string" + (nullable ? " or null" : ""));
      return false;
    }
    auto n = v.get_ref<const std::string&>().size();
    if (n < min_len || n > max_len) {
      fail(p, name(p) + ": length must be between " + std::to_string(min_len) + " and " +
                  std::to_string(max_len));
      return false;
    }
    return true;
  }

  void is_enum(const json& v, const Path& p, const std::vector<std::string>& values,
               bool nullable) {
    if (v.is_null() && nullable) return;
    if (v.is_string() &&
        std::find(values.begin(), values.end(), v.get<std::string>()) != values.end()) {
      return;
    }
    std::string list;
    for (const auto& s : values) list += (list.empty() ? "" : ", ") + s;
    fail(p, name(p) + ": must be one of " + list);
  }

  void is_int_range(const json& v, const Path& p, long long lo, long long hi, bool nullable) {
    if (v.is_null() && nullable) return;
    bool integral =
        v.is_number_integer() || (v.is_number_float() && std::isfinite(v.get<double>()) &&
                                  std::floor(v.get<double>()) == v.get<double>());
    if (!integral) {
      fail(p, name(p) + ": expected an integer");
      return;
    }
    double d = v.get<double>();
    if (d < static_cast<double>(lo) || d > static_cast<double>(hi)) {
      std::string range = hi == (1LL << 53)
                              ? ">= " + std::to_string(lo)
                              : "between " + std::to_string(lo) + " and " + std::to_string(hi);
      fail(p, name(p) + ": must be " + range);
    }
  }

  void is_int_in(const json& v, const Path& p, const std::vector<long long>& values) {
    if (v.is_number_integer() &&
        std::find(values.begin(), values.end(), v.get<long long>()) != values.end()) {
      return;
    }
    std::string list;
    for (auto x : values) list += (list.empty() ? "" : ", ") + std::to_string(x);
    fail(p, name(p) + ": must be one of " + list);
  }

  bool is_object(const json& v, const Path& p, bool nullable) {
    if (v.is_null() && nullable) return false;
    if (v.is_object()) return true;
    fail(p, name(p) + ": expected an object" + (nullable ? " or null" : ""));
    return false;
  }

  bool is_array(const json& v, const Path& p, std::size_t max_items = 100000) {
    if (!v.is_array()) {
      fail(p, name(p) + ": expected an array");
      return false;
    }
    if (v.size() > max_items) {
      fail(p, name(p) + ": at most " + std::to_string(max_items) + " items");
      return false;
    }
    return true;
  }

  void string_array(const json& v, const Path& p, std::size_t max_items = 100000) {
    if (!is_array(v, p, max_items)) return;
    for (std::size_t i = 0; i < v.size(); ++i) {
      Path q = p;
      q.push_back(std::to_string(i));
      is_string(v[i], q, false);
    }
  }

 private:
  std::vector<FieldError>& m_out;
};

Path at(Path p, const std::string& key) {
  p.push_back(key);
  return p;
}

void check_source_params(Checker& c, const json& v, const Path& p) {
  if (!c.is_object(v, p, true)) return;
  if (v.contains("prefix")) c.is_string(v["prefix"], at(p, "prefix"), true);
  if (v.contains("include_items")) c.string_array(v["include_items"], at(p, "include_items"));
  if (v.contains("exclude_items")) c.string_array(v["exclude_items"], at(p, "exclude_items"));
  if (v.contains("r2_jurisdiction"))
    c.is_string(v["r2_jurisdiction"], at(p, "r2_jurisdiction"), true);
  if (!v.contains("web_crawler")) return;
  Path wp = at(p, "web_crawler");
  const json& w = v["web_crawler"];
  if (!c.is_object(w, wp, true)) return;
  if (w.contains("parse_type")) {
    c.is_enum(w["parse_type"], at(wp, "parse_type"), {"sitemap", "discover"}, false);
  }
  if (w.contains("parse_options")) {
    Path pp = at(wp, "parse_options");
    const json& po = w["parse_options"];
    if (c.is_object(po, pp, true)) {
      if (po.contains("content_selector")) {
        Path cp = at(pp, "content_selector");
        if (c.is_array(po["content_selector"], cp)) {
          if (po["content_selector"].empty()) c.fail(cp, Checker::name(cp) + ": must not be empty");
          for (std::size_t i = 0; i < po["content_selector"].size(); ++i) {
            const json& e = po["content_selector"][i];
            Path ep = at(cp, std::to_string(i));
            if (!c.is_object(e, ep, false)) continue;
            c.is_string(e.value("path", json()), at(ep, "path"), false);
            c.is_string(e.value("selector", json()), at(ep, "selector"), false);
          }
        }
      }
      if (po.contains("include_headers")) {
        Path hp = at(pp, "include_headers");
        if (c.is_object(po["include_headers"], hp, true) && po["include_headers"].size() > 5) {
          c.fail(hp, Checker::name(hp) + ": at most 5 headers");
        }
      }
      if (po.contains("include_images")) c.is_bool(po["include_images"], at(pp, "include_images"));
      if (po.contains("specific_sitemaps")) {
        c.string_array(po["specific_sitemaps"], at(pp, "specific_sitemaps"));
      }
      if (po.contains("use_browser_rendering")) {
        c.is_bool(po["use_browser_rendering"], at(pp, "use_browser_rendering"));
      }
    }
  }
  if (w.contains("discover_options")) {
    Path dp = at(wp, "discover_options");
    const json& d = w["discover_options"];
    if (c.is_object(d, dp, true)) {
      if (d.contains("depth")) c.is_int_range(d["depth"], at(dp, "depth"), 0, 1LL << 53, false);
      if (d.contains("limit")) c.is_int_range(d["limit"], at(dp, "limit"), 1, 100000, false);
      if (d.contains("max_age")) c.is_int_range(d["max_age"], at(dp, "max_age"), 0, 604800, false);
      if (d.contains("source")) {
        c.is_enum(d["source"], at(dp, "source"), {"all", "sitemaps", "links"}, false);
      }
      if (d.contains("include_subdomains")) {
        c.is_bool(d["include_subdomains"], at(dp, "include_subdomains"));
      }
      if (d.contains("include_external_links") && d["include_external_links"] != false) {
        c.fail(at(dp, "include_external_links"),
               "source_params.web_crawler.discover_options.include_external_links: must be false");
      }
    }
  }
}

void check_public_endpoint_params(Checker& c, const json& v, const Path& p) {
  if (!c.is_object(v, p, true)) return;
  if (v.contains("enabled")) c.is_bool(v["enabled"], at(p, "enabled"));
  if (v.contains("authorized_hosts"))
    c.string_array(v["authorized_hosts"], at(p, "authorized_hosts"));
  if (v.contains("custom_domains")) c.is_array(v["custom_domains"], at(p, "custom_domains"));
  if (v.contains("default_domain_enabled")) {
    c.is_bool(v["default_domain_enabled"], at(p, "default_domain_enabled"));
  }
  if (v.contains("rate_limit")) {
    Path rp = at(p, "rate_limit");
    const json& r = v["rate_limit"];
    if (c.is_object(r, rp, true)) {
      if (r.contains("period_ms")) {
        c.is_int_range(r["period_ms"], at(rp, "period_ms"), 60000, 3600000, false);
      }
      if (r.contains("requests"))
        c.is_int_range(r["requests"], at(rp, "requests"), 1, 1LL << 53, false);
      if (r.contains("technique")) {
        c.is_enum(r["technique"], at(rp, "technique"), {"fixed", "sliding"}, false);
      }
    }
  }
  for (const char* key : {"mcp", "search_endpoint", "chat_completions_endpoint"}) {
    if (!v.contains(key)) continue;
    Path ep = at(p, key);
    if (!c.is_object(v[key], ep, true)) continue;
    if (v[key].contains("disabled")) c.is_bool(v[key]["disabled"], at(ep, "disabled"));
    if (v[key].contains("description"))
      c.is_string(v[key]["description"], at(ep, "description"), true);
  }
}

const std::set<std::string> k_create_only = {"id", "type", "hybrid_search_enabled"};
const std::set<std::string> k_update_only = {"paused",
                                             "summarization",
                                             "summarization_model",
                                             "system_prompt_ai_search",
                                             "system_prompt_index_summarization",
                                             "system_prompt_rewrite_query"};

// Every instance field the API knows, in the order responses list them, and whether a create or
// update body may set it (the others are read-only: the server fills them in).
struct FieldSpec {
  const char* name;
  bool writable;
};
constexpr FieldSpec k_instance_fields[] = {
    {"id", false},
    {"namespace", false},
    {"type", true},
    {"source", true},
    {"token_id", true},
    {"status", false},
    {"enable", false},
    {"paused", true},
    {"engine_version", false},
    {"vectorize_name", false},
    {"public_endpoint_id", false},
    {"ai_gateway_id", true},
    {"ai_search_model", true},
    {"embedding_model", true},
    {"rewrite_model", true},
    {"reranking_model", true},
    {"reranking", true},
    {"rewrite_query", true},
    {"hybrid_search_enabled", true},
    {"index_method", true},
    {"indexing_options", true},
    {"chunk", true},
    {"chunk_size", true},
    {"chunk_overlap", true},
    {"max_num_results", true},
    {"score_threshold", true},
    {"fusion_method", true},
    {"cache", true},
    {"cache_threshold", true},
    {"cache_ttl", true},
    {"sync_interval", true},
    {"custom_metadata", true},
    {"metadata", true},
    {"retrieval_options", true},
    {"source_params", true},
    {"public_endpoint_params", true},
    {"summarization", true},
    {"summarization_model", true},
    {"system_prompt_ai_search", true},
    {"system_prompt_index_summarization", true},
    {"system_prompt_rewrite_query", true},
    {"last_activity", false},
    {"created_at", false},
    {"modified_at", false},
    {"created_by", false},
    {"modified_by", false},
};

}  // namespace

bool valid_instance_id(const std::string& id) {
  // ^[a-z0-9_]+(?:-[a-z0-9_]+)*$ : word characters in runs separated by single dashes.
  if (id.empty() || id.size() > 64 || id.front() == '-' || id.back() == '-') return false;
  char prev = '\0';
  for (char ch : id) {
    bool word = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_';
    if (!word && ch != '-') return false;
    if (ch == '-' && prev == '-') return false;
    prev = ch;
  }
  return true;
}

bool valid_namespace_name(const std::string& name) {
  // ^[a-z0-9]([a-z0-9-]{0,26}[a-z0-9])?$
  auto alnum = [](char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'); };
  if (name.empty() || name.size() > 28 || !alnum(name.front()) || !alnum(name.back())) return false;
  for (char ch : name) {
    if (!alnum(ch) && ch != '-') return false;
  }
  return true;
}

const std::vector<std::string>& instance_field_names() {
  static const std::vector<std::string> k_names = [] {
    std::vector<std::string> names;
    for (const auto& f : k_instance_fields) names.emplace_back(f.name);
    return names;
  }();
  return k_names;
}

bool is_writable_field(const std::string& name) {
  static const std::set<std::string> k_writable = [] {
    std::set<std::string> names;
    for (const auto& f : k_instance_fields) {
      if (f.writable) names.insert(f.name);
    }
    return names;
  }();
  return k_writable.count(name) != 0;
}

bool is_list_only_field(const std::string& name) {
  return name == "chunk" || name.rfind("summarization", 0) == 0 ||
         name.rfind("system_prompt_", 0) == 0;
}

std::vector<FieldError> validate_instance(const json& body, InstanceWrite mode) {
  std::vector<FieldError> errors;
  Checker c(errors);
  if (!body.is_object()) {
    c.fail({}, "request body must be a JSON object");
    return errors;
  }
  const bool create = mode == InstanceWrite::Create;
  if (create && !body.contains("id")) c.fail({"id"}, "id: required");

  for (const auto& [key, v] : body.items()) {
    Path p = {key};
    if (create && k_update_only.count(key) != 0) {
      c.fail(p, key + ": not allowed on create (update only)");
      continue;
    }
    if (!create && key != "id" && k_create_only.count(key) != 0) {
      c.fail(p, key + ": cannot be changed after creation");
      continue;
    }
    if (key == "id") {
      if (!create) continue;  // the path names the instance; a body id is ignored
      if (!v.is_string() || !valid_instance_id(v.get<std::string>())) {
        c.fail(p, "id: must be 1 to 64 characters matching ^[a-z0-9_]+(?:-[a-z0-9_]+)*$");
      }
    } else if (key == "type") {
      c.is_enum(v, p, {"r2", "web-crawler"}, true);
    } else if (key == "source" || key == "ai_gateway_id" || key == "embedding_model" ||
               key == "ai_search_model" || key == "rewrite_model" || key == "summarization_model" ||
               key == "system_prompt_ai_search" || key == "system_prompt_index_summarization" ||
               key == "system_prompt_rewrite_query") {
      c.is_string(v, p, true);
    } else if (key == "token_id") {
      c.is_string(v, p, true, 1, 256);
    } else if (key == "reranking_model") {
      c.is_string(v, p, true);
    } else if (key == "hybrid_search_enabled" || key == "reranking" || key == "rewrite_query" ||
               key == "chunk" || key == "cache" || key == "paused" || key == "summarization") {
      c.is_bool(v, p);
    } else if (key == "index_method") {
      if (c.is_object(v, p, false)) {
        for (const char* k : {"keyword", "vector"}) {
          if (!v.contains(k)) {
            c.fail(at(p, k), std::string("index_method.") + k + ": required");
          } else {
            c.is_bool(v[k], at(p, k));
          }
        }
      }
    } else if (key == "indexing_options") {
      if (c.is_object(v, p, true)) {
        if (v.contains("keyword_tokenizer")) {
          c.is_enum(v["keyword_tokenizer"], at(p, "keyword_tokenizer"), {"porter", "trigram"},
                    false);
        }
        if (v.contains("use_ocr")) c.is_bool(v["use_ocr"], at(p, "use_ocr"));
      }
    } else if (key == "chunk_size") {
      c.is_int_range(v, p, 64, 1LL << 53, false);
    } else if (key == "chunk_overlap") {
      c.is_int_range(v, p, 0, 30, false);
    } else if (key == "max_num_results") {
      c.is_int_range(v, p, 1, 50, false);
    } else if (key == "score_threshold") {
      if (!v.is_number() || v.get<double>() < 0.0 || v.get<double>() > 1.0) {
        c.fail(p, "score_threshold: must be a number between 0 and 1");
      }
    } else if (key == "fusion_method") {
      c.is_enum(v, p, {"max", "rrf"}, false);
    } else if (key == "cache_threshold") {
      c.is_enum(v, p, {"super_strict_match", "close_enough", "flexible_friend", "anything_goes"},
                false);
    } else if (key == "cache_ttl") {
      c.is_int_in(v, p, {600, 1800, 3600, 7200, 21600, 43200, 86400, 172800, 259200, 518400});
    } else if (key == "sync_interval") {
      c.is_int_in(v, p, {900, 1800, 3600, 7200, 14400, 21600, 43200, 86400});
    } else if (key == "custom_metadata") {
      if (v.is_null()) continue;
      if (!c.is_array(v, p, 20)) continue;
      for (std::size_t i = 0; i < v.size(); ++i) {
        Path ep = at(p, std::to_string(i));
        if (!c.is_object(v[i], ep, false)) continue;
        if (c.is_string(v[i].value("field_name", json()), at(ep, "field_name"), false, 1, 64)) {
          auto fname = v[i]["field_name"].get<std::string>();
          if (fname == "timestamp" || fname == "folder" || fname == "filename") {
            c.fail(at(ep, "field_name"), "custom_metadata: '" + fname + "' is reserved");
          }
        }
        c.is_enum(v[i].value("data_type", json()), at(ep, "data_type"),
                  {"text", "number", "boolean", "datetime"}, false);
      }
    } else if (key == "metadata") {
      c.is_object(v, p, true);
    } else if (key == "retrieval_options") {
      if (!c.is_object(v, p, true)) continue;
      if (v.contains("keyword_match_mode")) {
        c.is_enum(v["keyword_match_mode"], at(p, "keyword_match_mode"), {"and", "or"}, false);
      }
      if (v.contains("boost_by")) {
        Path bp = at(p, "boost_by");
        if (!c.is_array(v["boost_by"], bp)) continue;
        for (std::size_t i = 0; i < v["boost_by"].size(); ++i) {
          const json& b = v["boost_by"][i];
          Path ep = at(bp, std::to_string(i));
          if (!c.is_object(b, ep, false)) continue;
          c.is_string(b.value("field", json()), at(ep, "field"), false, 1, 64);
          if (b.contains("direction")) {
            c.is_enum(b["direction"], at(ep, "direction"), {"asc", "desc", "exists", "not_exists"},
                      false);
          }
        }
      }
    } else if (key == "source_params") {
      check_source_params(c, v, p);
    } else if (key == "public_endpoint_params") {
      check_public_endpoint_params(c, v, p);
    }
    // Anything else (read-only fields, unknown keys) is ignored, as real servers do.
  }
  return errors;
}

std::vector<FieldError> validate_namespace(const json& body, bool require_name) {
  std::vector<FieldError> errors;
  Checker c(errors);
  if (!body.is_object()) {
    c.fail({}, "request body must be a JSON object");
    return errors;
  }
  if (require_name) {
    if (!body.contains("name")) {
      c.fail({"name"}, "name: required");
    } else if (!body["name"].is_string() ||
               !valid_namespace_name(body["name"].get<std::string>())) {
      c.fail({"name"}, "name: must match ^[a-z0-9]([a-z0-9-]{0,26}[a-z0-9])?$");
    }
  }
  if (body.contains("description")) c.is_string(body["description"], {"description"}, true, 0, 256);
  if (body.contains("public_endpoint_params")) {
    check_public_endpoint_params(c, body["public_endpoint_params"], {"public_endpoint_params"});
  }
  return errors;
}

}  // namespace emulator
