#include "state/leader.hpp"

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "util/base64.hpp"

namespace state {
namespace {

util::Result<nlohmann::json, std::string> parse(const util::Result<std::string, EtcdError>& r) {
  if (!r) return util::Err(r.error().message);
  auto j = nlohmann::json::parse(*r, nullptr, false);
  if (!j.is_object()) return util::Err(std::string("etcd: an answer that is not JSON"));
  return j;
}

}  // namespace

LeaderElector::LeaderElector(std::shared_ptr<EtcdClient> client, LeaderOptions options,
                             util::Clock& clock)
    : m_client(std::move(client)), m_options(std::move(options)), m_clock(clock) {
  if (m_options.ttl < std::chrono::seconds(1)) m_options.ttl = std::chrono::seconds(1);
  m_key = m_client->key(m_options.key_name);
}

LeaderElector::~LeaderElector() {
  stop();
  if (is_leader()) (void)resign();
}

std::chrono::milliseconds LeaderElector::interval() const {
  return m_options.ttl / 3;
}

bool LeaderElector::leading_locked() const {
  return m_leader && m_clock.steady_now() < m_valid_until;
}

bool LeaderElector::is_leader() const {
  std::lock_guard lock(m_mutex);
  return leading_locked();
}

std::string LeaderElector::leader_name() const {
  std::lock_guard lock(m_mutex);
  if (leading_locked()) return m_options.node_name;
  return m_holder;
}

std::optional<EtcdFence> LeaderElector::fence() const {
  std::lock_guard lock(m_mutex);
  if (!leading_locked()) return std::nullopt;
  return EtcdFence{m_key, m_create_revision};
}

bool LeaderElector::etcd_reachable() const {
  std::lock_guard lock(m_mutex);
  return m_reachable;
}

std::string LeaderElector::last_error() const {
  std::lock_guard lock(m_mutex);
  return m_last_error;
}

util::Result<bool, std::string> LeaderElector::step() {
  bool leader;
  {
    std::lock_guard lock(m_mutex);
    if (m_leader && m_clock.steady_now() >= m_valid_until) {
      // The lease may have expired in etcd: this leadership is over (unless etcd still holds
      // the key with this lease: see campaign()).
      m_lapsed_lease = m_lease;
      m_lapsed_create_revision = m_create_revision;
      m_leader = false;
      m_lease = 0;
      m_holder.clear();
    }
    leader = m_leader;
  }
  auto r = leader ? renew() : campaign();
  std::lock_guard lock(m_mutex);
  m_reachable = r.ok();
  m_last_error = r ? "" : r.error();
  if (!r) return r;
  return leading_locked();
}

util::Result<std::int64_t, std::string> LeaderElector::keep_alive(std::int64_t lease) {
  auto j = parse(
      m_client->call("/v3/lease/keepalive", nlohmann::json{{"ID", std::to_string(lease)}}.dump()));
  if (!j) return util::Err(j.error());
  const auto& result = j->contains("result") ? (*j)["result"] : *j;
  return etcd_int64(result, "TTL");
}

util::Result<bool, std::string> LeaderElector::renew() {
  std::int64_t lease;
  {
    std::lock_guard lock(m_mutex);
    lease = m_lease;
  }
  const auto sent = m_clock.steady_now();
  auto kept = keep_alive(lease);
  if (!kept) return util::Err(kept.error());
  const std::int64_t ttl = *kept;
  std::lock_guard lock(m_mutex);
  if (m_lease != lease) return leading_locked();  // resigned meanwhile
  if (ttl <= 0) {
    // The lease is gone in etcd (expired or revoked): so is the key.
    m_leader = false;
    m_lease = 0;
    m_holder.clear();
    return false;
  }
  m_valid_until = sent + std::chrono::seconds(ttl);
  return true;
}

util::Result<bool, std::string> LeaderElector::campaign() {
  auto current = m_client->get(m_key);
  if (!current) return util::Err(current.error().message);
  if (current->has_value()) {
    const EtcdKeyValue& kv = **current;
    std::int64_t lapsed, lapsed_revision;
    {
      std::lock_guard lock(m_mutex);
      m_holder = kv.value;
      lapsed = m_lapsed_lease;
      lapsed_revision = m_lapsed_create_revision;
    }
    if (kv.lease != 0 && kv.lease == lapsed && kv.create_revision == lapsed_revision) {
      // Still our key: renew the lease and lead on with the same fence.
      const auto sent = m_clock.steady_now();
      auto kept = keep_alive(kv.lease);
      if (!kept) return util::Err(kept.error());
      const std::int64_t ttl = *kept;
      std::lock_guard lock(m_mutex);
      m_lapsed_lease = 0;
      if (ttl <= 0) return false;  // it ended meanwhile: the key goes with it
      m_leader = true;
      m_lease = kv.lease;
      m_create_revision = kv.create_revision;
      m_valid_until = sent + std::chrono::seconds(ttl);
      m_holder = m_options.node_name;
      spdlog::info("leadership: lease {} still held in etcd; leading again", kv.lease);
      return true;
    }
    if (kv.value == m_options.node_name) {
      std::lock_guard lock(m_mutex);
      if (m_warned_same_name_lease != kv.lease) {
        m_warned_same_name_lease = kv.lease;
        spdlog::warn(
            "leadership: the leader key names this node ('{}') but another lease holds it: "
            "another node with the same node_name, or this node's previous run whose lease has "
            "not ended yet",
            kv.value);
      }
    }
    return false;
  }
  // The key is absent: grant a lease and create the key with it, if still absent.
  const auto ttl_seconds = std::chrono::duration_cast<std::chrono::seconds>(m_options.ttl).count();
  const auto sent = m_clock.steady_now();
  auto grant = parse(m_client->call("/v3/lease/grant",
                                    nlohmann::json{{"TTL", std::to_string(ttl_seconds)}}.dump()));
  if (!grant) return util::Err(grant.error());
  const std::int64_t lease = etcd_int64(*grant, "ID");
  const std::int64_t granted = etcd_int64(*grant, "TTL");
  if (lease == 0 || granted <= 0) return util::Err(std::string("etcd: lease grant without an ID"));

  const std::string key64 = util::base64_encode(m_key);
  nlohmann::json txn = {
      {"compare", nlohmann::json::array({{{"key", key64},
                                          {"result", "EQUAL"},
                                          {"target", "CREATE"},
                                          {"create_revision", "0"}}})},
      {"success", nlohmann::json::array({{{"request_put",
                                           {{"key", key64},
                                            {"value", util::base64_encode(m_options.node_name)},
                                            {"lease", std::to_string(lease)}}}}})},
      {"failure", nlohmann::json::array({{{"request_range", {{"key", key64}}}}})}};
  auto answer = parse(m_client->call("/v3/kv/txn", txn.dump()));
  if (!answer) {
    (void)m_client->call("/v3/lease/revoke", nlohmann::json{{"ID", std::to_string(lease)}}.dump());
    return util::Err(answer.error());
  }
  if (answer->value("succeeded", false)) {
    std::lock_guard lock(m_mutex);
    m_leader = true;
    m_lease = lease;
    m_create_revision =
        answer->contains("header") ? etcd_int64((*answer)["header"], "revision") : 0;
    m_valid_until = sent + std::chrono::seconds(granted);
    m_holder = m_options.node_name;
    return true;
  }
  // Another node was faster.
  (void)m_client->call("/v3/lease/revoke", nlohmann::json{{"ID", std::to_string(lease)}}.dump());
  std::string holder;
  const auto& responses = (*answer)["responses"];
  if (responses.is_array() && !responses.empty() && responses[0].contains("response_range")) {
    const auto& kvs = responses[0]["response_range"]["kvs"];
    if (kvs.is_array() && !kvs.empty()) {
      auto v = util::base64_decode(kvs[0].value("value", ""));
      if (v) holder = *v;
    }
  }
  std::lock_guard lock(m_mutex);
  m_holder = holder;
  return false;
}

util::Result<void, std::string> LeaderElector::resign() {
  std::int64_t lease;
  {
    std::lock_guard lock(m_mutex);
    lease = m_lease;
    m_leader = false;
    m_lease = 0;
    m_holder.clear();
    m_lapsed_lease = 0;
  }
  if (lease == 0) return {};
  auto r = m_client->call("/v3/lease/revoke", nlohmann::json{{"ID", std::to_string(lease)}}.dump());
  if (!r) return util::Err(r.error().message);
  return {};
}

void LeaderElector::start(std::function<void(bool leader)> on_change) {
  stop();
  {
    std::lock_guard lock(m_thread_mutex);
    m_stop = false;
    m_on_change = std::move(on_change);
  }
  m_thread = std::thread([this] { loop(); });
}

void LeaderElector::stop() {
  {
    std::lock_guard lock(m_thread_mutex);
    m_stop = true;
  }
  m_cv.notify_all();
  if (m_thread.joinable()) m_thread.join();
}

void LeaderElector::loop() {
  std::unique_lock lock(m_thread_mutex);
  while (!m_stop) {
    lock.unlock();
    (void)step();
    bool leader = is_leader();
    const bool reachable = etcd_reachable();
    lock.lock();
    if (reachable != m_reported_reachable) {
      m_reported_reachable = reachable;
      if (reachable)
        spdlog::info("etcd reachable again");
      else
        spdlog::warn("etcd unreachable: {}", last_error());
    }
    if (leader != m_reported_leader) {
      m_reported_leader = leader;
      if (m_on_change) {
        lock.unlock();
        m_on_change(leader);
        lock.lock();
      }
    }
    // Wake at the next round, or earlier when the lease deadline falls before it.
    auto wait = interval();
    if (leader) {
      std::lock_guard state_lock(m_mutex);
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(m_valid_until -
                                                                        m_clock.steady_now());
      if (left < wait) wait = std::max(left, std::chrono::milliseconds(1));
    }
    m_cv.wait_for(lock, wait, [this] { return m_stop; });
  }
}

util::Result<std::unique_ptr<LeaderElector>, std::string> acquire_shell_lock(
    std::shared_ptr<EtcdClient> client, LeaderOptions options, util::Clock& clock) {
  auto elector = std::make_unique<LeaderElector>(std::move(client), std::move(options), clock);
  auto r = elector->step();
  if (!r) return util::Err("cannot take the etcd lock: " + r.error());
  if (!*r) {
    std::string holder = elector->leader_name();
    return util::Err("state in etcd is locked by " +
                     (holder.empty() ? std::string("another node") : "'" + holder + "'") +
                     " (the leader); try again later");
  }
  elector->start();
  return elector;
}

}  // namespace state
