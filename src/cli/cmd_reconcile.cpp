// plan, apply, adopt, forget: the one-shot reconcile commands.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "aisearchd_version.hpp"
#include "cli/apply_progress.hpp"
#include "cli/apply_syncs.hpp"
#include "cli/commands.hpp"
#include "cli/context.hpp"
#include "reconcile/apply.hpp"
#include "reconcile/diff.hpp"
#include "reconcile/observe.hpp"
#include "reconcile/render.hpp"
#include "reconcile/saved_plan.hpp"
#include "reconcile/target.hpp"
#include "state/file_store.hpp"
#include "util/files.hpp"
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

struct Planned {
  reconcile::Observed observed;
  reconcile::Plan plan;
};

// Observes what the manifest and `state` name and diffs the manifest against it; with targets,
// the plan is narrowed to them (reconcile/target.hpp). A state that records no instance makes
// the plan say that ownership is unknown. `token_rejected` gets the HTTP status when the API
// refused the token (then the plan is empty).
Planned make_plan(const Context& ctx, const state::State& state,
                  const std::set<std::string>& targets, int& token_rejected) {
  Planned p;
  p.observed =
      reconcile::observe(*ctx.client, reconcile::namespaces_to_observe(ctx.manifest, state),
                         ctx.settings.config.concurrency, state);
  token_rejected = p.observed.token_rejected;
  p.plan = reconcile::diff(ctx.manifest, p.observed, state, ctx.diff_options());
  if (!targets.empty()) {
    p.plan = reconcile::restrict_to_targets(std::move(p.plan), targets, ctx.manifest, state);
    std::string list;
    for (const auto& t : targets) list += (list.empty() ? "" : ", ") + t;
    p.plan.warnings.push_back("--target in effect: only " + list +
                              " (and the namespaces they need) were planned; the rest of the "
                              "manifest was not compared");
  }
  p.plan.ownership_unknown = state.owned.empty();
  p.plan.state_location = ctx.store->describe();
  return p;
}

// --target values as addresses; false (said why) when one is not NAMESPACE/ID.
bool parse_targets(const Options& options, const char* command, std::set<std::string>& out) {
  for (const auto& t : options.targets) {
    std::string ns, id;
    if (!parse_address({t}, command, ns, id)) return false;
    out.insert(ns + "/" + id);
  }
  return true;
}

