#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "api/transport.hpp"
#include "state/state.hpp"
#include "util/result.hpp"

namespace state {

// How to reach etcd (PRODUCT.md §11). The caller reads the password file; TLS files go to the
// transport it builds.
struct EtcdOptions {
  std::vector<std::string> endpoints = {"http://127.0.0.1:2379"};
  std::string prefix = "/aisearchd/";  // every key under it
  std::string username;                // "" = no auth
  std::string password;
  std::chrono::milliseconds request_timeout{5'000};
};

// One key as etcd reports it.
struct EtcdKeyValue {
  std::string key, value;
  std::int64_t create_revision = 0;
  std::int64_t mod_revision = 0;
  std::int64_t lease = 0;
};

// A small client for etcd's v3 JSON gateway (/v3/kv/range, /v3/kv/txn, /v3/lease/*, auth):
// keys and values are base64 on the wire, 64-bit numbers are strings. Tries the endpoints in
// order, starting with the last one that answered. Thread-safe.
class EtcdClient {
 public:
  EtcdClient(EtcdOptions options, std::shared_ptr<api::Transport> transport);

  // POSTs `body` (a JSON text) to `path` ("/v3/kv/range") and returns the answer's JSON text.
  // Fails with a message naming the endpoint (transport error, non-200 status, gRPC error).
  util::Result<std::string, std::string> call(const std::string& path, const std::string& body);

  // The key `name` under the prefix ("state" -> "/aisearchd/state").
  std::string key(std::string_view name) const;

  // Reads one key; nullopt when absent.
  util::Result<std::optional<EtcdKeyValue>, std::string> get(const std::string& key);

  const EtcdOptions& options() const { return m_options; }
  // Requests sent so far (each endpoint tried counts; authentication not included).
  std::uint64_t requests() const { return m_requests.load(std::memory_order_relaxed); }

  static std::string base64_encode(std::string_view data);
  // Fails on characters outside the base64 alphabet.
  static util::Result<std::string, std::string> base64_decode(std::string_view text);

 private:
  util::Result<std::string, std::string> authenticate(const std::string& endpoint);

  EtcdOptions m_options;
  std::shared_ptr<api::Transport> m_transport;
  std::mutex m_mutex;
  std::size_t m_current = 0;  // index of the endpoint to try first
  std::string m_token;        // auth token, "" = none yet
  std::atomic<std::uint64_t> m_requests{0};
};

// The 64-bit integer field `name` of an etcd JSON answer (the gateway sends them as strings);
// 0 when absent or not a number.
std::int64_t etcd_int64(const nlohmann::json& j, const char* name);

// The leader key a write must still find unchanged (fencing): its create_revision is the one
// the holder's create-if-absent transaction produced.
struct EtcdFence {
  std::string key;
  std::int64_t create_revision = 0;
};

// The whole state document under `<prefix>state`. Every save is one transaction comparing the
// key's mod_revision with the one last read or written here (no lost update), and, with a fence
// source, that the leader key is still ours. A failed comparison fails the save with a message
// saying who changed what; load() again to continue from what etcd holds.
class EtcdStateStore final : public StateStore {
 public:
  // Returns the fence to check, or nullopt when this process is not the leader (saves fail).
  using FenceSource = std::function<std::optional<EtcdFence>()>;

  explicit EtcdStateStore(std::shared_ptr<EtcdClient> client, FenceSource fence = nullptr);

  util::Result<State, std::string> load() override;
  util::Result<void, std::string> save(const State& state) override;
  std::string describe() const override;

  void set_fence(FenceSource fence);
  // The mod_revision last read or written (0 = the key was absent).
  std::int64_t revision() const;

 private:
  std::shared_ptr<EtcdClient> m_client;
  mutable std::mutex m_mutex;
  FenceSource m_fence;
  std::int64_t m_revision = 0;
  bool m_loaded = false;
};

}  // namespace state
