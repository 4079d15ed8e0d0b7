#include "store.hpp"

#include <algorithm>
#include <cmath>

#include "util/strings.hpp"
#include "util/time_format.hpp"
#include "validation.hpp"

namespace emulator {

using nlohmann::json;

namespace {

// Error codes (API.md §8 where it names one; the others are the emulator's own, documented in
// emulator/README.md).
constexpr int k_code_validation = 7001;
constexpr int k_code_not_found = 7002;
constexpr int k_code_no_route = 7003;
constexpr int k_code_method = 7004;
constexpr int k_code_cooldown = 7020;
constexpr int k_code_duplicate = 7022;
constexpr int k_code_namespace_missing = 7040;
constexpr int k_code_namespace_exists = 7041;
constexpr int k_code_namespace_not_empty = 7042;
constexpr int k_code_namespace_default = 7043;
constexpr int k_code_job_missing = 7045;
constexpr int k_code_account = 9109;

const std::string k_default_ns = "default";

long long to_ms(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
TimePoint from_ms(long long ms) {
  return TimePoint(std::chrono::milliseconds(ms));
}

std::string rfc3339(TimePoint t) {
  return util::format_rfc3339(t);
}

Reply validation_reply(const std::vector<FieldError>& errors) {
  json list = json::array();
  for (const auto& e : errors) {
    list.push_back({{"code", k_code_validation}, {"message", e.message}, {"path", e.path}});
  }
  Reply r;
  r.status = 400;
  r.body = {{"success", false}, {"errors", list}, {"messages", json::array()}, {"result", nullptr}};
  return r;
}

// Parses a JSON request body; an empty body is an empty object.
std::optional<json> parse_body(const std::string& body, Reply& error) {
  if (util::trim(body).empty()) return json::object();
  try {
    return json::parse(body);
  } catch (const json::exception&) {
    error = validation_reply({{{}, "request body is not valid JSON"}});
    return std::nullopt;
  }
}

struct Paging {
  long long page = 1;
  long long per_page = 20;
};

std::optional<Reply> parse_paging(const ApiRequest& req, long long default_per_page,
                                  long long min_per_page, long long max_per_page, Paging& out) {
  auto number = [&](const std::string& key, long long fallback, long long lo, long long hi,
                    long long& value) -> std::optional<Reply> {
    auto it = req.query.find(key);
    if (it == req.query.end()) {
      value = fallback;
      return std::nullopt;
    }
    const std::string& s = it->second;
    bool digits =
        !s.empty() && s.size() <= 12 && s.find_first_not_of("0123456789") == std::string::npos;
    if (!digits) {
      return validation_reply({{{key}, key + ": expected an integer"}});
    }
    value = std::stoll(s);
    if (value < lo || value > hi) {
      return validation_reply(
          {{{key},
            key + ": must be between " + std::to_string(lo) + " and " + std::to_string(hi)}});
    }
    return std::nullopt;
  };
  if (auto e = number("page", 1, 1, 1000000000, out.page)) return e;
  if (auto e = number("per_page", default_per_page, min_per_page, max_per_page, out.per_page)) {
    return e;
  }
  return std::nullopt;
}

// The requested page of a list of `total` items with its result_info; `item(i)` renders the i-th
// item and is called for the page's items only, so a list of thousands stays cheap.
template <typename Item>
Reply page_reply(std::size_t total, const Paging& paging, Item item) {
  json result = json::array();
  if (paging.per_page > 0) {
    auto begin = static_cast<std::size_t>(
        std::min<long long>((paging.page - 1) * paging.per_page, static_cast<long long>(total)));
    auto end = std::min(total, begin + static_cast<std::size_t>(paging.per_page));
    for (auto i = begin; i < end; ++i) result.push_back(item(i));
  }
  Reply r;
  r.body = success_envelope(result);
  r.body["result_info"] = {{"page", paging.page},
                           {"per_page", paging.per_page},
                           {"count", result.size()},
                           {"total_count", total}};
  return r;
}

Reply page_reply(const std::vector<json>& items, const Paging& paging) {
  return page_reply(items.size(), paging, [&](std::size_t i) { return items[i]; });
}

bool icontains(const std::string& haystack, const std::string& needle) {
  return util::to_lower(haystack).find(util::to_lower(needle)) != std::string::npos;
}

// "https://x" -> web-crawler, any other non-empty source -> r2, no source -> null (built-in).
json infer_type(const json& source) {
  if (!source.is_string() || source.get<std::string>().empty()) return nullptr;
  const auto s = util::to_lower(source.get<std::string>());
  if (util::starts_with(s, "http://") || util::starts_with(s, "https://")) return "web-crawler";
  return "r2";
}

}  // namespace

json success_envelope(json result) {
  return {{"success", true},
          {"errors", json::array()},
          {"messages", json::array()},
          {"result", std::move(result)}};
}

Reply error_reply(int status, int code, const std::string& message,
                  const std::optional<std::vector<std::string>>& path) {
  json error = {{"code", code}, {"message", message}};
  if (path) error["path"] = *path;
  Reply r;
  r.status = status;
  r.body = {{"success", false},
            {"errors", json::array({error})},
            {"messages", json::array()},
            {"result", nullptr}};
  return r;
}

Store::Store(std::uint64_t seed, TimePoint now) {
  reset(seed, now);
}

void Store::reset(std::uint64_t seed, TimePoint now) {
  std::lock_guard lock(m_mutex);
  m_rng.seed(seed ^ 0x5eed5eedULL);
  m_default_created_at = now;
  m_next_seq = 1;
  m_namespaces.clear();
  m_instances.clear();
  m_by_namespace.clear();
}

std::string Store::random_hex(std::size_t chars) {
  static const char* k_digits = "0123456789abcdef";
  std::string s;
  s.reserve(chars);
  for (std::size_t i = 0; i < chars; ++i) s.push_back(k_digits[m_rng() % 16]);
  return s;
}

Reply Store::handle(const ApiRequest& request, const Config& config, TimePoint now) {
  std::lock_guard lock(m_mutex);
  try {
    return route(request, config, now);
  } catch (const std::exception& e) {
    return error_reply(500, 10001, std::string("internal error: ") + e.what());
  }
}

Reply Store::route(const ApiRequest& req, const Config& config, TimePoint now) {
  auto segs_raw = util::split(req.path, '/');
  std::vector<std::string> s;
  for (auto& part : segs_raw) {
    if (!part.empty()) s.push_back(part);
  }
  auto no_route = [&] { return error_reply(404, k_code_no_route, "No route for the URI"); };
  auto bad_method = [&] { return error_reply(405, k_code_method, "Method not allowed"); };
  if (s.size() < 5 || s[0] != "client" || s[1] != "v4" || s[2] != "accounts" ||
      s[4] != "ai-search") {
    return no_route();
  }
  if (config.account_id != "*" && s[3] != config.account_id) {
    return error_reply(403, k_code_account, "Unauthorized to access requested resource");
  }
  std::vector<std::string> rest(s.begin() + 5, s.end());
  const std::string& m = req.method;

  Reply body_error;
  auto body = [&]() -> std::optional<json> { return parse_body(req.body, body_error); };

  // Namespaces themselves.
  std::string ns = k_default_ns;
  bool namespace_form = false;
  if (!rest.empty() && rest[0] == "namespaces") {
    if (rest.size() == 1) {
      if (m == "GET") return list_namespaces(req);
      if (m == "POST") {
        auto b = body();
        if (!b) return body_error;
        return create_namespace(*b, now);
      }
      return bad_method();
    }
    if (rest.size() == 2) {
      if (m == "GET") return get_namespace(rest[1]);
      if (m == "PUT") {
        auto b = body();
        if (!b) return body_error;
        return update_namespace(rest[1], *b);
      }
      if (m == "DELETE") return delete_namespace(rest[1]);
      return bad_method();
    }
    ns = rest[1];
    namespace_form = true;
    rest.erase(rest.begin(), rest.begin() + 2);
  }
  if (rest.empty() || rest[0] != "instances") return no_route();
  if (namespace_form && ns != k_default_ns && m_namespaces.count(ns) == 0) {
    return namespace_missing(ns);
  }

  if (rest.size() == 1) {
    if (m == "GET") {
      std::string list_ns = ns;
      if (!namespace_form) {
        auto it = req.query.find("namespace");
        if (it != req.query.end() && !it->second.empty()) list_ns = it->second;
      }
      return list_instances(list_ns, req, now);
    }
    if (m == "POST") {
      auto b = body();
      if (!b) return body_error;
      return create_instance(ns, *b, config, now);
    }
    return bad_method();
  }
  const std::string& id = rest[1];
  if (rest.size() == 2) {
    if (m == "GET") return get_instance(ns, id, now);
    if (m == "PUT") {
      auto b = body();
      if (!b) return body_error;
      return update_instance(ns, id, *b, config, now);
    }
    if (m == "DELETE") return delete_instance(ns, id, now);
    if (m == "PATCH" && namespace_form) {
      auto b = body();
      if (!b) return body_error;
      return move_instance(ns, id, *b, config, now);
    }
    return bad_method();
  }
  if (rest.size() == 3 && rest[2] == "stats") {
    if (m == "GET") return instance_stats(ns, id, now);
    return bad_method();
  }
  if (rest.size() == 3 && rest[2] == "purge_cache" && namespace_form) {
    if (m != "POST") return bad_method();
    if (!find_instance(ns, id)) return error_reply(404, k_code_not_found, "Ai search not found.");
    return Reply{200, success_envelope(nullptr), {}};
  }
  if (rest[2] != "jobs") return no_route();
  if (rest.size() == 3) {
    if (m == "GET") return list_jobs(ns, id, req, config, now);
    if (m == "POST") {
      auto b = body();
      if (!b) return body_error;
      return create_job(ns, id, *b, config, now);
    }
    return bad_method();
  }
  const std::string& job_id = rest[3];
  if (rest.size() == 4) {
    if (m == "GET") return get_job(ns, id, job_id, config, now);
    if (m == "PATCH") {
      auto b = body();
      if (!b) return body_error;
      return change_job(ns, id, job_id, *b, config, now);
    }
    return bad_method();
  }
  if (rest.size() == 5 && rest[4] == "logs") {
    if (m == "GET") return job_logs(ns, id, job_id, req, now);
    return bad_method();
  }
  return no_route();
}

Reply Store::namespace_missing(const std::string& name) const {
  return error_reply(404, k_code_namespace_missing, "Namespace not found: " + name);
}

Store::Instance* Store::find_instance(const std::string& ns, const std::string& id) {
  auto it = m_instances.find({ns, id});
  return it == m_instances.end() ? nullptr : &it->second;
}

Store::Instance& Store::insert_instance(const Key& key, Instance inst) {
  auto it = m_instances.insert_or_assign(key, std::move(inst)).first;
  m_by_namespace[key.first][{it->second.seq, key.second}] = it;
  return it->second;
}

void Store::erase_instance(Instances::iterator it) {
  auto ns = m_by_namespace.find(it->first.first);
  if (ns != m_by_namespace.end()) {
    ns->second.erase({it->second.seq, it->first.second});
    if (ns->second.empty()) m_by_namespace.erase(ns);
  }
  m_instances.erase(it);
}

void Store::rebuild_index() {
  m_by_namespace.clear();
  for (auto it = m_instances.begin(); it != m_instances.end(); ++it) {
    m_by_namespace[it->first.first][{it->second.seq, it->first.second}] = it;
  }
}

// ---- instances --------------------------------------------------------------------------

json Store::default_fields(const std::string& ns, const std::string& id, const Config& config,
                           TimePoint now) {
  json f = json::object();
  for (const auto& name : instance_field_names()) f[name] = nullptr;
  const std::string ts = rfc3339(now);
  f["id"] = id;
  f["namespace"] = ns;
  f["status"] = "waiting";
  f["enable"] = true;
  f["paused"] = false;
  f["engine_version"] = 2;
  f["vectorize_name"] = "ai-search-" + id;
  f["public_endpoint_id"] = random_hex(32);
  f["ai_search_model"] = "@cf/meta/llama-3.3-70b-instruct-fp8-fast";
  f["embedding_model"] = "@cf/baai/bge-m3";
  f["rewrite_model"] = "@cf/meta/llama-3.3-70b-instruct-fp8-fast";
  f["reranking_model"] = "@cf/baai/bge-reranker-base";
  f["reranking"] = false;
  f["rewrite_query"] = false;
  f["hybrid_search_enabled"] = true;
  f["index_method"] = {{"keyword", true}, {"vector", true}};
  f["indexing_options"] = {{"keyword_tokenizer", "porter"}, {"use_ocr", false}};
  f["chunk"] = true;
  f["chunk_size"] = 256;
  f["chunk_overlap"] = 10;
  f["max_num_results"] = 10;
  f["score_threshold"] = 0.4;
  f["fusion_method"] = "rrf";
  f["cache"] = true;
  f["cache_threshold"] = "close_enough";
  f["cache_ttl"] = 172800;
  f["sync_interval"] = 21600;
  f["summarization"] = false;
  f["created_at"] = ts;
  f["modified_at"] = ts;
  f["created_by"] = config.user;
  f["modified_by"] = config.user;
  return f;
}

json Store::render_instance(const Instance& inst, bool list_item) const {
  json out = json::object();
  for (const auto& name : instance_field_names()) {
    if (!list_item && is_list_only_field(name)) continue;
    auto it = inst.fields.find(name);
    out[name] = it == inst.fields.end() ? json(nullptr) : *it;
  }
  return out;
}

Reply Store::list_instances(const std::string& ns, const ApiRequest& req, TimePoint now) {
  Paging paging;
  if (auto e = parse_paging(req, 20, 1, 100, paging)) return *e;
  std::string search;
  if (auto it = req.query.find("search"); it != req.query.end()) search = it->second;
  bool desc = false;
  if (auto it = req.query.find("order_by_direction"); it != req.query.end()) {
    if (it->second != "asc" && it->second != "desc") {
      return validation_reply(
          {{{"order_by_direction"}, "order_by_direction: must be one of asc, desc"}});
    }
    desc = it->second == "desc";
  }
  // The namespace's own index is already in creation order: no other namespace is visited.
  std::vector<Instance*> matched;
  if (auto index = m_by_namespace.find(ns); index != m_by_namespace.end()) {
    auto take = [&](const NamespaceIndex::value_type& entry) {
      auto& [key, inst] = *entry.second;
      if (!search.empty() && !icontains(key.second, search)) return;
      refresh_jobs(inst, now);
      matched.push_back(&inst);
    };
    if (desc) {
      std::for_each(index->second.rbegin(), index->second.rend(), take);
    } else {
      std::for_each(index->second.begin(), index->second.end(), take);
    }
  }
  return page_reply(matched.size(), paging,
                    [&](std::size_t i) { return render_instance(*matched[i], true); });
}

Reply Store::create_instance(const std::string& ns, const json& body, const Config& config,
                             TimePoint now) {
  auto errors = validate_instance(body, InstanceWrite::Create);
  if (!errors.empty()) return validation_reply(errors);
  const std::string id = body["id"].get<std::string>();
  if (find_instance(ns, id)) {
    return error_reply(400, k_code_duplicate, "Ai search with this name already exist.");
  }
  Instance inst;
  inst.seq = m_next_seq++;
  inst.fields = default_fields(ns, id, config, now);
  for (const auto& [key, v] : body.items()) {
    if (is_writable_field(key)) inst.fields[key] = v;
  }
  if (!body.contains("type") || body["type"].is_null()) {
    inst.fields["type"] = infer_type(inst.fields["source"]);
  }
  // index_method and the deprecated hybrid_search_enabled describe the same thing.
  if (body.contains("index_method") && !body.contains("hybrid_search_enabled")) {
    inst.fields["hybrid_search_enabled"] =
        body["index_method"]["keyword"].get<bool>() && body["index_method"]["vector"].get<bool>();
  } else if (!body.contains("index_method") && body.contains("hybrid_search_enabled")) {
    inst.fields["index_method"] = {{"keyword", body["hybrid_search_enabled"].get<bool>()},
                                   {"vector", true}};
  }
  auto& stored = insert_instance({ns, id}, std::move(inst));
  return Reply{200, success_envelope(render_instance(stored, false)), {}};
}

Reply Store::get_instance(const std::string& ns, const std::string& id, TimePoint now) {
  Instance* inst = find_instance(ns, id);
  if (!inst) return error_reply(404, k_code_not_found, "Ai search not found.");
  refresh_jobs(*inst, now);
  return Reply{200, success_envelope(render_instance(*inst, false)), {}};
}

Reply Store::update_instance(const std::string& ns, const std::string& id, const json& body,
                             const Config& config, TimePoint now) {
  auto errors = validate_instance(body, InstanceWrite::Update);
  if (!errors.empty()) return validation_reply(errors);
  Instance* inst = find_instance(ns, id);
  if (!inst) return error_reply(404, k_code_not_found, "Ai search not found.");
  refresh_jobs(*inst, now);
  for (const auto& [key, v] : body.items()) {
    if (!is_writable_field(key) || key == "type" || key == "hybrid_search_enabled") continue;
    json value = v;
    // An omitted keyword_match_mode keeps the stored one (API.md §3).
    if (key == "retrieval_options" && value.is_object() && !value.contains("keyword_match_mode")) {
      const json& old = inst->fields["retrieval_options"];
      if (old.is_object() && old.contains("keyword_match_mode")) {
        value["keyword_match_mode"] = old["keyword_match_mode"];
      }
    }
    inst->fields[key] = value;
  }
  if (body.contains("index_method")) {
    inst->fields["hybrid_search_enabled"] =
        body["index_method"]["keyword"].get<bool>() && body["index_method"]["vector"].get<bool>();
  }
  inst->fields["modified_at"] = rfc3339(now);
  inst->fields["modified_by"] = config.user;
  return Reply{200, success_envelope(render_instance(*inst, false)), {}};
}

Reply Store::delete_instance(const std::string& ns, const std::string& id, TimePoint now) {
  auto it = m_instances.find({ns, id});
  if (it == m_instances.end()) return error_reply(404, k_code_not_found, "Ai search not found.");
  refresh_jobs(it->second, now);
  json result = render_instance(it->second, false);
  erase_instance(it);
  return Reply{200, success_envelope(result), {}};
}

Reply Store::move_instance(const std::string& ns, const std::string& id, const json& body,
                           const Config& config, TimePoint now) {
  if (!body.is_object() || !body.contains("new_namespace")) {
    return validation_reply({{{"new_namespace"}, "new_namespace: required"}});
  }
  if (!body["new_namespace"].is_string() ||
      !valid_namespace_name(body["new_namespace"].get<std::string>())) {
    return validation_reply(
        {{{"new_namespace"}, "new_namespace: must match ^[a-z0-9]([a-z0-9-]{0,26}[a-z0-9])?$"}});
  }
  const std::string target = body["new_namespace"].get<std::string>();
  auto it = m_instances.find({ns, id});
  if (it == m_instances.end()) return error_reply(404, k_code_not_found, "Ai search not found.");
  if (target != k_default_ns && m_namespaces.count(target) == 0) return namespace_missing(target);
  if (m_instances.count({target, id}) != 0) {
    return error_reply(400, k_code_duplicate, "Ai search with this name already exist.");
  }
  Instance inst = std::move(it->second);
  erase_instance(it);
  inst.fields["namespace"] = target;
  inst.fields["modified_at"] = rfc3339(now);
  inst.fields["modified_by"] = config.user;
  insert_instance({target, id}, std::move(inst));
  return Reply{200, success_envelope(json::object()), {}};
}

Reply Store::instance_stats(const std::string& ns, const std::string& id, TimePoint now) {
  Instance* inst = find_instance(ns, id);
  if (!inst) return error_reply(404, k_code_not_found, "Ai search not found.");
  refresh_jobs(*inst, now);
  int running = 0;
  bool any_completed = false;
  const Job* last_ended = nullptr;
  for (const auto& job : inst->jobs) {
    if (!job.ended_at) running = 1;
    if (job.end_reason == "completed") any_completed = true;
    if (job.ended_at && (job.end_reason == "completed" || job.end_reason == "error")) {
      last_ended = &job;
    }
  }
  bool failed = last_ended != nullptr && last_ended->end_reason == "error";
  json index_errors = json::object();
  if (failed) index_errors["failed to fetch"] = 3;
  json last_activity = inst->fields.value("last_activity", json());
  if (!last_activity.is_string()) last_activity = inst->fields["created_at"];
  json result = {{"queued", 0},
                 {"running", running},
                 {"completed", any_completed ? 12 : 0},
                 {"skipped", 0},
                 {"outdated", 0},
                 {"error", failed ? 3 : 0},
                 {"degraded", false},
                 {"last_activity", last_activity},
                 {"file_embed_errors", json::object()},
                 {"index_source_errors", index_errors}};
  return Reply{200, success_envelope(result), {}};
}

// ---- jobs ---------------------------------------------------------------------------------

json Store::render_job(const Job& job, const Config& config) const {
  const bool omit = config.unset_job_fields == UnsetJobFields::Omit;
  json out = {{"id", job.id}, {"source", job.source}};
  auto put = [&](const char* key, const std::optional<std::string>& value) {
    if (value) {
      out[key] = *value;
    } else if (!omit) {
      out[key] = nullptr;
    }
  };
  put("description", job.description);
  put("started_at", rfc3339(job.started_at));
  put("ended_at", job.ended_at ? std::optional<std::string>(rfc3339(*job.ended_at)) : std::nullopt);
  put("last_seen_at", rfc3339(job.last_seen_at));
  put("end_reason", job.end_reason);
  return out;
}

void Store::end_job(Instance& inst, Job& job, TimePoint at, const std::string& reason) {
  job.ended_at = at;
  job.last_seen_at = at;
  job.end_reason = reason;
  auto log = [&](const std::string& message, int type) {
    job.logs.push_back({static_cast<long long>(job.logs.size()) + 1, at, message, type});
  };
  const std::string source = inst.fields.value("source", json()).is_string()
                                 ? inst.fields["source"].get<std::string>()
                                 : std::string("builtin");
  if (reason == "completed") {
    log("Indexed 12 files from " + source + " (0 errors)", 1);
    log("Job completed", 1);
    inst.fields["status"] = "ready";
  } else if (reason == "error") {
    for (int i = 1; i <= 3; ++i) {
      log("failed to fetch " + source + "/docs/page-" + std::to_string(i) + ".md: 403 Forbidden",
          3);
    }
    log("Job failed: 3 errors", 3);
    inst.fields["status"] = "error";
  } else if (reason == "cancelled") {
    log("Job cancelled by user", 2);
  } else {
    log("Job ended: a new job has started", 2);
  }
  inst.fields["last_activity"] = rfc3339(at);
}

void Store::refresh_jobs(Instance& inst, TimePoint now) {
  for (auto& job : inst.jobs) {
    if (job.ended_at) continue;
    if (job.outcome == JobOutcome::Stall) {
      job.last_seen_at = std::min(now, job.started_at + job.duration / 2);
      continue;
    }
    TimePoint end = job.started_at + job.duration;
    if (now >= end) {
      end_job(inst, job, end, job.outcome == JobOutcome::Ok ? "completed" : "error");
    } else {
      job.last_seen_at = std::max(job.last_seen_at, now);
    }
  }
}

Store::Job& Store::start_job(Instance& inst, const std::string& source,
                             const std::optional<std::string>& description, const Config& config,
                             TimePoint now) {
  for (auto& job : inst.jobs) {
    if (!job.ended_at) end_job(inst, job, now, "new_job_has_started");
  }
  Job job;
  job.id = random_hex(32);
  job.source = source;
  job.description = description;
  job.started_at = now;
  job.last_seen_at = now;
  const std::string key =
      inst.fields["namespace"].get<std::string>() + "/" + inst.fields["id"].get<std::string>();
  auto it = config.job_outcomes.find(key);
  job.outcome = it != config.job_outcomes.end() ? it->second : config.job_outcome;
  job.duration = config.job_duration;
  job.logs.push_back({1, now, "Job started (source: " + source + ")", 1});
  inst.fields["last_activity"] = rfc3339(now);
  inst.jobs.push_back(std::move(job));
  return inst.jobs.back();
}

Reply Store::create_job(const std::string& ns, const std::string& id, const json& body,
                        const Config& config, TimePoint now) {
  if (!body.is_object()) return validation_reply({{{}, "request body must be a JSON object"}});
  std::optional<std::string> description;
  if (body.contains("description") && !body["description"].is_null()) {
    if (!body["description"].is_string() || body["description"].get<std::string>().size() > 255) {
      return validation_reply(
          {{{"description"}, "description: expected a string of at most 255 characters"}});
    }
    description = body["description"].get<std::string>();
  }
  Instance* inst = find_instance(ns, id);
  if (!inst) return error_reply(404, k_code_not_found, "Ai search not found.");
  refresh_jobs(*inst, now);
  std::optional<TimePoint> last_end;
  for (const auto& job : inst->jobs) {
    if (job.ended_at && (!last_end || *job.ended_at > *last_end)) last_end = job.ended_at;
  }
  if (last_end && now < *last_end + config.job_cooldown) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*last_end +
                                                                      config.job_cooldown - now);
    Reply r = error_reply(429, k_code_cooldown, "Sync in cooldown");
    r.headers.emplace_back("Retry-After", std::to_string((left.count() + 999) / 1000));
    return r;
  }
  Job& job = start_job(*inst, "user", description, config, now);
  return Reply{200, success_envelope(render_job(job, config)), {}};
}

