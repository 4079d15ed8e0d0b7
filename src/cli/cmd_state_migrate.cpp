// state migrate --to etcd|file: copies the state between the file and the etcd backend
// (PRODUCT.md §11), under both locks, with a compare-and-swap write on etcd.
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/context.hpp"
#include "state/backend.hpp"
#include "state/etcd_store.hpp"
#include "state/file_store.hpp"

namespace cli {

int cmd_state_migrate(const Options& options, Context& ctx) {
  if (!options.to || (*options.to != "etcd" && *options.to != "file")) {
    std::cerr << "aisearchd state migrate: expected --to etcd or --to file\n";
    return k_exit_error;
  }
  const bool to_etcd = *options.to == "etcd";
  // Both sides: the file in state_dir and etcd as the config's state_backend names it.
  auto backend = ctx.backend_config();
  backend.type = state::BackendConfig::Type::etcd;
  if (!ctx.etcd) {
    auto client = state::make_etcd_client(backend);
    if (!client) {
      std::cerr << "aisearchd state migrate: " << client.error() << "\n";
      return k_exit_error;
    }
    ctx.etcd = std::move(*client);
    ctx.store = std::make_unique<state::EtcdStateStore>(ctx.etcd);
  }
  auto etcd_store = dynamic_cast<state::EtcdStateStore*>(ctx.store.get());
  if (etcd_store == nullptr) {
    ctx.store = std::make_unique<state::EtcdStateStore>(ctx.etcd);
    etcd_store = dynamic_cast<state::EtcdStateStore*>(ctx.store.get());
  }
  state::FileStateStore file_store(ctx.settings.state_dir);

  auto lock = ctx.lock_state();  // the local lock and the etcd lock (fences etcd writes)
  if (!lock) return k_exit_error;

  state::StateStore& from = to_etcd ? static_cast<state::StateStore&>(file_store) : *etcd_store;
  state::StateStore& to = to_etcd ? static_cast<state::StateStore&>(*etcd_store) : file_store;
  auto source = from.load();
  if (!source) {
    std::cerr << "aisearchd state migrate: " << from.describe() << ": " << source.error() << "\n";
    return k_exit_error;
  }
  auto previous = to.load();  // also reads the revision the etcd write compares against
  if (!previous) {
    std::cerr << "aisearchd state migrate: " << to.describe() << ": " << previous.error() << "\n";
    return k_exit_error;
  }
  auto saved = to.save(*source);
  if (!saved) {
    std::cerr << "aisearchd state migrate: " << saved.error() << "\n";
    return k_exit_error;
  }
  const bool replaced = !previous->owned.empty() || !previous->sync.empty();
  std::cout << "migrated state (" << source->owned.size() << " owned, " << source->sync.size()
            << " with sync history) from " << from.describe() << " to " << to.describe()
            << (replaced ? " (its previous content was replaced)" : "") << "\n";
  return k_exit_ok;
}

}  // namespace cli
