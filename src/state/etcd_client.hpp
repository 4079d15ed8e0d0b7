#pragma once

// The etcd v3 JSON gateway client the etcd state backend and leader election use.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "http/transport.hpp"
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

// What went wrong talking to etcd, as a kind decided from the transport and the gateway's gRPC
// code (never from its text), and a message naming the endpoint.
struct EtcdError {
  enum class Kind {
    unreachable,  // no answer from any endpoint, or 503 (no leader) from all of them
    auth,         // authentication failed or was refused (gRPC 16 Unauthenticated, 7
                  // PermissionDenied; HTTP 401/403)
    conflict,     // a compare-and-swap found the key changed (the store's lost update)
    fenced,       // a write found the leader key held by another node or gone
    bad_answer,   // an answer that is not the gateway's JSON
    refused,      // any other gRPC error (a bad request, a key too large, ...)
  };
  Kind kind = Kind::unreachable;
  std::string message;
};
const char* to_string(EtcdError::Kind kind);

// A small client for etcd's v3 JSON gateway (/v3/kv/range, /v3/kv/txn, /v3/lease/*, auth):
// keys and values are base64 on the wire, 64-bit numbers are strings. Tries the endpoints in
// order, starting with the last one that answered. Thread-safe.
class EtcdClient {
 public:
  EtcdClient(EtcdOptions options, std::shared_ptr<http::Transport> transport);

  // POSTs `body` (a JSON text) to `path` ("/v3/kv/range") and returns the answer's JSON text.
  // Fails with a message naming the endpoint (transport error, non-200 status, gRPC error).
  // An expired or invalid auth token (gRPC 16) is dropped, so the next call authenticates again.
  util::Result<std::string, EtcdError> call(const std::string& path, const std::string& body);

  // The key `name` under the prefix ("state" -> "/aisearchd/state").
  std::string key(std::string_view name) const;

  // Reads one key; nullopt when absent.
  util::Result<std::optional<EtcdKeyValue>, EtcdError> get(const std::string& key);

  const EtcdOptions& options() const { return m_options; }
  // Requests sent so far (each endpoint tried counts; authentication not included).
  std::uint64_t requests() const { return m_requests.load(std::memory_order_relaxed); }

 private:
  util::Result<std::string, EtcdError> authenticate(const std::string& endpoint);

  EtcdOptions m_options;
  std::shared_ptr<http::Transport> m_transport;
  std::mutex m_mutex;
  std::size_t m_current = 0;  // index of the endpoint to try first
  std::string m_token;        // auth token, "" = none yet
  std::atomic<std::uint64_t> m_requests{0};
};

// The 64-bit integer field `name` of an etcd JSON answer (the gateway sends them as strings);
// 0 when absent or not a number.
std::int64_t etcd_int64(const nlohmann::json& j, const char* name);

// The first key of a range answer (or of a txn's response_range); nullopt when it has none.
util::Result<std::optional<EtcdKeyValue>, std::string> etcd_first_kv(const nlohmann::json& range);

}  // namespace state