Reply Store::list_jobs(const std::string& ns, const std::string& id, const ApiRequest& req,
                       const Config& config, TimePoint now) {
  Paging paging;
  if (auto e = parse_paging(req, 20, 0, 50, paging)) return *e;
  Instance* inst = find_instance(ns, id);
  if (!inst) return error_reply(404, k_code_not_found, "Ai search not found.");
  refresh_jobs(*inst, now);
  std::vector<json> items;
  for (auto it = inst->jobs.rbegin(); it != inst->jobs.rend(); ++it) {
    items.push_back(render_job(*it, config));
  }
  return page_reply(items, paging);
}

Reply Store::get_job(const std::string& ns, const std::string& id, const std::string& job_id,
                     const Config& config, TimePoint now) {
  Instance* inst = find_instance(ns, id);
  if (!inst) return error_reply(404, k_code_not_found, "Ai search not found.");
  refresh_jobs(*inst, now);
  for (const auto& job : inst->jobs) {
    if (job.id == job_id) return Reply{200, success_envelope(render_job(job, config)), {}};
  }
  return error_reply(404, k_code_job_missing, "Job not found.");
}

Reply Store::change_job(const std::string& ns, const std::string& id, const std::string& job_id,
                        const json& body, const Config& config, TimePoint now) {
  if (!body.is_object() || body.value("action", json()) != "cancel") {
    return validation_reply({{{"action"}, "action: must be \"cancel\""}});
  }
  Instance* inst = find_instance(ns, id);
  if (!inst) return error_reply(404, k_code_not_found, "Ai search not found.");
  refresh_jobs(*inst, now);
  for (auto& job : inst->jobs) {
    if (job.id != job_id) continue;
    if (!job.ended_at) end_job(*inst, job, now, "cancelled");
    return Reply{200, success_envelope(render_job(job, config)), {}};
  }
  return error_reply(404, k_code_job_missing, "Job not found.");
}

