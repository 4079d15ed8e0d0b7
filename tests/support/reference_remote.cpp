#include "support/reference_remote.hpp"

#include <algorithm>
#include <cstdio>
#include <optional>

#include "support/fake_transport.hpp"

namespace support {

using nlohmann::json;

namespace {

http::HttpResponse ok(const json& result, const json& result_info = nullptr) {
  json body = {{"success", true},
               {"errors", json::array()},
               {"messages", json::array()},
               {"result", result}};
  if (!result_info.is_null()) body["result_info"] = result_info;
  return FakeTransport::json_response(200, body);
}

http::HttpResponse error(int status, int code, const std::string& message) {
  return FakeTransport::json_response(status, error_envelope(code, message));
}

std::vector<std::string> split_path(const std::string& url,
                                    std::map<std::string, std::string>& query) {
  std::string rest = url;
  if (auto at = rest.find("/client/v4"); at != std::string::npos) rest = rest.substr(at + 10);
  if (auto q = rest.find('?'); q != std::string::npos) {
    std::string qs = rest.substr(q + 1);
    rest = rest.substr(0, q);
    std::size_t start = 0;
    while (start <= qs.size()) {
      std::size_t amp = qs.find('&', start);
      std::string pair =
          qs.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
      if (auto eq = pair.find('='); eq != std::string::npos)
        query[pair.substr(0, eq)] = pair.substr(eq + 1);
      if (amp == std::string::npos) break;
      start = amp + 1;
    }
  }
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start < rest.size()) {
    std::size_t slash = rest.find('/', start);
    if (slash == std::string::npos) slash = rest.size();
    if (slash > start) parts.push_back(rest.substr(start, slash - start));
    start = slash + 1;
  }
  return parts;
}

int number(const std::map<std::string, std::string>& query, const std::string& key, int fallback) {
  auto it = query.find(key);
  if (it == query.end()) return fallback;
  try {
    return std::stoi(it->second);
  } catch (...) {
    return fallback;
  }
}

}  // namespace

ReferenceRemote::ReferenceRemote(std::string account) : m_account(std::move(account)) {
  m_namespaces.insert("default");
}

json ReferenceRemote::stored_form(const std::string& ns, json object) const {
  // What the service adds and how it reads fields back (API.md §11, §12).
  // Each instance made gets its own created_at (one second apart), as the service's do.
  const int n = m_creations++;
  char created[32];
  std::snprintf(created, sizeof created, "2026-01-%02dT%02d:%02d:%02dZ", 1 + n / 86400 % 28,
                n / 3600 % 24, n / 60 % 60, n % 60);
  const json defaults = {{"status", "ready"},
                         {"created_at", created},
                         {"created_by", "someone@example.com"},
                         {"modified_by", "someone@example.com"},
                         {"chunk_size", 256},
                         {"chunk_overlap", 10},
                         {"max_num_results", 10},
                         {"paused", false},
                         {"ai_gateway_id", nullptr},
                         {"account_tag", "tag"},
                         {"internal_id", "internal"}};
  for (const auto& [k, v] : defaults.items())
    if (!object.contains(k)) object[k] = v;
  object["namespace"] = ns;
  object["token_id"] = nullptr;  // write-only: read back as null
  if (auto ro = object.find("retrieval_options"); ro != object.end() && ro->is_object())
    if (auto bb = ro->find("boost_by"); bb != ro->end() && bb->is_array())
      for (auto& item : *bb)
        if (item.is_object() && !item.contains("dataType")) item["dataType"] = "text";
  if (auto pep = object.find("public_endpoint_params"); pep != object.end() && pep->is_object()) {
    if (!pep->contains("default_domain_enabled")) (*pep)["default_domain_enabled"] = true;
    if (!pep->contains("authorized_hosts")) (*pep)["authorized_hosts"] = json::array();
  }
  return object;
}

void ReferenceRemote::add_namespace(const std::string& name) {
  std::lock_guard lock(m_mutex);
  m_namespaces.insert(name);
}

void ReferenceRemote::add_instance(const std::string& ns, const json& object) {
  std::lock_guard lock(m_mutex);
  m_namespaces.insert(ns);
  m_instances[ns][object.at("id").get<std::string>()].object = stored_form(ns, object);
}

void ReferenceRemote::remove_instance(const std::string& ns, const std::string& id) {
  std::lock_guard lock(m_mutex);
  if (auto it = m_instances.find(ns); it != m_instances.end()) it->second.erase(id);
}

void ReferenceRemote::set_field(const std::string& ns, const std::string& id,
                                const std::string& field, const json& value) {
  std::lock_guard lock(m_mutex);
  auto n = m_instances.find(ns);
  if (n == m_instances.end()) return;
  auto i = n->second.find(id);
  if (i == n->second.end()) return;
  if (value.is_null())
    i->second.object.erase(field);
  else
    i->second.object[field] = value;
  i->second.object["modified_by"] = "someone-else@example.com";
}

