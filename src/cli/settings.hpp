#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "api/client.hpp"
#include "cli/options.hpp"
#include "manifest/config.hpp"
#include "manifest/model.hpp"
#include "util/env_expand.hpp"
#include "util/result.hpp"

namespace cli {

// Options merged over the config file over the environment over the defaults: what every
// command runs with ("the flag wins").
struct Settings {
  manifest::DaemonConfig config;      // with the flags written over it
  std::string manifest_path;          // "" = none given
  bool manifest_from_config = false;  // manifest_path is the config file's `manifest:`
  std::string account_id;             // "" = none given
  std::string state_dir;
  bool dry_run = false;
};

// Reads the config file (the default path is optional, a named one is not) and applies the flags
// and environment fallbacks ($CLOUDFLARE_ACCOUNT_ID, $STATE_DIRECTORY). Errors are printable lines.
util::Result<Settings, std::vector<std::string>> resolve_settings(const Options& options,
                                                                  const util::EnvLookup& env);

// Loads the manifest named by the settings; errors are printable lines ("file:line:column: ...").
util::Result<manifest::Manifest, std::vector<std::string>> load_manifest(
    const Settings& settings, const util::EnvLookup& env);

// The account id: the flag / config / $CLOUDFLARE_ACCOUNT_ID, else the manifest's.
std::string account_id(const Settings& settings, const manifest::Manifest* manifest);

// A client for the API with the token resolved and the config checked (http only on loopback).
util::Result<std::shared_ptr<api::Client>, std::string> make_client(const Settings& settings,
                                                                    const std::string& account,
                                                                    const util::EnvLookup& env);

// Sets up spdlog: stderr, level, text or json, no timestamps under journald ($JOURNAL_STREAM).
void setup_logging(const std::string& level, const std::string& format, const util::EnvLookup& env);

}  // namespace cli