Reply Store::job_logs(const std::string& ns, const std::string& id, const std::string& job_id,
                      const ApiRequest& req, TimePoint now) {
  Paging paging;
  if (auto e = parse_paging(req, 20, 0, 500, paging)) return *e;
  Instance* inst = find_instance(ns, id);
  if (!inst) return error_reply(404, k_code_not_found, "Ai search not found.");
  refresh_jobs(*inst, now);
  for (const auto& job : inst->jobs) {
    if (job.id != job_id) continue;
    std::vector<json> items;
    for (const auto& entry : job.logs) {
      items.push_back({{"id", entry.id},
                       {"created_at", static_cast<double>(to_ms(entry.created_at)) / 1000.0},
                       {"message", entry.message},
                       {"message_type", entry.message_type}});
    }
    return page_reply(items, paging);
  }
  return error_reply(404, k_code_job_missing, "Job not found.");
}

util::Result<json, std::string> Store::start_schedule_job(const std::string& ns,
                                                          const std::string& id,
                                                          const std::string& description,
                                                          const Config& config, TimePoint now) {
  std::lock_guard lock(m_mutex);
  Instance* inst = find_instance(ns, id);
  if (!inst) return util::Err("no instance " + ns + "/" + id);
  refresh_jobs(*inst, now);
  std::optional<std::string> desc;
  if (!description.empty()) desc = description;
  Job& job = start_job(*inst, "schedule", desc, config, now);
  return render_job(job, config);
}

