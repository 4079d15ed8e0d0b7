#include "support/fake_transport.hpp"

#include <algorithm>
#include <cctype>

namespace support {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Splits an absolute URL into the API path (without the k_fake_api_url base path) and query.
void split(const std::string& url, std::string& path, std::string& query) {
  std::string rest = url;
  if (auto scheme = rest.find("://"); scheme != std::string::npos) {
    const auto slash = rest.find('/', scheme + 3);
    rest = slash == std::string::npos ? "/" : rest.substr(slash);
  }
  const auto q = rest.find('?');
  path = rest.substr(0, q);
  query = q == std::string::npos ? "" : rest.substr(q + 1);
  const std::string base = "/client/v4";
  if (path.compare(0, base.size(), base) == 0) path = path.substr(base.size());
}

// "/a/b" matches "/a/b", "/a/b/c" and "/a/b?..." but not "/a/bc".
bool prefix_matches(const std::string& prefix, const std::string& path) {
  if (path.compare(0, prefix.size(), prefix) != 0) return false;
  return path.size() == prefix.size() || prefix.empty() || prefix.back() == '/' ||
         path[prefix.size()] == '/';
}

}  // namespace

std::string RecordedRequest::header(const std::string& name) const {
  const std::string wanted = lower(name);
  for (const auto& [n, v] : headers) {
    if (lower(n) == wanted) return v;
  }
  return "";
}

nlohmann::json RecordedRequest::json() const {
  if (body.empty()) return nullptr;
  auto j = nlohmann::json::parse(body, nullptr, false);
  return j.is_discarded() ? nlohmann::json(nullptr) : j;
}

std::string RecordedRequest::query_param(const std::string& name) const {
  std::size_t start = 0;
  while (start <= query.size()) {
    std::size_t end = query.find('&', start);
    if (end == std::string::npos) end = query.size();
    const std::string pair = query.substr(start, end - start);
    const auto eq = pair.find('=');
    if (pair.substr(0, eq) == name) return eq == std::string::npos ? "" : pair.substr(eq + 1);
    start = end + 1;
  }
  return "";
}

FakeAnswer FakeTransport::send(const http::HttpRequest& request) {
  RecordedRequest rec;
  rec.method = request.method;
  rec.url = request.url;
  split(request.url, rec.path, rec.query);
  rec.headers = request.headers;
  rec.body = request.body;

  FakeHandler handler;
  {
    std::lock_guard lock(m_mutex);
    m_requests.push_back(rec);
    if (m_next < m_queue.size()) return m_queue[m_next++];
    std::size_t best = 0;
    for (auto it = m_routes.rbegin(); it != m_routes.rend(); ++it) {
      if ((it->method.empty() || it->method == rec.method) &&
          prefix_matches(it->prefix, rec.path) && (!handler || it->prefix.size() > best)) {
        handler = it->handler;
        best = it->prefix.size();
      }
    }
  }
  if (handler) return handler(rec);
  return json_response(
      418, error_envelope(0, "FakeTransport: unscripted request " + rec.method + " " + rec.path));
}

void FakeTransport::push(http::HttpResponse response) {
  std::lock_guard lock(m_mutex);
  m_queue.emplace_back(std::move(response));
}

void FakeTransport::push_json(int status, const nlohmann::json& body, http::Headers headers) {
  push(json_response(status, body, std::move(headers)));
}

void FakeTransport::push_error(http::TransportError::Kind kind, std::string message) {
  std::lock_guard lock(m_mutex);
  m_queue.emplace_back(util::Err(http::TransportError{kind, std::move(message)}));
}

void FakeTransport::on(std::string method, std::string path_prefix, FakeHandler handler) {
  std::lock_guard lock(m_mutex);
  m_routes.push_back(Route{std::move(method), std::move(path_prefix), std::move(handler)});
}

std::vector<RecordedRequest> FakeTransport::requests() const {
  std::lock_guard lock(m_mutex);
  return m_requests;
}

std::size_t FakeTransport::request_count() const {
  std::lock_guard lock(m_mutex);
  return m_requests.size();
}

std::size_t FakeTransport::queued() const {
  std::lock_guard lock(m_mutex);
  return m_queue.size() - m_next;
}

void FakeTransport::clear_requests() {
  std::lock_guard lock(m_mutex);
  m_requests.clear();
}

http::HttpResponse FakeTransport::json_response(int status, const nlohmann::json& body,
                                                http::Headers headers) {
  http::HttpResponse r;
  r.status = status;
  r.headers = std::move(headers);
  for (auto& h : r.headers) h.first = lower(h.first);
  r.headers.emplace_back("content-type", "application/json");
  r.body = body.dump();
  return r;
}

http::HttpResponse FakeTransport::text_response(int status, std::string body,
                                                std::string content_type) {
  http::HttpResponse r;
  r.status = status;
  r.headers.emplace_back("content-type", std::move(content_type));
  r.body = std::move(body);
  return r;
}

nlohmann::json envelope(const nlohmann::json& result) {
  return {{"success", true},
          {"errors", nlohmann::json::array()},
          {"messages", nlohmann::json::array()},
          {"result", result}};
}

nlohmann::json list_envelope(const nlohmann::json& items, int page, int per_page,
                             long total_count) {
  nlohmann::json env = envelope(items);
  env["result_info"] = {{"page", page}, {"per_page", per_page}, {"count", items.size()}};
  if (total_count >= 0) env["result_info"]["total_count"] = total_count;
  return env;
}

nlohmann::json error_envelope(int code, const std::string& message) {
  return {{"success", false},
          {"errors", nlohmann::json::array({{{"code", code}, {"message", message}}})},
          {"messages", nlohmann::json::array()},
          {"result", nullptr}};
}

}  // namespace support
