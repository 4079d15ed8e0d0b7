// plan, apply, adopt, forget: the one-shot reconcile commands.
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <optional>
#include <string>

#include "cli/apply_progress.hpp"
#include "cli/commands.hpp"
#include "cli/context.hpp"
#include "reconcile/apply.hpp"
#include "reconcile/diff.hpp"
#include "reconcile/observe.hpp"
#include "reconcile/render.hpp"
#include "state/file_store.hpp"
#include "util/time_format.hpp"

namespace cli {

namespace {

void print_plan(const reconcile::Plan& plan, const std::string& output, const util::EnvLookup& env,
                bool no_color) {
  if (output == "json") {
    std::cout << reconcile::render_json_string(plan);
  } else if (output == "markdown") {
    std::cout << reconcile::render_markdown(plan);
  } else {
    reconcile::RenderOptions ro;
    ro.color = ::isatty(STDOUT_FILENO) && !env("NO_COLOR").has_value() && !no_color;
    std::cout << reconcile::render_text(plan, ro);
  }
  std::cout.flush();
}

// Observes what the manifest and `state` name and diffs the manifest against it. A state that
// records no instance makes the plan say that ownership is unknown. `token_rejected` gets the
// HTTP status when the API refused the token (then the plan is empty).
reconcile::Plan make_plan(const Context& ctx, const state::State& state, int& token_rejected) {
  auto observed =
      reconcile::observe(*ctx.client, reconcile::namespaces_to_observe(ctx.manifest, state),
                         ctx.settings.config.concurrency, state);
  token_rejected = observed.token_rejected;
  auto plan = reconcile::diff(ctx.manifest, observed, state, ctx.diff_options());
  plan.ownership_unknown = state.owned.empty();
  plan.state_location = ctx.store->describe();
  return plan;
}

// Said once (not per namespace): nothing can be planned with a token the API refuses.
int token_rejected(const char* command, int status) {
  std::cerr << "aisearchd " << command << ": the API token was rejected (HTTP " << status
            << "): check CLOUDFLARE_API_TOKEN (or api_token_file) and that the token may read AI "
               "Search in this account (edit, for apply)\n";
  return k_exit_error;
}

// --require-state: a state that records no instance is an error (a CI plan without the
// daemon's state would hide every delete). Prints why; true when the command may go on.
bool state_required_and_present(const Options& options, const Context& ctx,
                                const state::State& state, const char* command) {
  if (!options.require_state || !state.owned.empty()) return true;
  std::cerr << "aisearchd " << command << ": --require-state: the state at "
            << ctx.store->describe()
            << " records no instance (missing or empty), so ownership is unknown and deletes "
               "cannot be planned; point --state-dir (or the etcd backend) at the daemon's "
               "state\n";
  return false;
}

// adopt and forget: under the state lock, load state, let `change` edit it, save it when
// `change` asks to, and print `done` (the command's own result line) once saved. `change` prints
// its own messages and returns the exit code; it returns nullopt to have state saved.
template <typename Change>
int edit_state(Context& ctx, const char* command, Change change) {
  auto lock = ctx.lock_state();
  if (!lock) return k_exit_error;
  auto state = ctx.load_state();
  if (!state) return k_exit_error;
  std::string done;
  if (std::optional<int> code = change(*state, done)) return *code;
  auto saved = ctx.store->save(*state);
  if (!saved) {
    std::cerr << "aisearchd " << command << ": " << saved.error() << "\n";
    return k_exit_error;
  }
  std::cout << done << "\n";
  return k_exit_ok;
}

}  // namespace

int cmd_plan(const Options& options) {
  Context ctx;
  if (!ctx.init(options, "warn") || !ctx.load_manifest() || !ctx.connect()) return k_exit_error;
  auto state = ctx.load_state();
  if (!state) return k_exit_error;
  if (!state_required_and_present(options, ctx, *state, "plan")) return k_exit_error;
  int rejected = 0;
  auto plan = make_plan(ctx, *state, rejected);
  if (rejected) return token_rejected("plan", rejected);
  print_plan(plan, options.output, ctx.env, options.no_color);
  if (!plan.skipped_namespaces.empty()) {
    std::cerr << "aisearchd: the plan is partial: " << plan.skipped_namespaces.size()
              << " namespace(s) could not be listed\n";
    return k_exit_error;
  }
  if (options.detailed_exitcode && plan.has_differences()) return k_exit_changes;
  return k_exit_ok;
}

int cmd_apply(const Options& options) {
  if (options.dry_run) return cmd_plan(options);
  Context ctx;
  if (!ctx.init(options, "info") || !ctx.load_manifest() || !ctx.connect()) return k_exit_error;
  auto lock = ctx.lock_state();
  if (!lock) return k_exit_error;
  auto state = ctx.load_state();
  if (!state) return k_exit_error;
  if (!state_required_and_present(options, ctx, *state, "apply")) return k_exit_error;
  int rejected = 0;
  auto plan = make_plan(ctx, *state, rejected);
  if (rejected) return token_rejected("apply", rejected);
  if (options.output == "text") print_plan(plan, "text", ctx.env, options.no_color);
  state::StateWriter writer(*ctx.store, std::move(*state));
  reconcile::ApplyOptions ao;
  ao.concurrency = ctx.settings.config.concurrency;
  // Progress as the actions finish (issue 17): result lines on stdout, a counter on stderr.
  ApplyProgress progress(
      std::cout, std::cerr, ctx.clock, [&client = *ctx.client] { return client.budget_wait(); },
      apply_progress_options(options.output));
  progress.attach(ao);
  auto result = reconcile::apply(plan, ctx.manifest, *ctx.client, writer, ctx.clock, ao);
  if (options.output == "json") {
    nlohmann::json j = result.to_json();
    j["plan"] = reconcile::render_json(plan);
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << "\n" << result.to_text();
  }
  if (!result.ok() || !plan.skipped_namespaces.empty()) return k_exit_error;
  if (result.blocked > 0) return k_exit_blocked;
  return k_exit_ok;
}

int cmd_adopt(const Options& options) {
  std::string ns, id;
  if (!parse_address(options.args, "adopt", ns, id)) return k_exit_error;
  Context ctx;
  if (!ctx.init(options, "warn")) return k_exit_error;
  ctx.load_manifest_optional();
  // Adopting what the manifest does not declare in a namespace that prunes makes it the next
  // apply's delete: refused unless --force says that is what is meant. A manifest that is there
  // but does not load leaves that unchecked: refused too.
  std::error_code ec;
  if (!ctx.have_manifest && !ctx.settings.manifest_path.empty() &&
      std::filesystem::exists(ctx.settings.manifest_path, ec) && !options.force) {
    std::cerr << "aisearchd adopt: the manifest " << ctx.settings.manifest_path
              << " does not load, so whether the next apply would delete " << ns << "/" << id
              << " (prune) cannot be checked; fix it (aisearchd validate) or pass --force\n";
    return k_exit_error;
  }
  if (ctx.have_manifest) {
    auto n = ctx.manifest.namespaces.find(ns);
    if (n != ctx.manifest.namespaces.end() && n->second.prune &&
        n->second.instances.count(id) == 0) {
      if (!options.force) {
        std::cerr << "aisearchd adopt: " << ns << "/" << id
                  << " is not in the manifest and namespace " << ns
                  << " has prune: true: the next apply would delete it. Declare it in the "
                     "manifest first, or pass --force to adopt it anyway.\n";
        return k_exit_error;
      }
      std::cerr << "aisearchd adopt: warning: " << ns << "/" << id
                << " is not in the manifest and namespace " << ns
                << " has prune: true: the next apply deletes it\n";
    }
  }
  if (!ctx.connect()) return k_exit_error;
  auto adopt = [&](state::State& state, std::string& done) -> std::optional<int> {
    auto remote = ctx.client->get_instance(ns, id);
    if (!remote) {
      std::cerr << "aisearchd adopt: " << ns << "/" << id << ": " << remote.error().describe()
                << "\n";
      return k_exit_error;
    }
    std::string address = ns + "/" + id;
    auto known = state.owned.find(address);
    if (known != state.owned.end() && known->second.pending_create) {
      // A create never confirmed: adopting says the instance there is ours, whatever it is.
      known->second.pending_create = false;
      done = "adopted " + address + " (its create had never been confirmed; no remote change)";
      return std::nullopt;
    }
    if (known != state.owned.end()) {
      std::cout << address << " is already owned\n";
      return k_exit_ok;
    }
    auto& owned = state.owned[address];
    owned.ns = ns;
    owned.id = id;
    owned.adopted_at = util::format_rfc3339(ctx.clock.now());
    done = "adopted " + address + " (no remote change)";
    return std::nullopt;
  };
  return edit_state(ctx, "adopt", adopt);
}

int cmd_forget(const Options& options) {
  std::string ns, id;
  if (!parse_address(options.args, "forget", ns, id)) return k_exit_error;
  Context ctx;
  if (!ctx.init(options, "warn")) return k_exit_error;
  auto forget = [&](state::State& state, std::string& done) -> std::optional<int> {
    std::string address = ns + "/" + id;
    if (!state.owns(ns, id)) {
      std::cerr << "aisearchd forget: " << address << " is not owned\n";
      return k_exit_error;
    }
    state.owned.erase(address);
    state.sync.erase(address);
    done = "forgot " + address + " (nothing remote was deleted)";
    return std::nullopt;
  };
  return edit_state(ctx, "forget", forget);
}

}  // namespace cli