// ---- namespaces ---------------------------------------------------------------------------

json Store::render_namespace(const Namespace& ns) const {
  json out = {
      {"name", ns.name}, {"description", ns.description}, {"created_at", rfc3339(ns.created_at)}};
  if (ns.public_endpoint_params.is_object()) {
    out["public_endpoint_params"] = ns.public_endpoint_params;
    out["public_endpoint_id"] = ns.public_endpoint_id;
  }
  return out;
}

Reply Store::list_namespaces(const ApiRequest& req) {
  Paging paging;
  if (auto e = parse_paging(req, 20, 1, 100, paging)) return *e;
  std::string search;
  if (auto it = req.query.find("search"); it != req.query.end()) search = it->second;
  std::vector<const Namespace*> matched;
  for (const auto& [name, ns] : m_namespaces) {
    if (!search.empty() && !icontains(name, search) &&
        !(ns.description.is_string() && icontains(ns.description.get<std::string>(), search))) {
      continue;
    }
    matched.push_back(&ns);
  }
  std::sort(matched.begin(), matched.end(),
            [](const Namespace* a, const Namespace* b) { return a->seq < b->seq; });
  std::vector<json> items;
  for (const auto* ns : matched) items.push_back(render_namespace(*ns));
  return page_reply(items, paging);
}

