#include "cli/context.hpp"

#include <iostream>

namespace cli {

bool Context::init(const Options& options, const char* default_level) {
  auto s = resolve_settings(options, env);
  if (!s) {
    for (const auto& line : s.error()) std::cerr << line << "\n";
    return false;
  }
  settings = std::move(*s);
  std::string level = settings.config.keys_given.count("log_level") || options.log_level
                          ? settings.config.log_level
                          : default_level;
  setup_logging(level, settings.config.log_format, env);
  store = std::make_unique<state::FileStateStore>(settings.state_dir);
  return true;
}

bool Context::load_manifest() {
  auto m = cli::load_manifest(settings, env);
  if (!m) {
    for (const auto& line : m.error()) std::cerr << line << "\n";
    return false;
  }
  manifest = std::move(*m);
  have_manifest = true;
  return true;
}

void Context::load_manifest_optional() {
  if (settings.manifest_path.empty()) return;
  auto m = cli::load_manifest(settings, env);
  if (m) {
    manifest = std::move(*m);
    have_manifest = true;
  }
}

bool Context::connect() {
  auto c = make_client(settings, account_id(settings, have_manifest ? &manifest : nullptr), env);
  if (!c) {
    std::cerr << "aisearchd: " << c.error() << "\n";
    return false;
  }
  client = std::move(*c);
  return true;
}

std::unique_ptr<state::StateLock> Context::lock_state() {
  auto lock = state::StateLock::acquire(settings.state_dir);
  if (!lock) {
    std::cerr << "aisearchd: " << lock.error() << "\n";
    return nullptr;
  }
  return std::move(*lock);
}

std::optional<state::State> Context::load_state() {
  auto s = store->load();
  if (!s) {
    std::cerr << "aisearchd: state: " << s.error() << "\n";
    return std::nullopt;
  }
  return std::move(*s);
}

reconcile::DiffOptions Context::diff_options() const {
  reconcile::DiffOptions d;
  d.correct_drift = settings.config.drift == manifest::DaemonConfig::Drift::correct;
  return d;
}

}  // namespace cli
