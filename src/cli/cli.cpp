#include "cli/cli.hpp"

#include <algorithm>
#include <cxxopts.hpp>
#include <iostream>
#include <set>
#include <string_view>

#include "aisearchd_version.hpp"
#include "cli/commands.hpp"
#include "cli/commands_manifest.hpp"
#include "cli/context.hpp"
#include "cli/man_pages.hpp"
#include "cli/option_table.hpp"
#include "cli/options.hpp"

namespace cli {

namespace {

// The parser, registered from the option table (option_table.hpp) so that help, completion
// and the man page describe exactly what it accepts.
cxxopts::Options make_parser() {
  cxxopts::Options o("aisearchd", "");
  auto add = o.add_options();
  for (const auto& spec : option_table()) {
    const std::string names =
        spec.short_name.empty() ? spec.name : spec.short_name + "," + spec.name;
    if (spec.arg.empty())
      add(names, spec.help);
    else if (spec.repeatable)
      add(names, spec.help, cxxopts::value<std::vector<std::string>>(), spec.arg);
    else
      add(names, spec.help, cxxopts::value<std::string>(), spec.arg);
  }
  add("command", "", cxxopts::value<std::vector<std::string>>());
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
        std::all_of(a.begin() + 1, std::find(a.begin(), a.end(), '='), [](char c) {
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
  // Every target is checked before the first job starts.
  for (const auto& t : options.targets) {
    std::string ns, id;
    if (!parse_address({t}, "sync", ns, id)) return k_exit_error;
  }
  int worst = k_exit_ok;
  std::set<std::string> done;  // a target given twice is synced once
  for (const auto& t : options.targets) {
    if (!done.insert(t).second) continue;
    Options one = options;
    one.targets.clear();
    one.args = {t};
    worst = std::max(worst, cmd_sync(one));
  }
  return worst;
}

// An option given to a command that does not take it would be ignored: an error instead,
// naming the commands it is for. `given` are the long names on the command line.
bool options_fit_command(const std::string& command, const std::vector<std::string>& given) {
  for (const auto& name : given) {
    const OptionSpec* spec = find_option(name);
    if (!spec || option_fits(*spec, command)) continue;
    std::string list;
    for (const auto& c : spec->commands) list += (list.empty() ? "" : ", ") + c;
    std::cerr << "aisearchd " << command << ": --" << name << " is not an option of " << command
              << " (it is for " << list << "; see aisearchd " << command << " --help)\n";
    return false;
  }
  return true;
}

// help [COMMAND], COMMAND --help: the command's help; unknown names are an error.
int print_help(const std::string& command) {
  if (command.empty()) {
    std::cout << global_help();
    return k_exit_ok;
  }
  const CommandSpec* spec = find_command(command);
  if (!spec) {
    std::cerr << "aisearchd: unknown command \"" << command << "\" (see aisearchd --help)\n";
    return k_exit_error;
  }
  std::cout << command_help(*spec);
  return k_exit_ok;
}

int cmd_completion(const Options& options) {
  const std::string shell = options.args.empty() ? "" : options.args.front();
  auto script = completion_script(shell);
  if (!script || options.args.size() != 1) {
    std::cerr << "aisearchd completion: expected one of bash, zsh, fish\n";
    return k_exit_error;
  }
  std::cout << *script;
  return k_exit_ok;
}

int run(int argc, char** argv) {
  Options options;
  std::vector<std::string> given;  // long names of the options on the command line
  std::vector<std::string> words_storage = terraform_spellings(argc, argv);
  std::vector<char*> rewritten;
  for (auto& w : words_storage) rewritten.push_back(w.data());
  rewritten.push_back(nullptr);
  argv = rewritten.data();
  if (const std::string word = single_dash_long_option(argc, argv); !word.empty()) {
    std::cerr << "aisearchd: " << word << ": long options take two dashes (-" << word
              << "); a short option takes its value after a space (-o json)\n";
    return k_exit_error;
  }
  try {
    auto parser = make_parser();
    auto r = parser.parse(argc, argv);
    std::vector<std::string> words;
    if (r.count("command")) words = r["command"].as<std::vector<std::string>>();
    if (r.count("help")) return print_help(words.empty() ? "" : words.front());
    if (r.count("version")) {
      std::cout << "aisearchd " << util::k_version << "\n";
      return k_exit_ok;
    }
    for (const auto& spec : option_table()) {
      if (r.count(spec.name) && spec.name != "help" && spec.name != "version")
        given.push_back(spec.name);
    }
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
    options.output = opt<std::string>(r, "output").value_or("text");
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
    const CommandSpec* spec = find_command(c);
    if (!spec) {
      std::cerr << "aisearchd: unknown command \"" << c << "\" (see aisearchd --help)\n";
      return k_exit_error;
    }
    if (!options_fit_command(c, given)) return k_exit_error;
    if (spec->args.empty() && !options.args.empty()) {
      std::cerr << "aisearchd " << c << ": unexpected argument \"" << options.args.front()
                << "\" (see aisearchd " << c << " --help)\n";
      return k_exit_error;
    }
    if (c == "help") {
      if (options.args.size() > 1) {
        std::cerr << "aisearchd help: expected at most one COMMAND\n";
        return k_exit_error;
      }
      return print_help(options.args.empty() ? "" : options.args.front());
    }
    if (c == "completion") return cmd_completion(options);
    if (c == "man") {
      const std::string section = options.args.empty() ? "1" : options.args.front();
      if (options.args.size() > 1 || (section != "1" && section != "5")) {
        std::cerr << "aisearchd man: unexpected \""
                  << (options.args.size() > 1 ? options.args[1] : section)
                  << "\": expected no SECTION, 1 (aisearchd) or 5 (aisearchd.yaml)\n";
        return k_exit_error;
      }
      std::cout << (section == "5" ? config_man_page(util::k_version) : man_page(util::k_version));
      return k_exit_ok;
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