// Targets that name nothing anywhere are an error (a typo would plan "No changes.").
bool targets_known(const std::set<std::string>& targets, const Context& ctx, const Planned& planned,
                   const state::State& state, const char* command) {
  auto unknown = reconcile::unknown_targets(targets, ctx.manifest, planned.observed, state);
  for (const auto& t : unknown) {
    std::cerr << "aisearchd " << command << ": --target " << t
              << " matches no instance in the manifest, the state or the remote lists\n";
  }
  return unknown.empty();
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

// What adopt or forget did, as its one result line, or with -o json as
// {"address", "result" (adopted, forgot, already_owned), "message"}.
struct StateEdit {
  std::string result;
  std::string message;
};

void print_edit(const Options& options, const std::string& address, const StateEdit& edit) {
  if (options.output == "json") {
    std::cout << nlohmann::json{{"address", address},
                                {"result", edit.result},
                                {"message", edit.message}}
                     .dump(2)
              << "\n";
  } else {
    std::cout << edit.message << "\n";
  }
}

// adopt and forget: under the state lock, load state, let `change` edit it, save it when
// `change` asks to, and print its result once saved. `change` prints its own errors and returns
// the exit code; it returns nullopt to have state saved (an empty `done.result`: nothing to
// save, print it and exit 0).
template <typename Change>
int edit_state(Context& ctx, const Options& options, const char* command,
               const std::string& address, Change change) {
  auto lock = ctx.lock_state();
  if (!lock) return k_exit_error;
  auto state = ctx.load_state();
  if (!state) return k_exit_error;
  StateEdit done;
  if (std::optional<int> code = change(*state, done)) return *code;
  if (done.result != "already_owned") {
    auto saved = ctx.store->save(*state);
    if (!saved) {
      std::cerr << "aisearchd " << command << ": " << saved.error() << "\n";
      return k_exit_error;
    }
  }
  print_edit(options, address, done);
  return k_exit_ok;
}

// How long a one-shot apply waits for its on_change triggers (a sync cooldown) to be answered.
constexpr std::chrono::milliseconds k_on_change_wait{60'000};

// plan --out FILE: the saved plan (reconcile/saved_plan.hpp), written atomically; said on
// stderr so `-o json` output stays one document.
// Where a saved plan may not go: over a file that is not a saved plan (the state, the
// manifest, anything else a typo names), or into the state directory. Says why.
bool plan_path_allowed(const std::string& path, const Context& ctx) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path target = fs::weakly_canonical(path, ec);
  const fs::path state_dir = fs::weakly_canonical(ctx.settings.state_dir, ec);
  if (!ctx.settings.state_dir.empty() && !state_dir.empty()) {
    auto rel = target.lexically_relative(state_dir);
    if (!rel.empty() && *rel.begin() != "..") {
      std::cerr << "aisearchd plan: --out " << path << " is inside the state directory "
                << ctx.settings.state_dir << ": not saved there\n";
      return false;
    }
  }
  // A file in a manifest directory becomes part of the manifest (*.yaml, *.yml are merged, and
  // the daemon watches the directory).
  const fs::path manifest = fs::weakly_canonical(ctx.settings.manifest_path, ec);
  if (!ctx.settings.manifest_path.empty() && fs::is_directory(manifest, ec)) {
    auto rel = target.lexically_relative(manifest);
    if (!rel.empty() && *rel.begin() != "..") {
      std::cerr << "aisearchd plan: --out " << path << " is inside the manifest directory "
                << ctx.settings.manifest_path << ": not saved there\n";
      return false;
    }
  }
  if (fs::exists(target, ec)) {
    if (!fs::is_regular_file(target, ec)) {
      std::cerr << "aisearchd plan: --out " << path << " exists and is not a file: not saved\n";
      return false;
    }
    std::string head(4096, '\0');
    std::ifstream in(target);
    in.read(head.data(), static_cast<std::streamsize>(head.size()));
    head.resize(static_cast<std::size_t>(in.gcount()));
    if (fs::file_size(target, ec) > 0 &&
        head.find("\"kind\": \"aisearchd-saved-plan\"") == std::string::npos) {
      std::cerr << "aisearchd plan: --out " << path
                << " exists and is not a saved plan: not overwritten (remove it, or choose "
                   "another file)\n";
      return false;
    }
  }
  return true;
}

bool save_plan(const std::string& path, const Context& ctx, const Planned& planned,
               const std::set<std::string>& targets) {
  reconcile::SavedPlanInputs in;
  in.created_at = util::format_rfc3339(ctx.clock.now());
  in.version = util::k_version;
  in.account_id = account_id(ctx.settings, &ctx.manifest);
  in.api_url = ctx.settings.config.api_url;
  in.targets = targets;
  const auto saved = reconcile::make_saved_plan(planned.plan, ctx.manifest, planned.observed, in);
  auto written = util::write_file_atomic(
      path, saved.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n", 0644);
  if (!written) {
    std::cerr << "aisearchd plan: the plan was not saved: " << written.error() << "\n";
    return false;
  }
  std::cerr << "Saved the plan to " << path << ". Apply exactly this plan with: aisearchd apply "
            << path << "\n";
  return true;
}

// apply FILE: the saved plan, checked for its shape; nullopt (said why) when it cannot be used.
std::optional<nlohmann::json> read_saved_plan(const std::string& path) {
  // A saved plan is a few KB (~1 KB per change): anything that is not a regular file, or
  // larger than any plan, is refused before it is read.
  constexpr std::uintmax_t k_max_plan_bytes = 64u << 20;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    std::cerr << "aisearchd apply: " << path << ": not a file (a plan saved with aisearchd plan "
              << "--out FILE is expected)\n";
    return std::nullopt;
  }
  if (std::filesystem::file_size(path, ec) > k_max_plan_bytes) {
    std::cerr << "aisearchd apply: " << path << ": larger than 64 MiB, not a saved plan\n";
    return std::nullopt;
  }
  auto text = util::read_file(path);
  if (!text) {
    std::cerr << "aisearchd apply: " << text.error() << "\n";
    return std::nullopt;
  }
  nlohmann::json saved = nlohmann::json::parse(*text, nullptr, false);
  if (saved.is_discarded()) {
    std::cerr << "aisearchd apply: " << path
              << ": not JSON (a plan saved with aisearchd plan "
                 "--out FILE is expected)\n";
    return std::nullopt;
  }
  const auto problems = reconcile::saved_plan_format_problems(saved);
  for (const auto& p : problems) std::cerr << "aisearchd apply: " << path << ": " << p << "\n";
  if (!problems.empty()) return std::nullopt;
  for (const auto& t : saved["targets"]) {
    std::string ns, id;
    if (!parse_address({t.get<std::string>()}, "apply", ns, id)) return std::nullopt;
  }
  return saved;
}

}  // namespace

