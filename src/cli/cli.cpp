#include "cli/cli.hpp"

#include <algorithm>
#include <cxxopts.hpp>
#include <iostream>
#include <string_view>

#include "aisearchd_version.hpp"
#include "cli/commands.hpp"
#include "cli/commands_manifest.hpp"
#include "cli/options.hpp"

namespace cli {

namespace {

constexpr const char* k_commands = R"(Commands:
  run                 long-running daemon (the default command, except with --dry-run)
  plan                one-shot plan, writes nothing remote or local   (same as --dry-run)
                      (--out FILE: also save it, for apply FILE)
  apply [FILE]        one-shot reconcile, then exit; with FILE, exactly that saved plan, refused
                      (exit 1) when the manifest or an instance it touches changed since
  validate            offline manifest + config check: no network, no token needed
  sync NS/ID          trigger a sync job now, wait for and print its outcome (--no-wait;
                      --timeout 30m: stop waiting then, exit 1, the job keeps running)
  status              instances, ownership, last job outcomes, freshness (text or json)
  adopt NS/ID         record an existing remote instance as owned; no remote change (--force:
                      one the manifest does not declare in a namespace with prune: true)
  forget NS/ID        drop ownership without deleting anything remote
  schema              print the manifest's JSON Schema (for editors / yaml-language-server)
  export [NS...]      print a manifest (YAML) of what exists remotely (all namespaces, or these):
                      it validates, and a plan of it shows adoptions only
  state show          print the state (owned instances, digests, job history)
  state migrate --to etcd|file   copy the state to the other backend

Exit codes: 0 success; 1 error; 2 differences present (plan --detailed-exitcode);
3 apply finished but some actions were blocked by a safety rail.)";

cxxopts::Options make_parser() {
  cxxopts::Options o(
      "aisearchd",
      "Keeps Cloudflare AI Search instances equal to a YAML manifest, runs their sync "
      "jobs on schedules and reports every outcome.");
  o.custom_help("[OPTIONS]");
  o.positional_help("[COMMAND] [ARGS]");
  o.add_options()("c,config", "daemon config (default /etc/aisearchd/aisearchd.yaml; optional)",
                  cxxopts::value<std::string>(),
                  "FILE")("m,manifest", "manifest file or directory of *.yaml / *.yml (merged)",
                          cxxopts::value<std::string>(), "PATH")(
      "api-url", "API base URL (default https://api.cloudflare.com/client/v4)",
      cxxopts::value<std::string>(),
      "URL")("account-id", "account id (default: config, manifest, or $CLOUDFLARE_ACCOUNT_ID)",
             cxxopts::value<std::string>(), "ID")(
      "state-dir", "state directory (default /var/lib/aisearchd; $STATE_DIRECTORY under systemd)",
      cxxopts::value<std::string>(), "DIR")(
      "dry-run",
      "alone: the one-shot plan; with apply: the plan it would apply; with run: observe only")(
      "listen", "run: address of /metrics /healthz /readyz /status (\"\" disables)",
      cxxopts::value<std::string>(), "ADDR")("o,output", "text (default) | json | markdown",
                                             cxxopts::value<std::string>()->default_value("text"),
                                             "FMT")(
      "detailed-exitcode", "plan: 0 no differences, 2 differences (also blocked ones), 1 error")(
      "no-wait", "sync: start the job and return without following it")(
      "timeout", "sync: stop waiting after DURATION (e.g. 30m), exit 1; the job keeps running",
      cxxopts::value<std::string>(), "DURATION")(
      "force", "adopt: an instance the manifest does not declare in a prune: true namespace")(
      "no-color", "no ANSI colours, even on a terminal (as NO_COLOR)")(
      "require-state",
      "plan, apply: fail (exit 1) when the state records no instance (ownership unknown)")(
      "to", "state migrate: etcd | file", cxxopts::value<std::string>(), "BACKEND")(
      "out", "plan: save the plan to FILE (-out FILE works too); apply FILE applies exactly it",
      cxxopts::value<std::string>(),
      "FILE")("target", "plan, apply, sync, status: only this instance (repeatable)",
              cxxopts::value<std::vector<std::string>>(),
              "NS/ID")("log-level", "trace|debug|info|warn|error", cxxopts::value<std::string>(),
                       "LVL")("log-format", "text|json", cxxopts::value<std::string>(), "FMT")(
      "version", "print the version and exit")("h,help", "print this help and exit")(
      "command", "", cxxopts::value<std::vector<std::string>>());
  o.parse_positional({"command"});
  return o;
}

template <typename T>
std::optional<T> opt(const cxxopts::ParseResult& r, const char* name) {
  if (!r.count(name)) return std::nullopt;
  return r[name].as<T>();
}

}  // namespace

