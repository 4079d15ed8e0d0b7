#include "state/etcd_client.hpp"

#include <nlohmann/json.hpp>

#include "util/base64.hpp"

namespace state {
namespace {

util::Result<EtcdKeyValue, std::string> parse_kv(const nlohmann::json& j) {
  EtcdKeyValue kv;
  auto key = util::base64_decode(j.value("key", ""));
  auto value = util::base64_decode(j.value("value", ""));
  if (!key || !value) return util::Err(std::string("etcd answered a key that is not base64"));
  kv.key = std::move(*key);
  kv.value = std::move(*value);
  kv.create_revision = etcd_int64(j, "create_revision");
  kv.mod_revision = etcd_int64(j, "mod_revision");
  kv.lease = etcd_int64(j, "lease");
  return kv;
}

}  // namespace

util::Result<std::optional<EtcdKeyValue>, std::string> etcd_first_kv(const nlohmann::json& range) {
  auto kvs = range.find("kvs");
  if (kvs == range.end() || !kvs->is_array() || kvs->empty()) return std::optional<EtcdKeyValue>{};
  auto kv = parse_kv((*kvs)[0]);
  if (!kv) return util::Err(kv.error());
  return std::optional<EtcdKeyValue>(std::move(*kv));
}

EtcdClient::EtcdClient(EtcdOptions options, std::shared_ptr<http::Transport> transport)
    : m_options(std::move(options)), m_transport(std::move(transport)) {
  for (auto& e : m_options.endpoints)
    while (!e.empty() && e.back() == '/') e.pop_back();
}

std::string EtcdClient::key(std::string_view name) const {
  return m_options.prefix + std::string(name);
}

const char* to_string(EtcdError::Kind kind) {
  switch (kind) {
    case EtcdError::Kind::unreachable:
      return "unreachable";
    case EtcdError::Kind::auth:
      return "auth";
    case EtcdError::Kind::conflict:
      return "conflict";
    case EtcdError::Kind::fenced:
      return "fenced";
    case EtcdError::Kind::bad_answer:
      return "bad_answer";
    case EtcdError::Kind::refused:
      return "refused";
  }
  return "unknown";
}

util::Result<std::string, EtcdError> EtcdClient::authenticate(const std::string& endpoint) {
  http::HttpRequest req;
  req.method = "POST";
  req.url = endpoint + "/v3/auth/authenticate";
  req.headers = {{"Content-Type", "application/json"}};
  req.body = nlohmann::json{{"name", m_options.username}, {"password", m_options.password}}.dump();
  req.timeout = m_options.request_timeout;
  auto r = m_transport->send(req);
  if (!r)
    return util::Err(
        EtcdError{EtcdError::Kind::unreachable, "etcd " + endpoint + ": " + r.error().message});
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  if (r->status != 200 || !j.is_object() || !j.contains("token") || !j["token"].is_string())
    return util::Err(EtcdError{EtcdError::Kind::auth, "etcd " + endpoint + ": authentication as '" +
                                                          m_options.username + "' failed (HTTP " +
                                                          std::to_string(r->status) + ")"});
  return j["token"].get<std::string>();
}

std::int64_t etcd_int64(const nlohmann::json& j, const char* name) {
  if (!j.is_object()) return 0;
  auto it = j.find(name);
  if (it == j.end()) return 0;
  try {
    if (it->is_string()) return std::stoll(it->get<std::string>());
    if (it->is_number_integer()) return it->get<std::int64_t>();
  } catch (const std::exception&) {
  }
  return 0;
}

util::Result<std::string, EtcdError> EtcdClient::call(const std::string& path,
                                                      const std::string& body) {
  if (m_options.endpoints.empty())
    return util::Err(EtcdError{EtcdError::Kind::unreachable, "etcd: no endpoints configured"});
  EtcdError last_error;
  std::size_t start;
  {
    std::lock_guard lock(m_mutex);
    start = m_current;
  }
  const std::size_t n = m_options.endpoints.size();
  for (std::size_t k = 0; k < n; ++k) {
    const std::size_t index = (start + k) % n;
    const std::string& endpoint = m_options.endpoints[index];
    std::string token;
    if (!m_options.username.empty()) {
      {
        std::lock_guard lock(m_mutex);
        token = m_token;
      }
      if (token.empty()) {
        auto t = authenticate(endpoint);
        if (!t) {
          last_error = t.error();
          continue;
        }
        token = *t;
        std::lock_guard lock(m_mutex);
        m_token = token;
      }
    }
    http::HttpRequest req;
    req.method = "POST";
    req.url = endpoint + path;
    req.headers = {{"Content-Type", "application/json"}};
    if (!token.empty()) req.headers.emplace_back("Authorization", token);
    req.body = body;
    req.timeout = m_options.request_timeout;
    m_requests.fetch_add(1, std::memory_order_relaxed);
    auto r = m_transport->send(req);
    if (!r) {
      last_error = {EtcdError::Kind::unreachable, "etcd " + endpoint + ": " + r.error().message};
      continue;
    }
    if (r->status == 200) {
      std::lock_guard lock(m_mutex);
      m_current = index;
      return std::move(r->body);
    }
    // A gRPC error in the gateway's JSON: {"error": ..., "message": ..., "code": N}.
    auto j = nlohmann::json::parse(r->body, nullptr, false);
    std::string message = j.is_object() && j.contains("message") && j["message"].is_string()
                              ? j["message"].get<std::string>()
                              : "HTTP " + std::to_string(r->status);
    const std::int64_t code = etcd_int64(j, "code");
    constexpr std::int64_t k_grpc_permission_denied = 7, k_grpc_unauthenticated = 16;
    EtcdError::Kind kind = EtcdError::Kind::refused;
    if (code == k_grpc_unauthenticated || r->status == 401) {
      // An expired or invalid auth token: authenticate again on the next call.
      kind = EtcdError::Kind::auth;
      std::lock_guard lock(m_mutex);
      m_token.clear();
    } else if (code == k_grpc_permission_denied || r->status == 403) {
      kind = EtcdError::Kind::auth;
    } else if (r->status == 503) {
      kind = EtcdError::Kind::unreachable;
    } else if (!j.is_object()) {
      kind = EtcdError::Kind::bad_answer;
    }
    last_error = {kind, "etcd " + endpoint + ": " + message};
    // 503 (no leader, unavailable): another endpoint may do better; other answers are final.
    if (r->status != 503) return util::Err(last_error);
  }
  return util::Err(last_error);
}

util::Result<std::optional<EtcdKeyValue>, EtcdError> EtcdClient::get(const std::string& key) {
  auto r = call("/v3/kv/range", nlohmann::json{{"key", util::base64_encode(key)}}.dump());
  if (!r) return util::Err(r.error());
  auto j = nlohmann::json::parse(*r, nullptr, false);
  if (!j.is_object())
    return util::Err(EtcdError{EtcdError::Kind::bad_answer, "etcd: an answer that is not JSON"});
  auto kv = etcd_first_kv(j);
  if (!kv) return util::Err(EtcdError{EtcdError::Kind::bad_answer, kv.error()});
  return std::move(*kv);
}

}  // namespace state
