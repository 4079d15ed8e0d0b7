#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "state/etcd_store.hpp"
#include "state/state.hpp"
#include "util/result.hpp"

namespace state {

// Where state lives, as plain data (the caller converts the daemon config's `state_backend`).
struct BackendConfig {
  enum class Type { file, etcd };
  Type type = Type::file;
  std::string state_dir;  // file: state_dir/state.json
  std::vector<std::string> endpoints = {"http://127.0.0.1:2379"};
  std::string prefix = "/aisearchd/";
  std::chrono::milliseconds lease_ttl{std::chrono::seconds(15)};
  std::string ca_file, cert_file, key_file;  // "" = unset
  std::string username;                      // "" = no auth
  std::string password_file;                 // read once, trailing newline dropped
  std::string user_agent = "aisearchd";
};

// An etcd client over the libcurl transport with the config's TLS files and credentials.
// Fails when the password file cannot be read.
util::Result<std::shared_ptr<EtcdClient>, std::string> make_etcd_client(
    const BackendConfig& config);

// The store for `config`: FileStateStore or EtcdStateStore (over `etcd` when given, else a new
// client). Nothing is contacted yet.
util::Result<std::unique_ptr<StateStore>, std::string> make_state_store(
    const BackendConfig& config, std::shared_ptr<EtcdClient> etcd = nullptr);

}  // namespace state