Reply Store::create_namespace(const json& body, TimePoint now) {
  auto errors = validate_namespace(body, true);
  if (!errors.empty()) return validation_reply(errors);
  const std::string name = body["name"].get<std::string>();
  if (name == k_default_ns || m_namespaces.count(name) != 0) {
    return error_reply(409, k_code_namespace_exists, "Namespace already exists.");
  }
  Namespace ns;
  ns.name = name;
  ns.description = body.value("description", json());
  ns.created_at = now;
  ns.public_endpoint_params = body.value("public_endpoint_params", json());
  ns.public_endpoint_id = random_hex(32);
  ns.seq = m_next_seq++;
  auto& stored = m_namespaces[name] = std::move(ns);
  return Reply{201, success_envelope(render_namespace(stored)), {}};
}

Reply Store::get_namespace(const std::string& name) {
  if (name == k_default_ns) {
    Namespace d;
    d.name = k_default_ns;
    d.created_at = m_default_created_at;
    return Reply{200, success_envelope(render_namespace(d)), {}};
  }
  auto it = m_namespaces.find(name);
  if (it == m_namespaces.end()) return namespace_missing(name);
  return Reply{200, success_envelope(render_namespace(it->second)), {}};
}

Reply Store::update_namespace(const std::string& name, const json& body) {
  if (name == k_default_ns) {
    return error_reply(400, k_code_namespace_default, "Cannot modify default namespace.");
  }
  auto it = m_namespaces.find(name);
  if (it == m_namespaces.end()) return namespace_missing(name);
  auto errors = validate_namespace(body, false);
  if (!errors.empty()) return validation_reply(errors);
  if (body.contains("description")) it->second.description = body["description"];
  if (body.contains("public_endpoint_params")) {
    it->second.public_endpoint_params = body["public_endpoint_params"];
  }
  return Reply{200, success_envelope(render_namespace(it->second)), {}};
}