int cmd_plan(const Options& options) {
  std::set<std::string> targets;
  if (!parse_targets(options, "plan", targets)) return k_exit_error;
  Context ctx;
  if (!ctx.init(options, "warn") || !ctx.load_manifest() || !ctx.connect()) return k_exit_error;
  if (options.out && !plan_path_allowed(*options.out, ctx)) return k_exit_error;
  auto state = ctx.load_state();
  if (!state) return k_exit_error;
  if (!state_required_and_present(options, ctx, *state, "plan")) return k_exit_error;
  int rejected = 0;
  auto planned = make_plan(ctx, *state, targets, rejected);
  if (rejected) return report_token_rejected("plan", rejected);
  if (!targets_known(targets, ctx, planned, *state, "plan")) return k_exit_error;
  const auto& plan = planned.plan;
  print_plan(plan, options.output, ctx.env, options.no_color);
  if (!plan.skipped_namespaces.empty()) {
    std::cerr << "aisearchd: the plan is partial: " << plan.skipped_namespaces.size()
              << " namespace(s) could not be listed" << (options.out ? "; it was not saved" : "")
              << "\n";
    return k_exit_error;
  }
  if (options.out && !save_plan(*options.out, ctx, planned, targets)) return k_exit_error;
  if (options.detailed_exitcode && plan.has_differences()) return k_exit_changes;
  return k_exit_ok;
}

