#include "state/etcd_store.hpp"

#include <array>

#include <nlohmann/json.hpp>

namespace state {
namespace {

constexpr std::string_view k_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

util::Result<EtcdKeyValue, std::string> parse_kv(const nlohmann::json& j) {
  EtcdKeyValue kv;
  auto key = EtcdClient::base64_decode(j.value("key", ""));
  auto value = EtcdClient::base64_decode(j.value("value", ""));
  if (!key || !value) return util::Err(std::string("etcd answered a key that is not base64"));
  kv.key = std::move(*key);
  kv.value = std::move(*value);
  kv.create_revision = etcd_int64(j, "create_revision");
  kv.mod_revision = etcd_int64(j, "mod_revision");
  kv.lease = etcd_int64(j, "lease");
  return kv;
}

// The first key of a range answer (or of a txn's response_range), nullopt when none.
util::Result<std::optional<EtcdKeyValue>, std::string> first_kv(const nlohmann::json& range) {
  auto kvs = range.find("kvs");
  if (kvs == range.end() || !kvs->is_array() || kvs->empty()) return std::optional<EtcdKeyValue>{};
  auto kv = parse_kv((*kvs)[0]);
  if (!kv) return util::Err(kv.error());
  return std::optional<EtcdKeyValue>(std::move(*kv));
}

}  // namespace

std::string EtcdClient::base64_encode(std::string_view data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(data[i]) << 16) |
                 (static_cast<unsigned char>(data[i + 1]) << 8) |
                 static_cast<unsigned char>(data[i + 2]);
    out += k_alphabet[(v >> 18) & 63];
    out += k_alphabet[(v >> 12) & 63];
    out += k_alphabet[(v >> 6) & 63];
    out += k_alphabet[v & 63];
  }
  if (i + 1 == data.size()) {
    unsigned v = static_cast<unsigned char>(data[i]) << 16;
    out += k_alphabet[(v >> 18) & 63];
    out += k_alphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == data.size()) {
    unsigned v = (static_cast<unsigned char>(data[i]) << 16) |
                 (static_cast<unsigned char>(data[i + 1]) << 8);
    out += k_alphabet[(v >> 18) & 63];
    out += k_alphabet[(v >> 12) & 63];
    out += k_alphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

util::Result<std::string, std::string> EtcdClient::base64_decode(std::string_view text) {
  std::array<int, 256> table{};
  table.fill(-1);
  for (std::size_t i = 0; i < k_alphabet.size(); ++i)
    table[static_cast<unsigned char>(k_alphabet[i])] = static_cast<int>(i);
  std::string out;
  out.reserve(text.size() / 4 * 3);
  unsigned acc = 0;
  int bits = 0;
  std::size_t padding = 0;
  for (char c : text) {
    if (c == '=') {
      ++padding;
      continue;
    }
    int v = table[static_cast<unsigned char>(c)];
    if (v < 0 || padding > 0) return util::Err(std::string("not base64"));
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  if (padding > 2) return util::Err(std::string("not base64"));
  return out;
}

EtcdClient::EtcdClient(EtcdOptions options, std::shared_ptr<api::Transport> transport)
    : m_options(std::move(options)), m_transport(std::move(transport)) {
  for (auto& e : m_options.endpoints)
    while (!e.empty() && e.back() == '/') e.pop_back();
}

std::string EtcdClient::key(std::string_view name) const {
  return m_options.prefix + std::string(name);
}

util::Result<std::string, std::string> EtcdClient::authenticate(const std::string& endpoint) {
  api::HttpRequest req;
  req.method = "POST";
  req.url = endpoint + "/v3/auth/authenticate";
  req.headers = {{"Content-Type", "application/json"}};
  req.body = nlohmann::json{{"name", m_options.username}, {"password", m_options.password}}.dump();
  req.timeout = m_options.request_timeout;
  auto r = m_transport->send(req);
  if (!r) return util::Err("etcd " + endpoint + ": " + r.error().message);
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  if (r->status != 200 || !j.is_object() || !j.contains("token") || !j["token"].is_string())
    return util::Err("etcd " + endpoint + ": authentication as '" + m_options.username +
                     "' failed (HTTP " + std::to_string(r->status) + ")");
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

util::Result<std::string, std::string> EtcdClient::call(const std::string& path,
                                                        const std::string& body) {
  if (m_options.endpoints.empty()) return util::Err(std::string("etcd: no endpoints configured"));
  std::string last_error;
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
    api::HttpRequest req;
    req.method = "POST";
    req.url = endpoint + path;
    req.headers = {{"Content-Type", "application/json"}};
    if (!token.empty()) req.headers.emplace_back("Authorization", token);
    req.body = body;
    req.timeout = m_options.request_timeout;
    m_requests.fetch_add(1, std::memory_order_relaxed);
    auto r = m_transport->send(req);
    if (!r) {
      last_error = "etcd " + endpoint + ": " + r.error().message;
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
    if (message.find("token") != std::string::npos) {
      // An expired or invalid auth token: authenticate again on the next call.
      std::lock_guard lock(m_mutex);
      m_token.clear();
    }
    last_error = "etcd " + endpoint + ": " + message;
    // 503 (no leader, unavailable): another endpoint may do better; other answers are final.
    if (r->status != 503) return util::Err(last_error);
  }
  return util::Err(last_error);
}

util::Result<std::optional<EtcdKeyValue>, std::string> EtcdClient::get(const std::string& key) {
  auto r = call("/v3/kv/range", nlohmann::json{{"key", base64_encode(key)}}.dump());
  if (!r) return util::Err(r.error());
  auto j = nlohmann::json::parse(*r, nullptr, false);
  if (!j.is_object()) return util::Err(std::string("etcd: an answer that is not JSON"));
  return first_kv(j);
}

EtcdStateStore::EtcdStateStore(std::shared_ptr<EtcdClient> client, FenceSource fence)
    : m_client(std::move(client)), m_fence(std::move(fence)) {}

void EtcdStateStore::set_fence(FenceSource fence) {
  std::lock_guard lock(m_mutex);
  m_fence = std::move(fence);
}

std::int64_t EtcdStateStore::revision() const {
  std::lock_guard lock(m_mutex);
  return m_revision;
}

std::string EtcdStateStore::describe() const {
  std::string endpoints;
  for (const auto& e : m_client->options().endpoints)
    endpoints += (endpoints.empty() ? "" : ",") + e;
  return "etcd " + endpoints + " key " + m_client->key("state");
}

util::Result<State, std::string> EtcdStateStore::load() {
  auto kv = m_client->get(m_client->key("state"));
  if (!kv) return util::Err(kv.error());
  State s;
  std::int64_t revision = 0;
  if (kv->has_value()) {
    auto j = nlohmann::json::parse((*kv)->value, nullptr, false);
    if (j.is_discarded()) return util::Err(m_client->key("state") + " in etcd: not valid JSON");
    auto parsed = State::from_json(j);
    if (!parsed) return util::Err(m_client->key("state") + " in etcd: " + parsed.error());
    s = std::move(*parsed);
    revision = (*kv)->mod_revision;
  }
  std::lock_guard lock(m_mutex);
  m_revision = revision;
  m_loaded = true;
  return s;
}

util::Result<void, std::string> EtcdStateStore::save(const State& state) {
  const std::string key = m_client->key("state");
  std::int64_t expected;
  FenceSource fence_source;
  {
    std::lock_guard lock(m_mutex);
    expected = m_revision;
    fence_source = m_fence;
    if (!m_loaded)
      return util::Err("etcd state: save before load (the revision to compare is unknown)");
  }
  std::optional<EtcdFence> fence;
  if (fence_source) {
    fence = fence_source();
    if (!fence)
      return util::Err(std::string("etcd state: not written: this node is not the leader"));
  }
  const std::string key64 = EtcdClient::base64_encode(key);
  nlohmann::json compare = nlohmann::json::array();
  compare.push_back({{"key", key64},
                     {"result", "EQUAL"},
                     {"target", "MOD"},
                     {"mod_revision", std::to_string(expected)}});
  nlohmann::json failure = nlohmann::json::array({{{"request_range", {{"key", key64}}}}});
  if (fence) {
    const std::string fence64 = EtcdClient::base64_encode(fence->key);
    compare.push_back({{"key", fence64},
                       {"result", "EQUAL"},
                       {"target", "CREATE"},
                       {"create_revision", std::to_string(fence->create_revision)}});
    failure.push_back({{"request_range", {{"key", fence64}}}});
  }
  nlohmann::json txn = {
      {"compare", compare},
      {"success",
       nlohmann::json::array(
           {{{"request_put",
              {{"key", key64}, {"value", EtcdClient::base64_encode(state.to_json().dump())}}}}})},
      {"failure", failure}};
  auto r = m_client->call("/v3/kv/txn", txn.dump());
  if (!r) return util::Err("etcd state: not written: " + r.error());
  auto j = nlohmann::json::parse(*r, nullptr, false);
  if (!j.is_object())
    return util::Err(std::string("etcd state: not written: an answer that is not JSON"));
  if (j.value("succeeded", false)) {
    std::int64_t revision = j.contains("header") ? etcd_int64(j["header"], "revision") : 0;
    std::lock_guard lock(m_mutex);
    if (revision > 0) m_revision = revision;
    return {};
  }
  // Say which comparison failed.
  const auto& responses = j.contains("responses") && j["responses"].is_array()
                              ? j["responses"]
                              : nlohmann::json::array();
  if (fence && responses.size() >= 2 && responses[1].contains("response_range")) {
    auto holder = first_kv(responses[1]["response_range"]);
    if (holder && (!holder->has_value() || (*holder)->create_revision != fence->create_revision)) {
      std::string who = holder->has_value() ? "'" + (*holder)->value + "'" : "nobody";
      return util::Err("etcd state: not written: leadership lost (the leader key is now held by " +
                       who + ")");
    }
  }
  std::int64_t now_revision = 0;
  if (!responses.empty() && responses[0].contains("response_range")) {
    auto current = first_kv(responses[0]["response_range"]);
    if (current && current->has_value()) now_revision = (*current)->mod_revision;
  }
  return util::Err("etcd state: not written: " + key + " changed since it was read (revision " +
                   std::to_string(expected) + ", now " + std::to_string(now_revision) +
                   "): another writer; load it again");
}

}  // namespace state