Reply Store::delete_namespace(const std::string& name) {
  if (name == k_default_ns) {
    return error_reply(400, k_code_namespace_default, "Cannot delete default namespace.");
  }
  auto it = m_namespaces.find(name);
  if (it == m_namespaces.end()) return namespace_missing(name);
  if (m_by_namespace.count(name) != 0) {
    return error_reply(400, k_code_namespace_not_empty, "Namespace not empty.");
  }
  m_namespaces.erase(it);
  return Reply{200, success_envelope(json::object()), {}};
}

// ---- state dump, load, seed ---------------------------------------------------------------

json Store::dump(const Config& config, TimePoint now) {
  std::lock_guard lock(m_mutex);
  json namespaces = json::array();
  for (const auto& [name, ns] : m_namespaces) {
    namespaces.push_back({{"name", ns.name},
                          {"description", ns.description},
                          {"created_at_ms", to_ms(ns.created_at)},
                          {"public_endpoint_params", ns.public_endpoint_params},
                          {"public_endpoint_id", ns.public_endpoint_id},
                          {"seq", ns.seq}});
  }
  json instances = json::array();
  for (auto& [key, inst] : m_instances) {
    refresh_jobs(inst, now);
    json jobs = json::array();
    for (const auto& job : inst.jobs) {
      json logs = json::array();
      for (const auto& e : job.logs) {
        logs.push_back({{"id", e.id},
                        {"created_at_ms", to_ms(e.created_at)},
                        {"message", e.message},
                        {"message_type", e.message_type}});
      }
      json j = {{"id", job.id},
                {"source", job.source},
                {"description", job.description ? json(*job.description) : json()},
                {"started_at_ms", to_ms(job.started_at)},
                {"ended_at_ms", job.ended_at ? json(to_ms(*job.ended_at)) : json()},
                {"last_seen_at_ms", to_ms(job.last_seen_at)},
                {"end_reason", job.end_reason ? json(*job.end_reason) : json()},
                {"outcome", to_string(job.outcome)},
                {"duration_ms", job.duration.count()},
                {"logs", logs},
                {"view", render_job(job, config)}};
      jobs.push_back(j);
    }
    instances.push_back({{"namespace", key.first},
                         {"id", key.second},
                         {"seq", inst.seq},
                         {"fields", inst.fields},
                         {"jobs", jobs}});
  }
  return {{"format", "aisearch-emulator/1"},
          {"default_created_at_ms", to_ms(m_default_created_at)},
          {"next_seq", m_next_seq},
          {"namespaces", namespaces},
          {"instances", instances}};
}

