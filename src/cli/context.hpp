#pragma once

#include <memory>
#include <optional>
#include <string>

#include "api/client.hpp"
#include "cli/options.hpp"
#include "cli/settings.hpp"
#include "manifest/model.hpp"
#include "reconcile/diff.hpp"
#include "state/backend.hpp"
#include "state/file_store.hpp"
#include "state/leader.hpp"
#include "state/state.hpp"
#include "util/clock.hpp"
#include "util/env_expand.hpp"

namespace cli {

// What a one-shot command works with. Each step prints its own error to stderr and returns
// false / nullopt, so a command reads as a chain of steps.
struct Context {
  util::EnvLookup env = util::process_env();
  util::SystemClock clock;
  Settings settings;
  manifest::Manifest manifest;
  bool have_manifest = false;
  std::shared_ptr<api::Client> client;
  std::unique_ptr<state::StateStore> store;
  std::shared_ptr<state::EtcdClient> etcd;          // set with state_backend type etcd
  std::unique_ptr<state::LeaderElector> etcd_lock;  // held by lock_state() on etcd

  // Settings and logging; `default_level` unless the flag or the config sets one.
  bool init(const Options& options, const char* default_level);
  bool load_manifest();
  void load_manifest_optional();  // for commands that can do without one
  bool connect();                 // builds the client (token, account, URL checks)
  // The local lock on state_dir and, with the etcd backend, the etcd lock (a short leadership,
  // fencing the store's writes) unless `etcd_too` is false; null (error printed) when another
  // process or node holds it.
  std::unique_ptr<state::StateLock> lock_state(bool etcd_too = true);
  // The state backend config for `type` (the settings' own type by default).
  state::BackendConfig backend_config() const;
  // The config's node_name, else the host name.
  std::string node_name() const;
  std::optional<state::State> load_state();
  reconcile::DiffOptions diff_options() const;
};

// Says once (not per namespace) that the API refused the token (HTTP `status`) and what to
// check, naming `command`; returns k_exit_error. The token itself is never printed.
int report_token_rejected(const char* command, int status);

// Parses the one NAMESPACE/ID argument of `command` (both parts required: a bare ID is an
// error); prints what is wrong and returns false otherwise.
bool parse_address(const std::vector<std::string>& args, const char* command, std::string& ns,
                   std::string& id);

}  // namespace cli