// A word of argv that is a single-dash long option ("-out"): cxxopts would read it as a
// cluster of short options ("-o ut", an output format "ut"). Empty when there is none.
std::string single_dash_long_option(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view a(argv[i]);
    if (a == "--") break;
    if (a.size() > 2 && a[0] == '-' && a[1] != '-' &&
        std::all_of(a.begin() + 1, a.end(), [](char c) {
          return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
        }))
      return std::string(a);
  }
  return {};
}

// Checks a value among the ones an option takes; prints why not.
bool one_of(const char* option, const std::optional<std::string>& value,
            std::initializer_list<std::string_view> allowed) {
  if (!value) return true;
  for (auto a : allowed)
    if (*value == a) return true;
  std::string list;
  for (auto a : allowed) list += (list.empty() ? "" : "|") + std::string(a);
  std::cerr << "aisearchd: " << option << ": \"" << *value << "\" is not one of " << list << "\n";
  return false;
}

// `plan -out FILE` is Terraform's spelling of --out FILE and means just that; argv with it
// (and -out=FILE) rewritten to two dashes. Words after "--" are left as they are.
std::vector<std::string> terraform_spellings(int argc, char** argv) {
  std::vector<std::string> words(argv, argv + argc);
  for (std::size_t i = 1; i < words.size(); ++i) {
    if (words[i] == "--") break;
    if (words[i] == "-out" || words[i].rfind("-out=", 0) == 0) words[i] = "-" + words[i];
  }
  return words;
}

// sync with --target: each target in turn, as `sync NS/ID` would; the worst exit code.
int sync_targets(const Options& options) {
  if (options.targets.empty()) return cmd_sync(options);
  if (!options.args.empty()) {
    std::cerr << "aisearchd sync: give NAMESPACE/ID or --target, not both\n";
    return k_exit_error;
  }
  int worst = k_exit_ok;
  for (const auto& t : options.targets) {
    Options one = options;
    one.targets.clear();
    one.args = {t};
    worst = std::max(worst, cmd_sync(one));
  }
  return worst;
}

// --out and --target belong to some commands only: given elsewhere they would be ignored.
bool options_fit_command(const Options& options) {
  const std::string& c = options.command;
  if (options.out && c != "plan") {
    std::cerr << "aisearchd " << c << ": --out is for plan (aisearchd plan --out FILE, then "
              << "aisearchd apply FILE)\n";
    return false;
  }
  if (!options.targets.empty() && c != "plan" && c != "apply" && c != "sync" && c != "status") {
    std::cerr << "aisearchd " << c << ": --target is for plan, apply, sync and status\n";
    return false;
  }
  return true;
}