int cmd_apply(const Options& options) {
  if (options.dry_run && !options.args.empty()) {
    std::cerr << "aisearchd apply: a saved plan is applied or not: --dry-run takes no plan file "
                 "(aisearchd plan shows what would be applied)\n";
    return k_exit_error;
  }
  if (options.dry_run) return cmd_plan(options);
  if (options.args.size() > 1) {
    std::cerr << "aisearchd apply: expected at most one saved plan file\n";
    return k_exit_error;
  }
  std::set<std::string> targets;
  if (!parse_targets(options, "apply", targets)) return k_exit_error;
  std::optional<nlohmann::json> saved;
  if (!options.args.empty()) {
    if (!targets.empty()) {
      std::cerr << "aisearchd apply: a saved plan carries its own targets: --target cannot be "
                   "given with a plan file\n";
      return k_exit_error;
    }
    saved = read_saved_plan(options.args.front());
    if (!saved) return k_exit_error;
    for (const auto& t : (*saved)["targets"]) targets.insert(t.get<std::string>());
  }
  Context ctx;
  if (!ctx.init(options, "info") || !ctx.load_manifest() || !ctx.connect()) return k_exit_error;
  auto lock = ctx.lock_state();
  if (!lock) return k_exit_error;
  auto state = ctx.load_state();
  if (!state) return k_exit_error;
  if (!state_required_and_present(options, ctx, *state, "apply")) return k_exit_error;
  int rejected = 0;
  auto planned = make_plan(ctx, *state, targets, rejected);
  if (rejected) return report_token_rejected("apply", rejected);
  if (!targets_known(targets, ctx, planned, *state, "apply")) return k_exit_error;
  const auto& plan = planned.plan;
  if (saved) {
    const auto why = reconcile::saved_plan_differences(*saved, plan, ctx.manifest, planned.observed,
                                                       account_id(ctx.settings, &ctx.manifest),
                                                       ctx.settings.config.api_url);
    if (!why.empty()) {
      std::cerr << "aisearchd apply: " << options.args.front()
                << " is not what would be applied now; nothing was applied:\n";
      for (const auto& w : why) std::cerr << "  - " << w << "\n";
      std::cerr << "Make a new plan (aisearchd plan --out FILE), review it, and apply that.\n";
      return k_exit_error;
    }
  }
  if (options.output == "text") print_plan(plan, "text", ctx.env, options.no_color);
  state::StateWriter writer(*ctx.store, std::move(*state));
  reconcile::ApplyOptions ao;
  ao.concurrency = ctx.settings.config.concurrency;
  // Instances whose change affects indexing, for their on_change runs once apply is done (the
  // callback comes from apply's workers).
  std::mutex changed_mutex;
  std::set<std::string> changed;
  ao.on_indexing_change = [&](const std::string& ns, const std::string& id) {
    std::lock_guard guard(changed_mutex);
    changed.insert(ns + "/" + id);
  };
  // Progress as the actions finish (issue 17): result lines on stdout, a counter on stderr.
  ApplyProgress progress(
      std::cout, std::cerr, ctx.clock, [&client = *ctx.client] { return client.budget_wait(); },
      apply_progress_options(options.output));
  progress.attach(ao);
  auto result = reconcile::apply(plan, ctx.manifest, *ctx.client, writer, ctx.clock, ao);
  if (targets.empty()) reconcile::save_observation(plan, writer, ctx.clock);  // for status
  // A targeted apply touches the targets only: the runs other instances hold stay held.
  const auto syncs = trigger_on_change_syncs(changed, ctx.manifest, *ctx.client, ctx.clock, writer,
                                             k_on_change_wait, /*resume_recorded=*/targets.empty());
  if (options.output == "json") {
    nlohmann::json j = result.to_json();
    j["plan"] = reconcile::render_json(plan);
    j["syncs"] = nlohmann::json::array();
    for (const auto& s : syncs) j["syncs"].push_back(to_json(s));
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << "\n" << result.to_text(/*only_not_done=*/true);
    for (const auto& s : syncs) std::cout << to_text(s) << "\n";
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
  auto adopt = [&](state::State& state, StateEdit& done) -> std::optional<int> {
    auto remote = ctx.client->get_instance(ns, id);
    if (!remote && remote.error().kind == api::ErrorKind::auth)
      return report_token_rejected("adopt", remote.error().http_status);
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
      done = {"adopted",
              "adopted " + address + " (its create had never been confirmed; no remote change)"};
      return std::nullopt;
    }
    if (known != state.owned.end()) {
      done = {"already_owned", address + " is already owned"};
      return std::nullopt;
    }
    auto& owned = state.owned[address];
    owned.ns = ns;
    owned.id = id;
    owned.adopted_at = util::format_rfc3339(ctx.clock.now());
    done = {"adopted", "adopted " + address + " (no remote change)"};
    return std::nullopt;
  };
  return edit_state(ctx, options, "adopt", ns + "/" + id, adopt);
}

int cmd_forget(const Options& options) {
  std::string ns, id;
  if (!parse_address(options.args, "forget", ns, id)) return k_exit_error;
  Context ctx;
  if (!ctx.init(options, "warn")) return k_exit_error;
  auto forget = [&](state::State& state, StateEdit& done) -> std::optional<int> {
    std::string address = ns + "/" + id;
    if (!state.owns(ns, id)) {
      std::cerr << "aisearchd forget: " << address << " is not owned\n";
      return k_exit_error;
    }
    state.owned.erase(address);
    state.sync.erase(address);
    done = {"forgot", "forgot " + address + " (nothing remote was deleted)"};
    return std::nullopt;
  };
  return edit_state(ctx, options, "forget", ns + "/" + id, forget);
}

}  // namespace cli