std::set<std::string> ReferenceRemote::namespaces() const {
  std::lock_guard lock(m_mutex);
  return m_namespaces;
}

std::map<std::string, std::map<std::string, json>> ReferenceRemote::instances() const {
  std::lock_guard lock(m_mutex);
  std::map<std::string, std::map<std::string, json>> out;
  for (const auto& [ns, items] : m_instances)
    for (const auto& [id, stored] : items) out[ns][id] = stored.object;
  return out;
}

bool ReferenceRemote::has(const std::string& ns, const std::string& id) const {
  std::lock_guard lock(m_mutex);
  auto n = m_instances.find(ns);
  return n != m_instances.end() && n->second.count(id);
}

void ReferenceRemote::fault_at(std::size_t request, Fault fault) {
  std::lock_guard lock(m_mutex);
  m_faults[request] = fault;
}

void ReferenceRemote::clear_faults() {
  std::lock_guard lock(m_mutex);
  m_faults.clear();
}

std::size_t ReferenceRemote::request_count() const {
  std::lock_guard lock(m_mutex);
  return m_requests;
}

bool ReferenceRemote::killed() const {
  std::lock_guard lock(m_mutex);
  return m_killed;
}

void ReferenceRemote::revive() {
  std::lock_guard lock(m_mutex);
  m_killed = false;
}

std::vector<ReferenceRemote::Write> ReferenceRemote::writes() const {
  std::lock_guard lock(m_mutex);
  return m_writes;
}

void ReferenceRemote::clear_writes() {
  std::lock_guard lock(m_mutex);
  m_writes.clear();
  m_list_pages.clear();
}

std::set<std::string> ReferenceRemote::incomplete_lists() const {
  std::lock_guard lock(m_mutex);
  std::set<std::string> out;
  for (const auto& [list, pages] : m_list_pages)
    for (const auto& [page, answered] : pages)
      if (!answered) out.insert(list);
  return out;
}

void ReferenceRemote::on_kill(std::function<void()> hook) {
  std::lock_guard lock(m_mutex);
  m_on_kill = std::move(hook);
}

util::Result<http::HttpResponse, http::TransportError> ReferenceRemote::send(
    const http::HttpRequest& r) {
  std::map<std::string, std::string> query;
  const auto path = split_path(r.url, query);
  json body = nullptr;
  if (!r.body.empty()) body = json::parse(r.body, nullptr, false);

  std::lock_guard lock(m_mutex);
  const std::size_t index = m_requests++;
  Fault fault = Fault::none;
  if (auto it = m_faults.find(index); it != m_faults.end()) fault = it->second;
  if (fault == Fault::kill && !m_killed) {
    m_killed = true;
    if (m_on_kill) m_on_kill();
  }

  // Which list page this request reads, for incomplete_lists().
  std::optional<std::string> list;
  if (r.method == "GET" && path.size() == 6 && path[5] == "instances") list = path[4];
  if (r.method == "GET" && path.size() == 4 && path[3] == "namespaces") list = "";
  // A shifted page answers like a complete one and the client cannot tell it apart by counts: it
  // is not counted as incomplete; what is done on it must hold against the remote's truth (an
  // owned instance it left out is never forgotten or created twice: I7, I1).
  if (list)
    m_list_pages[*list][number(query, "page", 1)] =
        (fault == Fault::none || fault == Fault::shifted_page) && !m_killed;
  if (m_killed)
    return util::Err(http::TransportError{http::TransportError::Kind::network,
                                          "connection refused (process killed)"});
  if (fault == Fault::fail) return error(500, 10001, "Internal server error");

  bool applied = false;
  http::HttpResponse response = handle(r.method, path, query, body, fault, applied);
  // A short fault on a page with nothing to leave out changes nothing: that page is complete.
  if (list && fault == Fault::short_page && !applied)
    m_list_pages[*list][number(query, "page", 1)] = true;
  if (fault == Fault::lost && r.method != "GET")
    return util::Err(
        http::TransportError{http::TransportError::Kind::network, "connection reset by peer"});
  if (fault == Fault::lost && r.method == "GET")
    return util::Err(
        http::TransportError{http::TransportError::Kind::timeout, "operation timed out"});
  return response;
}

