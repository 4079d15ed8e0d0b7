#include "state/etcd_store.hpp"

#include <nlohmann/json.hpp>

#include "util/base64.hpp"

namespace state {

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
  if (!kv) return util::Err(kv.error().message);
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

util::Result<void, EtcdError> EtcdStateStore::write(const State& state) {
  using Kind = EtcdError::Kind;
  const std::string key = m_client->key("state");
  std::int64_t expected;
  FenceSource fence_source;
  {
    std::lock_guard lock(m_mutex);
    expected = m_revision;
    fence_source = m_fence;
    if (!m_loaded)
      return util::Err(EtcdError{
          Kind::refused, "etcd state: save before load (the revision to compare is unknown)"});
  }
  std::optional<EtcdFence> fence;
  if (fence_source) {
    fence = fence_source();
    if (!fence)
      return util::Err(
          EtcdError{Kind::fenced, "etcd state: not written: this node is not the leader"});
  }
  const std::string key64 = util::base64_encode(key);
  nlohmann::json compare = nlohmann::json::array();
  compare.push_back({{"key", key64},
                     {"result", "EQUAL"},
                     {"target", "MOD"},
                     {"mod_revision", std::to_string(expected)}});
  nlohmann::json failure = nlohmann::json::array({{{"request_range", {{"key", key64}}}}});
  if (fence) {
    const std::string fence64 = util::base64_encode(fence->key);
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
              {{"key", key64}, {"value", util::base64_encode(state.to_json().dump())}}}}})},
      {"failure", failure}};
  auto r = m_client->call("/v3/kv/txn", txn.dump());
  if (!r)
    return util::Err(EtcdError{r.error().kind, "etcd state: not written: " + r.error().message});
  auto j = nlohmann::json::parse(*r, nullptr, false);
  if (!j.is_object())
    return util::Err(
        EtcdError{Kind::bad_answer, "etcd state: not written: an answer that is not JSON"});
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
    auto holder = etcd_first_kv(responses[1]["response_range"]);
    if (holder && (!holder->has_value() || (*holder)->create_revision != fence->create_revision)) {
      std::string who = holder->has_value() ? "'" + (*holder)->value + "'" : "nobody";
      return util::Err(EtcdError{
          Kind::fenced,
          "etcd state: not written: leadership lost (the leader key is now held by " + who + ")"});
    }
  }
  std::int64_t now_revision = 0;
  if (!responses.empty() && responses[0].contains("response_range")) {
    auto current = etcd_first_kv(responses[0]["response_range"]);
    if (current && current->has_value()) now_revision = (*current)->mod_revision;
  }
  return util::Err(EtcdError{
      Kind::conflict, "etcd state: not written: " + key + " changed since it was read (revision " +
                          std::to_string(expected) + ", now " + std::to_string(now_revision) +
                          "): another writer; load it again"});
}

util::Result<void, std::string> EtcdStateStore::save(const State& state) {
  auto r = write(state);
  std::lock_guard lock(m_mutex);
  if (r) {
    m_last_error.reset();
    return {};
  }
  m_last_error = r.error();
  return util::Err(r.error().message);
}

std::optional<EtcdError> EtcdStateStore::last_error() const {
  std::lock_guard lock(m_mutex);
  return m_last_error;
}

}  // namespace state
