#include "cli/context.hpp"

#include <unistd.h>

#include <iostream>

#include "aisearchd_version.hpp"

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
  auto backend = backend_config();
  if (backend.type == state::BackendConfig::Type::etcd) {
    auto client = state::make_etcd_client(backend);
    if (!client) {
      std::cerr << "aisearchd: " << client.error() << "\n";
      return false;
    }
    etcd = std::move(*client);
  }
  auto made = state::make_state_store(backend, etcd);
  if (!made) {
    std::cerr << "aisearchd: " << made.error() << "\n";
    return false;
  }
  store = std::move(*made);
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

std::unique_ptr<state::StateLock> Context::lock_state(bool etcd_too) {
  auto lock = state::StateLock::acquire(settings.state_dir);
  if (!lock) {
    std::cerr << "aisearchd: " << lock.error() << "\n";
    return nullptr;
  }
  if (etcd && etcd_too) {
    state::LeaderOptions lo;
    lo.node_name = node_name() + " (aisearchd pid " + std::to_string(::getpid()) + ")";
    lo.ttl = settings.config.state_backend.lease_ttl;
    auto held = state::acquire_shell_lock(etcd, lo, clock);
    if (!held) {
      std::cerr << "aisearchd: " << held.error() << "\n";
      return nullptr;
    }
    etcd_lock = std::move(*held);
    if (auto* es = dynamic_cast<state::EtcdStateStore*>(store.get())) {
      state::LeaderElector* elector = etcd_lock.get();
      es->set_fence([elector] { return elector->fence(); });
    }
  }
  return std::move(*lock);
}

state::BackendConfig Context::backend_config() const {
  const auto& c = settings.config.state_backend;
  state::BackendConfig b;
  b.type = c.type == manifest::StateBackendConfig::Type::etcd ? state::BackendConfig::Type::etcd
                                                              : state::BackendConfig::Type::file;
  b.state_dir = settings.state_dir;
  b.endpoints = c.endpoints;
  b.prefix = c.prefix;
  b.lease_ttl = c.lease_ttl;
  b.ca_file = c.ca_file;
  b.cert_file = c.cert_file;
  b.key_file = c.key_file;
  b.username = c.username;
  b.password_file = c.password_file;
  b.user_agent = std::string("aisearchd/") + util::k_version;
  return b;
}

std::string Context::node_name() const {
  if (settings.config.node_name && !settings.config.node_name->empty())
    return *settings.config.node_name;
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0) return host;
  return "unknown";
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

int report_token_rejected(const char* command, int status) {
  std::cerr << "aisearchd " << command << ": the API token was rejected (HTTP " << status
            << "): check CLOUDFLARE_API_TOKEN (or api_token_file) and that the token may read AI "
               "Search in this account (edit, for apply)\n";
  return k_exit_error;
}

bool parse_address(const std::vector<std::string>& args, const char* command, std::string& ns,
                   std::string& id) {
  if (args.size() != 1) {
    std::cerr << "aisearchd " << command << ": expected one NAMESPACE/ID argument\n";
    return false;
  }
  // Always both: a bare id is an error, not a guess at the namespace (`adopt docs` should not
  // adopt default/docs when team-a/docs was meant).
  auto slash = args[0].find('/');
  ns = slash == std::string::npos ? "" : args[0].substr(0, slash);
  id = slash == std::string::npos ? "" : args[0].substr(slash + 1);
  if (ns.empty() || id.empty() || id.find('/') != std::string::npos) {
    // The hint names the id when there is one to name ("docs" -> default/docs).
    const bool bare = slash == std::string::npos && !args[0].empty();
    std::cerr << "aisearchd " << command << ": \"" << args[0]
              << "\" is not NAMESPACE/ID (e.g. default/" << (bare ? args[0] : std::string("docs"))
              << ")\n";
    return false;
  }
  return true;
}

}  // namespace cli