util::Result<void, std::string> Store::load(const json& state) {
  try {
    if (state.value("format", "") != "aisearch-emulator/1") {
      return util::Err(std::string("not an aisearch-emulator/1 state"));
    }
    std::map<std::string, Namespace> namespaces;
    for (const auto& n : state.at("namespaces")) {
      Namespace ns;
      ns.name = n.at("name").get<std::string>();
      ns.description = n.value("description", json());
      ns.created_at = from_ms(n.at("created_at_ms").get<long long>());
      ns.public_endpoint_params = n.value("public_endpoint_params", json());
      ns.public_endpoint_id = n.value("public_endpoint_id", "");
      ns.seq = n.value("seq", 0LL);
      namespaces[ns.name] = std::move(ns);
    }
    std::map<Key, Instance> instances;
    for (const auto& i : state.at("instances")) {
      Instance inst;
      inst.seq = i.at("seq").get<long long>();
      inst.fields = i.at("fields");
      for (const auto& j : i.at("jobs")) {
        Job job;
        job.id = j.at("id").get<std::string>();
        job.source = j.at("source").get<std::string>();
        if (j.at("description").is_string()) job.description = j["description"].get<std::string>();
        job.started_at = from_ms(j.at("started_at_ms").get<long long>());
        if (!j.at("ended_at_ms").is_null()) {
          job.ended_at = from_ms(j["ended_at_ms"].get<long long>());
        }
        job.last_seen_at = from_ms(j.at("last_seen_at_ms").get<long long>());
        if (j.at("end_reason").is_string()) job.end_reason = j["end_reason"].get<std::string>();
        auto outcome = parse_job_outcome(j.at("outcome").get<std::string>());
        if (!outcome) return util::Err(outcome.error());
        job.outcome = *outcome;
        job.duration = std::chrono::milliseconds(j.at("duration_ms").get<long long>());
        for (const auto& e : j.at("logs")) {
          job.logs.push_back({e.at("id").get<long long>(),
                              from_ms(e.at("created_at_ms").get<long long>()),
                              e.at("message").get<std::string>(), e.at("message_type").get<int>()});
        }
        inst.jobs.push_back(std::move(job));
      }
      Key key{inst.fields.at("namespace").get<std::string>(),
              inst.fields.at("id").get<std::string>()};
      instances[key] = std::move(inst);
    }
    std::lock_guard lock(m_mutex);
    m_default_created_at = from_ms(state.at("default_created_at_ms").get<long long>());
    m_next_seq = state.at("next_seq").get<long long>();
    m_namespaces = std::move(namespaces);
    m_instances = std::move(instances);
    rebuild_index();
    return {};
  } catch (const json::exception& e) {
    return util::Err(std::string("malformed state: ") + e.what());
  }
}

