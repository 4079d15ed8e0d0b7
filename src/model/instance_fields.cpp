#include "model/instance_fields.hpp"

#include <cctype>
#include <utility>

#include "util/strings.hpp"

namespace model {

const FieldSpec* FieldSpec::child(std::string_view child_name) const {
  for (const auto& c : children)
    if (c.name == child_name) return &c;
  return nullptr;
}

namespace {

// Small builders so the table below reads like API.md §3.
FieldSpec str(std::string name, std::string description = {}) {
  FieldSpec f;
  f.name = std::move(name);
  f.type = FieldType::string;
  f.description = std::move(description);
  return f;
}
FieldSpec boolean(std::string name, std::string description = {}) {
  FieldSpec f = str(std::move(name), std::move(description));
  f.type = FieldType::boolean;
  return f;
}
FieldSpec integer(std::string name, std::optional<double> min, std::optional<double> max,
                  std::string description = {}) {
  FieldSpec f = str(std::move(name), std::move(description));
  f.type = FieldType::integer;
  f.minimum = min;
  f.maximum = max;
  return f;
}
FieldSpec number(std::string name, double min, double max, std::string description = {}) {
  FieldSpec f = str(std::move(name), std::move(description));
  f.type = FieldType::number;
  f.minimum = min;
  f.maximum = max;
  return f;
}
FieldSpec one_of(std::string name, std::vector<std::string> values, std::string description = {}) {
  FieldSpec f = str(std::move(name), std::move(description));
  f.enum_values = std::move(values);
  return f;
}
FieldSpec object(std::string name, std::vector<FieldSpec> children, std::string description = {}) {
  FieldSpec f = str(std::move(name), std::move(description));
  f.type = FieldType::object;
  f.children = std::move(children);
  return f;
}
FieldSpec array(std::string name, FieldSpec item, std::string description = {}) {
  FieldSpec f = str(std::move(name), std::move(description));
  f.type = FieldType::array;
  f.children.push_back(std::move(item));
  return f;
}
FieldSpec nullable(FieldSpec f) {
  f.nullable = true;
  return f;
}
FieldSpec bounded_string(std::string name, std::size_t min, std::size_t max,
                         std::string description = {}) {
  FieldSpec f = str(std::move(name), std::move(description));
  f.min_length = min;
  f.max_length = max;
  return f;
}

std::vector<FieldSpec> build() {
  std::vector<FieldSpec> f;

  auto type = nullable(one_of("type", {"r2", "web-crawler"},
                              "Data source kind. Create only; a change is a replace."));
  type.on_update = false;
  type.immutable = true;
  type.reindex = true;
  f.push_back(type);

  auto source = nullable(str("source", "R2 bucket name or website URL. A change is a replace."));
  source.immutable = true;
  source.reindex = true;
  f.push_back(source);

  auto token_id =
      nullable(str("token_id", "Id of the AI Search token (uuid) used to read the source."));
  token_id.pattern =
      "^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$";
  token_id.write_only = true;  // the service reads it back as null (API.md §12)
  f.push_back(token_id);

  auto hybrid = boolean("hybrid_search_enabled", "Deprecated (use index_method). Create only.");
  hybrid.on_update = false;
  hybrid.immutable = true;
  f.push_back(hybrid);

  auto index_method =
      object("index_method", {boolean("keyword"), boolean("vector")}, "Which indexes to build.");
  index_method.required = {"keyword", "vector"};
  f.push_back(index_method);

  auto tokenizer = one_of("keyword_tokenizer", {"porter", "trigram"});
  tokenizer.reindex = true;
  auto ocr = boolean("use_ocr");
  ocr.reindex = true;
  f.push_back(nullable(object("indexing_options", {tokenizer, ocr},
                              "Changing either option makes Cloudflare re-index everything.")));

  f.push_back(
      nullable(str("embedding_model", "Workers AI or AI Gateway model id; \"\" = default.")));
  f.push_back(nullable(str("ai_search_model")));
  f.push_back(nullable(str("rewrite_model")));
  f.push_back(boolean("reranking"));
  f.push_back(nullable(str("reranking_model")));
  f.push_back(boolean("rewrite_query"));

  auto chunk = boolean("chunk");
  chunk.returned = false;
  f.push_back(chunk);
  f.push_back(nullable(integer("chunk_size", 64, std::nullopt)));
  f.push_back(nullable(integer("chunk_overlap", 0, 30)));
  f.push_back(nullable(integer("max_num_results", 1, 50)));
  f.push_back(nullable(number("score_threshold", 0, 1)));
  f.push_back(one_of("fusion_method", {"max", "rrf"}));
  f.push_back(boolean("cache"));
  f.push_back(nullable(one_of("cache_threshold", {"super_strict_match", "close_enough",
                                                  "flexible_friend", "anything_goes"})));
  auto cache_ttl = integer("cache_ttl", std::nullopt, std::nullopt, "Seconds.");
  cache_ttl.allowed_integers = {600, 1800, 3600, 7200, 21600, 43200, 86400, 172800, 259200, 518400};
  f.push_back(cache_ttl);
  auto sync_interval = integer("sync_interval", std::nullopt, std::nullopt,
                               "Cloudflare's own sync interval, seconds.");
  sync_interval.allowed_integers = {900, 1800, 3600, 7200, 14400, 21600, 43200, 86400};
  f.push_back(sync_interval);

  auto metadata_field =
      object("", {bounded_string("field_name", 1, 64),
                  one_of("data_type", {"text", "number", "boolean", "datetime"})});
  metadata_field.required = {"field_name", "data_type"};
  auto custom_metadata = nullable(array("custom_metadata", metadata_field));
  custom_metadata.max_items = 20;
  f.push_back(custom_metadata);

  f.push_back(
      nullable(object("metadata", {boolean("created_from_aisearch_wizard"), str("worker_domain"),
                                   object("created_from_emdash_plugin",
                                          {one_of("type", {"native", "rest"}), str("version")})})));

  auto boost = object("", {bounded_string("field", 1, 64),
                           one_of("direction", {"asc", "desc", "exists", "not_exists"})});
  boost.required = {"field"};
  f.push_back(nullable(object("retrieval_options", {array("boost_by", boost),
                                                    one_of("keyword_match_mode", {"and", "or"})})));

  auto selector = object("", {str("path"), str("selector")});
  selector.required = {"path", "selector"};
  auto content_selector = array("content_selector", selector);
  content_selector.min_length = 1;  // an empty array is rejected by the API: omit it instead
  auto include_headers =
      object("include_headers", {}, "Extra request headers (values are secret).");
  include_headers.sensitive = true;
  auto include_headers_max = include_headers;
  include_headers_max.max_items = 5;
  auto parse_options = object(
      "parse_options", {content_selector, include_headers_max, boolean("include_images"),
                        array("specific_sitemaps", str("")), boolean("use_browser_rendering")});
  auto discover_options =
      object("discover_options",
             {integer("depth", 0, std::nullopt), integer("limit", 1, 100000),
              integer("max_age", 0, 604800), one_of("source", {"all", "sitemaps", "links"}),
              boolean("include_subdomains"), boolean("include_external_links")});
  auto web_crawler = object("web_crawler", {one_of("parse_type", {"sitemap", "discover"}),
                                            parse_options, discover_options});
  auto include_items = array("include_items", str(""));
  auto exclude_items = array("exclude_items", str(""));
  f.push_back(nullable(object("source_params", {str("prefix"), include_items, exclude_items,
                                                str("r2_jurisdiction"), web_crawler})));

  auto rate_limit = object(
      "rate_limit", {integer("period_ms", 60000, 3600000), integer("requests", 1, std::nullopt),
                     one_of("technique", {"fixed", "sliding"})});
  auto pep = nullable(object("public_endpoint_params",
                             {boolean("enabled"), array("authorized_hosts", str("")),
                              array("custom_domains", str("")), boolean("default_domain_enabled"),
                              rate_limit, object("mcp", {str("description"), boolean("disabled")}),
                              object("search_endpoint", {boolean("disabled")}),
                              object("chat_completions_endpoint", {boolean("disabled")})},
                             "Replaced whole on update."));
  pep.replaced_whole = true;
  f.push_back(pep);

  f.push_back(nullable(str("ai_gateway_id")));

  auto paused = boolean("paused", "Stops Cloudflare's scheduled syncs. Update only.");
  paused.on_create = false;
  f.push_back(paused);

  for (const char* name : {"summarization", "summarization_model", "system_prompt_ai_search",
                           "system_prompt_index_summarization", "system_prompt_rewrite_query"}) {
    auto field = std::string(name) == "summarization" ? boolean(name) : nullable(str(name));
    field.on_create = false;
    field.returned = false;
    f.push_back(field);
  }
  return f;
}

}  // namespace

const std::vector<FieldSpec>& instance_fields() {
  static const std::vector<FieldSpec> fields = build();
  return fields;
}

const FieldSpec* find_instance_field(std::string_view name) {
  for (const auto& f : instance_fields())
    if (f.name == name) return &f;
  return nullptr;
}

std::vector<std::string> instance_field_names() {
  std::vector<std::string> names;
  for (const auto& f : instance_fields()) names.push_back(f.name);
  return names;
}

const FieldSpec* find_field_path(std::string_view dotted_path) {
  auto parts = util::split(dotted_path, '.');
  const FieldSpec* spec = find_instance_field(parts.front());
  for (std::size_t i = 1; spec && i < parts.size(); ++i) {
    while (spec && spec->type == FieldType::array) spec = spec->item();
    if (!spec) return nullptr;
    spec = spec->child(parts[i]);
  }
  return spec;
}

bool is_secret_like_name(std::string_view key) {
  // Whole words only (split at anything not a letter or digit, and at lower-to-upper case
  // changes): "access_token" and "X-Api-Key" are secret, "keyword_tokenizer" is not.
  std::vector<std::string> words;
  std::string word;
  char previous = 0;
  for (char c : key) {
    const bool alnum = std::isalnum(static_cast<unsigned char>(c)) != 0;
    const bool case_break = std::isupper(static_cast<unsigned char>(c)) &&
                            std::islower(static_cast<unsigned char>(previous));
    if ((!alnum || case_break) && !word.empty()) words.push_back(std::exchange(word, {}));
    if (alnum) word += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    previous = c;
  }
  if (!word.empty()) words.push_back(word);
  if (words == std::vector<std::string>{"token", "id"}) return false;  // an identifier
  for (std::size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (w == "token" || w == "secret" || w == "password" || w == "passwd" ||
        w == "authorization" || w == "cookie" || w == "apikey")
      return true;
    if (w == "api" && i + 1 < words.size() && words[i + 1] == "key") return true;
  }
  return false;
}

bool is_sensitive_path(std::string_view dotted_path) {
  const auto parts = util::split(dotted_path, '.');
  const FieldSpec* spec = find_instance_field(parts.front());
  for (std::size_t i = 0; i < parts.size(); ++i) {
    // A value at or below a field marked sensitive (include_headers: every value is secret).
    if (spec && spec->sensitive) return true;
    if (is_secret_like_name(parts[i])) return true;
    if (i + 1 < parts.size() && spec) {
      while (spec && spec->type == FieldType::array) spec = spec->item();
      spec = spec ? spec->child(parts[i + 1]) : nullptr;
      // Below the instance's own fields, a header map is recognised by its name too.
      if (!spec && parts[i + 1] == "include_headers") return true;
    }
  }
  return false;
}

namespace {
bool lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
}  // namespace

// Hand-written equivalents of the patterns above (the loader checks 10,000s of ids).
bool is_valid_instance_id(std::string_view id) {
  if (id.empty() || id.size() > k_instance_id_max_length) return false;
  if (id.front() == '-' || id.back() == '-') return false;
  for (std::size_t i = 0; i < id.size(); ++i) {
    char c = id[i];
    if (c == '-') {
      if (id[i + 1] == '-') return false;
    } else if (!lower_alnum(c) && c != '_') {
      return false;
    }
  }
  return true;
}

bool is_valid_namespace_name(std::string_view name) {
  if (name.empty() || name.size() > 28) return false;
  if (!lower_alnum(name.front()) || !lower_alnum(name.back())) return false;
  for (char c : name)
    if (!lower_alnum(c) && c != '-') return false;
  return true;
}

}  // namespace model
