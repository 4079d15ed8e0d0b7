#pragma once

#include <memory>
#include <optional>
#include <string>

#include "api/client.hpp"
#include "cli/options.hpp"
#include "cli/settings.hpp"
#include "manifest/model.hpp"
#include "reconcile/diff.hpp"
#include "state/file_store.hpp"
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

  // Settings and logging; `default_level` unless the flag or the config sets one.
  bool init(const Options& options, const char* default_level);
  bool load_manifest();
  void load_manifest_optional();  // for commands that can do without one
  bool connect();                 // builds the client (token, account, URL checks)
  std::unique_ptr<state::StateLock> lock_state();
  std::optional<state::State> load_state();
  reconcile::DiffOptions diff_options() const;
};

}  // namespace cli