util::Result<json, std::string> Store::seed(const json& body, const Config& config, TimePoint now) {
  if (!body.is_object()) return util::Err(std::string("seed body must be a JSON object"));
  std::lock_guard lock(m_mutex);
  int namespaces = 0;
  int created = 0;
  int updated = 0;
  auto ensure_namespace = [&](const std::string& name, const json& description) {
    if (name == k_default_ns) return;
    auto it = m_namespaces.find(name);
    if (it != m_namespaces.end()) {
      if (!description.is_null()) it->second.description = description;
      return;
    }
    Namespace ns;
    ns.name = name;
    ns.description = description;
    ns.created_at = now;
    ns.public_endpoint_id = random_hex(32);
    ns.seq = m_next_seq++;
    m_namespaces[name] = std::move(ns);
    ++namespaces;
  };
  if (body.contains("namespaces")) {
    if (!body["namespaces"].is_array())
      return util::Err(std::string("namespaces: expected an array"));
    for (const auto& n : body["namespaces"]) {
      if (!n.is_object() || !n.contains("name") || !n["name"].is_string()) {
        return util::Err(std::string("namespaces[]: each needs a string name"));
      }
      ensure_namespace(n["name"].get<std::string>(), n.value("description", json()));
    }
  }
  if (body.contains("instances")) {
    if (!body["instances"].is_array())
      return util::Err(std::string("instances: expected an array"));
    for (const auto& i : body["instances"]) {
      if (!i.is_object() || !i.contains("id") || !i["id"].is_string()) {
        return util::Err(std::string("instances[]: each needs a string id"));
      }
      const std::string id = i["id"].get<std::string>();
      const std::string ns = i.value("namespace", k_default_ns);
      ensure_namespace(ns, nullptr);
      Instance* existing = find_instance(ns, id);
      if (existing == nullptr) {
        Instance inst;
        inst.seq = m_next_seq++;
        inst.fields = default_fields(ns, id, config, now);
        if (!i.contains("type")) inst.fields["type"] = infer_type(i.value("source", json()));
        existing = &insert_instance({ns, id}, std::move(inst));
        ++created;
      } else {
        existing->fields["modified_at"] = rfc3339(now);
        existing->fields["modified_by"] = config.user;
        ++updated;
      }
      for (const auto& [key, v] : i.items()) {
        if (key == "id" || key == "namespace") continue;
        existing->fields[key] = v;
      }
    }
  }
  return json{{"namespaces_created", namespaces},
              {"instances_created", created},
              {"instances_updated", updated}};
}

}  // namespace emulator