int run(int argc, char** argv) {
  Options options;
  std::vector<std::string> words_storage = terraform_spellings(argc, argv);
  std::vector<char*> rewritten;
  for (auto& w : words_storage) rewritten.push_back(w.data());
  rewritten.push_back(nullptr);
  argv = rewritten.data();
  if (const std::string word = single_dash_long_option(argc, argv); !word.empty()) {
    std::cerr << "aisearchd: " << word << ": long options take two dashes (--" << word.substr(1)
              << "); a short option takes its value after a space (-o json)\n";
    return k_exit_error;
  }
  try {
    auto parser = make_parser();
    auto r = parser.parse(argc, argv);
    if (r.count("help")) {
      std::cout << parser.help() << "\n" << k_commands << "\n";
      return k_exit_ok;
    }
    if (r.count("version")) {
      std::cout << "aisearchd " << util::k_version << "\n";
      return k_exit_ok;
    }
    std::vector<std::string> words;
    if (r.count("command")) words = r["command"].as<std::vector<std::string>>();
    options.dry_run = r.count("dry-run") > 0;
    if (!words.empty()) {
      options.command = words.front();
      options.args.assign(words.begin() + 1, words.end());
    } else {
      options.command = options.dry_run ? "plan" : "run";
    }
    options.config = opt<std::string>(r, "config");
    options.manifest = opt<std::string>(r, "manifest");
    options.api_url = opt<std::string>(r, "api-url");
    options.account_id = opt<std::string>(r, "account-id");
    options.state_dir = opt<std::string>(r, "state-dir");
    options.listen = opt<std::string>(r, "listen");
    options.log_level = opt<std::string>(r, "log-level");
    options.log_format = opt<std::string>(r, "log-format");
    options.to = opt<std::string>(r, "to");
    options.out = opt<std::string>(r, "out");
    if (r.count("target")) options.targets = r["target"].as<std::vector<std::string>>();
    options.output = r["output"].as<std::string>();
    options.detailed_exitcode = r.count("detailed-exitcode") > 0;
    options.no_wait = r.count("no-wait") > 0;
    options.timeout = opt<std::string>(r, "timeout");
    options.force = r.count("force") > 0;
    options.require_state = r.count("require-state") > 0;
    options.no_color = r.count("no-color") > 0;
    // Checked for every command, also the ones that never log or print a plan.
    if (!one_of("--log-level", options.log_level, {"trace", "debug", "info", "warn", "error"}) ||
        !one_of("--log-format", options.log_format, {"text", "json"}) ||
        !one_of("-o/--output", options.output, {"text", "json", "markdown"}))
      return k_exit_error;
  } catch (const std::exception& e) {
    std::cerr << "aisearchd: " << e.what() << "\n(see aisearchd --help)\n";
    return k_exit_error;
  }

  try {
    const std::string& c = options.command;
    if (!options_fit_command(options)) return k_exit_error;
    const bool takes_args = c == "sync" || c == "adopt" || c == "forget" || c == "state" ||
                            c == "apply" || c == "export";
    if (!takes_args && !options.args.empty()) {
      std::cerr << "aisearchd " << c << ": unexpected argument \"" << options.args.front()
                << "\" (see aisearchd --help)\n";
      return k_exit_error;
    }
    if (options.timeout && c != "sync") {
      std::cerr << "aisearchd " << c << ": --timeout is an option of sync only\n";
      return k_exit_error;
    }
    if (c == "plan") return cmd_plan(options);
    if (c == "apply") return cmd_apply(options);
    if (c == "run") return cmd_run(options);
    if (c == "validate") return cmd_validate(options);
    if (c == "schema") return cmd_schema(options);
    if (c == "sync") return sync_targets(options);
    if (c == "status") return cmd_status(options);
    if (c == "adopt") return cmd_adopt(options);
    if (c == "forget") return cmd_forget(options);
    if (c == "state") return cmd_state(options);
    if (c == "export") return cmd_export(options);
    std::cerr << "aisearchd: unknown command \"" << c << "\" (see aisearchd --help)\n";
    return k_exit_error;
  } catch (const std::exception& e) {
    // A programmer error or a fatal start-up failure: one clear line, never a crash.
    std::cerr << "aisearchd: fatal: " << e.what() << "\n";
    return k_exit_error;
  }
}

}  // namespace cli
