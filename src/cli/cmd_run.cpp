// run: the long-running daemon (PRODUCT.md §8).
#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "cli/commands.hpp"
#include "cli/context.hpp"
#include "daemon/daemon.hpp"
#include "daemon/log_format.hpp"
#include "daemon/notify.hpp"
#include "daemon/signals.hpp"
#include "util/files.hpp"

namespace cli {

int cmd_run(const Options& options) {
  // Before any thread exists, so every thread inherits the mask and only the signal thread
  // (sigwait) ever sees SIGTERM / SIGINT / SIGHUP.
  service::block_daemon_signals();
  // One malloc arena: a long-running process with a dozen mostly idle threads otherwise keeps
  // one arena (and its freed pages) per thread, and malloc_trim cannot shrink the top of any
  // arena but the main one. The daemon waits on the network, not on malloc
  // (bench/idle_daemon.sh: 46 MiB RSS with an arena per thread, ~21 with 2, ~20 with 1).
  ::mallopt(M_ARENA_MAX, 1);
  Context ctx;
  if (!ctx.init(options, "info")) return k_exit_error;
  if (ctx.settings.config.log_format == "json")
    service::use_json_log_format(ctx.env("JOURNAL_STREAM").has_value());
  if (!ctx.load_manifest() || !ctx.connect()) return k_exit_error;
  const bool observe =
      options.dry_run || ctx.settings.config.mode == manifest::DaemonConfig::Mode::observe;
  // With etcd the daemon takes the etcd lock as an elected leader, not up front: a second node
  // starts as a standby.
  auto lock = ctx.lock_state(/*etcd_too=*/ctx.etcd == nullptr);
  if (!lock) return k_exit_error;
  std::optional<state::State> state;
  if (ctx.etcd) {
    // Re-read when elected (and each standby cycle); etcd may be down at start.
    auto loaded = ctx.store->load();
    if (!loaded)
      spdlog::warn("state: {} not readable yet ({}); it is read again before any write",
                   ctx.store->describe(), loaded.error());
    state = loaded ? std::move(*loaded) : state::State{};
  } else {
    state = ctx.load_state();
    if (!state) return k_exit_error;
  }

  service::DaemonOptions o;
  o.config = ctx.settings.config;
  o.manifest_path = ctx.settings.manifest_path;
  o.observe = observe;
  o.env = ctx.env;
  if (o.config.node_name && !o.config.node_name->empty()) {
    o.node_name = *o.config.node_name;
  } else {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) == 0) o.node_name = host;
  }
  // Declared before the daemon, which uses it until it is destroyed.
  std::unique_ptr<state::LeaderElector> elector;
  if (ctx.etcd && !observe) {
    state::LeaderOptions lo;
    lo.node_name = o.node_name;
    lo.ttl = ctx.settings.config.state_backend.lease_ttl;
    elector = std::make_unique<state::LeaderElector>(ctx.etcd, lo, ctx.clock);
    if (auto* es = dynamic_cast<state::EtcdStateStore*>(ctx.store.get())) {
      state::LeaderElector* e = elector.get();
      es->set_fence([e] { return e->fence(); });
    }
    o.elector = elector.get();
  }
  o.etcd = ctx.etcd;
  auto notifier = service::make_systemd_notifier();
  service::Daemon daemon(std::move(o), std::move(ctx.manifest), ctx.client, *ctx.store,
                         std::move(*state), ctx.clock, *notifier);
  // SIGHUP reloads the manifest; the daemon config is read once. Say so when it changed.
  const std::string config_path = options.config.value_or(manifest::k_default_config_path);
  const auto config_text = util::read_file(config_path);
  service::SignalThread signals([&daemon, &config_path, &config_text](int signo) {
    if (signo == SIGHUP) {
      if (auto now = util::read_file(config_path);
          now.ok() != config_text.ok() || (now.ok() && *now != *config_text))
        spdlog::warn(
            "{} changed: the daemon config is read at start only; restart to apply it "
            "(SIGHUP reloads the manifest)",
            config_path);
      daemon.request_reload("SIGHUP");
    } else {
      spdlog::info("received {}: stopping", signo == SIGTERM ? "SIGTERM" : "SIGINT");
      daemon.request_stop();
    }
  });
  return daemon.run();
}

}  // namespace cli