http::HttpResponse ReferenceRemote::handle(const std::string& method,
                                           const std::vector<std::string>& p,
                                           const std::map<std::string, std::string>& query,
                                           const json& body, Fault fault, bool& applied) {
  // accounts/ACC/ai-search/namespaces[/NS[/instances[/ID]]]
  if (p.size() < 4 || p[0] != "accounts" || p[1] != m_account || p[2] != "ai-search" ||
      p[3] != "namespaces")
    return error(404, 7000, "No route for that URI");
  const int page = std::max(1, number(query, "page", 1));
  const int per_page = std::clamp(number(query, "per_page", 20), 1, 100);
  auto paged = [&](const std::vector<json>& all) {
    json items = json::array();
    const std::size_t from = static_cast<std::size_t>(page - 1) * per_page;
    for (std::size_t i = from; i < all.size() && i < from + per_page; ++i) items.push_back(all[i]);
    if (fault == Fault::short_page && !items.empty()) {
      items.erase(items.begin());
      applied = true;  // the fault took effect
    }
    if (fault == Fault::shifted_page && p.size() == 6 && page >= 2 && !items.empty() &&
        from + per_page >= all.size()) {
      items.erase(items.begin());
      json late = all[from];
      late["id"] = "zz-late-arrival";
      late["source"] = "late-bucket";
      late["created_by"] = "someone@example.com";
      items.push_back(std::move(late));
      applied = true;
    }
    return ok(items, {{"page", page},
                      {"per_page", per_page},
                      {"count", items.size()},
                      {"total_count", all.size()}});
  };

  if (p.size() == 4) {
    if (method == "GET") {
      std::vector<json> all;
      for (const auto& n : m_namespaces)
        if (n != "default") all.push_back({{"name", n}, {"description", nullptr}});
      return paged(all);
    }
    if (method == "POST") {
      const std::string name = body.value("name", "");
      if (name.empty()) return error(400, 7001, "name is required");
      if (m_namespaces.count(name)) return error(400, 7022, "namespace already exists");
      m_namespaces.insert(name);
      m_writes.push_back({"POST ns", name, "", "", body});
      applied = true;
      return ok({{"name", name}, {"description", body.value("description", json(nullptr))}});
    }
    return error(405, 7000, "method not allowed");
  }

  const std::string ns = p[4];
  if (!m_namespaces.count(ns)) return error(404, 7063, "namespace not found");
  if (p.size() == 5) {
    if (method == "PUT") {
      m_writes.push_back({"PUT ns", ns, "", "", body});
      applied = true;
      return ok({{"name", ns}, {"description", body.value("description", json(nullptr))}});
    }
    if (method == "GET") return ok({{"name", ns}, {"description", nullptr}});
    return error(405, 7000, "method not allowed");
  }
  if (p[5] != "instances") return error(404, 7000, "No route for that URI");
  auto& items = m_instances[ns];
  if (p.size() == 6) {
    if (method == "GET") {
      std::vector<json> all;
      for (const auto& [id, stored] : items) all.push_back(stored.object);
      return paged(all);
    }
    if (method == "POST") {
      if (!body.is_object() || !body.contains("id")) return error(400, 7001, "id is required");
      const std::string id = body["id"].get<std::string>();
      if (items.count(id)) return error(400, 7022, "ai search instance already exists");
      items[id].object = stored_form(ns, body);
      m_writes.push_back({"POST", ns, id, "", body});
      applied = true;
      return ok(items[id].object);
    }
    return error(405, 7000, "method not allowed");
  }
  const std::string id = p[6];
  auto it = items.find(id);
  if (p.size() != 7) return error(404, 7000, "No route for that URI");
  if (it == items.end()) return error(404, 7002, "ai search instance not found");
  if (method == "GET") return ok(it->second.object);
  if (method == "PUT") {
    if (!body.is_object()) return error(400, 7001, "body must be an object");
    json next = it->second.object;
    for (const auto& [k, v] : body.items()) next[k] = v;  // top-level fields replaced whole
    next["modified_at"] = "2026-01-01T00:00:" + std::to_string(10 + (++m_clock % 50)) + "Z";
    next["modified_by"] = "aisearchd@example.com";
    it->second.object = stored_form(ns, next);
    m_writes.push_back({"PUT", ns, id, "", body});
    applied = true;
    return ok(it->second.object);
  }
  if (method == "DELETE") {
    json gone = it->second.object;
    items.erase(it);
    m_writes.push_back({"DELETE", ns, id, "", nullptr});
    applied = true;
    return ok(gone);
  }
  if (method == "PATCH") {
    const std::string to = body.is_object() ? body.value("new_namespace", "") : "";
    if (!m_namespaces.count(to)) return error(404, 7063, "namespace not found");
    if (m_instances[to].count(id)) return error(400, 7022, "ai search instance already exists");
    json moved = it->second.object;
    items.erase(it);
    m_instances[to][id].object = stored_form(to, moved);
    m_writes.push_back({"PATCH", ns, id, to, body});
    applied = true;
    return ok(nullptr);
  }
  return error(405, 7000, "method not allowed");
}

}  // namespace support
