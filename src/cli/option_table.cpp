#include "cli/option_table.hpp"

#include <algorithm>
#include <sstream>

namespace cli {

const char* const k_exit_codes =
    "Exit codes: 0 success; 1 error (bad input, API failure, partial plan); 2 differences present "
    "(plan --detailed-exitcode); 3 apply finished but some actions were blocked by a safety "
    "rail.";

namespace {

std::string option_label(const OptionSpec& o) {
  std::string s = o.short_name.empty() ? "    " : "-" + o.short_name + ", ";
  s += "--" + o.name;
  if (!o.arg.empty()) s += " " + o.arg;
  return s;
}

// Words of `text` wrapped at `width`, every line after the first indented by `indent`.
std::string wrap(const std::string& text, std::size_t width, std::size_t indent) {
  std::istringstream words(text);
  std::string out, line, word;
  while (words >> word) {
    if (!line.empty() && line.size() + 1 + word.size() > width) {
      out += line + "\n" + std::string(indent, ' ');
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
  }
  return out + line;
}

void list_options(std::ostringstream& out, const std::vector<const OptionSpec*>& options) {
  for (const auto* o : options) {
    std::string label = "  " + option_label(*o);
    std::string help = o->help + (o->repeatable ? " (repeatable)" : "");
    if (label.size() < 28) {
      out << label << std::string(28 - label.size(), ' ') << wrap(help, 70, 28) << "\n";
    } else {
      out << label << "\n" << std::string(28, ' ') << wrap(help, 70, 28) << "\n";
    }
  }
}

std::string usage(const CommandSpec& c) {
  return "aisearchd [OPTIONS] " + c.name + (c.args.empty() ? "" : " " + c.args);
}

// The inside of a POSIX/zsh single-quoted string: ' becomes '\''.
std::string sh_quoted_body(const std::string& text) {
  std::string out;
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out;
}

// The inside of a fish single-quoted string: ' and \ are escaped with a backslash.
std::string fish_quoted_body(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::string all_command_names(bool with_hidden) {
  std::string s;
  for (const auto& c : command_table()) {
    if (c.hidden && !with_hidden) continue;
    s += (s.empty() ? "" : " ") + c.name;
  }
  return s;
}

std::string long_options_of(std::string_view command) {
  std::string s;
  for (const auto& o : option_table()) {
    if (!option_fits(o, command)) continue;
    if (!s.empty()) s += ' ';
    s += "--";
    s += o.name;
    if (!o.short_name.empty()) {
      s += " -";
      s += o.short_name;
    }
  }
  return s;
}

std::string bash_completion() {
  std::ostringstream out;
  out << "# bash completion for aisearchd (aisearchd completion bash)\n"
         "_aisearchd() {\n"
         "  local cur prev cmd i\n"
         "  cur=${COMP_WORDS[COMP_CWORD]}\n"
         "  prev=${COMP_WORDS[COMP_CWORD-1]}\n"
         "  cmd=\n"
         "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
         "    case ${COMP_WORDS[i]} in\n"
         "      -*) ;;\n"
         "      *) case ${COMP_WORDS[i-1]} in\n";
  // The word after an option that takes a value is that value, not the command.
  std::string valued;
  for (const auto& o : option_table()) {
    if (o.arg.empty()) continue;
    if (!valued.empty()) valued += '|';
    valued += "--";
    valued += o.name;
    if (!o.short_name.empty()) {
      valued += "|-";
      valued += o.short_name;
    }
  }
  out << "           " << valued << ") ;;\n"
      << "           *) cmd=${COMP_WORDS[i]}; break ;;\n"
         "         esac ;;\n"
         "    esac\n"
         "  done\n"
         "  case $prev in\n";
  for (const auto& o : option_table()) {
    if (o.arg.empty()) continue;
    out << "    --" << o.name << (o.short_name.empty() ? "" : "|-" + o.short_name) << ")\n";
    if (o.values == "file")
      out << "      COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n";
    else if (o.values == "dir")
      out << "      COMPREPLY=($(compgen -d -- \"$cur\")); return ;;\n";
    else if (!o.values.empty()) {
      std::string words = o.values;
      std::replace(words.begin(), words.end(), '|', ' ');
      out << "      COMPREPLY=($(compgen -W \"" << words << "\" -- \"$cur\")); return ;;\n";
    } else {
      out << "      return ;;\n";
    }
  }
  out << "  esac\n"
         "  if [[ -z $cmd ]]; then\n"
         "    if [[ $cur == -* ]]; then\n"
         "      COMPREPLY=($(compgen -W \""
      << long_options_of("") << "\" -- \"$cur\"))\n"
      << "    else\n"
         "      COMPREPLY=($(compgen -W \""
      << all_command_names(false)
      << "\" -- \"$cur\"))\n"
         "    fi\n"
         "    return\n"
         "  fi\n"
         "  case $cmd in\n";
  for (const auto& c : command_table()) {
    out << "    " << c.name << ") COMPREPLY=($(compgen -W \"" << long_options_of(c.name);
    if (c.name == "completion") out << " bash zsh fish";
    if (c.name == "help") out << " " << all_command_names(false);
    if (c.name == "state") out << " show migrate";
    if (c.name == "man") out << " 1 5";
    out << "\" -- \"$cur\")) ;;\n";
  }
  out << "  esac\n"
         "}\n"
         "complete -o default -F _aisearchd aisearchd\n";
  return out.str();
}

std::string zsh_completion() {
  std::ostringstream out;
  out << "#compdef aisearchd\n"
         "# zsh completion for aisearchd (aisearchd completion zsh)\n"
         "_aisearchd() {\n"
         "  local -a commands options\n"
         "  commands=(\n";
  for (const auto& c : command_table()) {
    if (c.hidden) continue;
    out << "    '" << c.name << ":" << sh_quoted_body(c.summary) << "'\n";
  }
  out << "  )\n";
  // One zsh spec per option; `options` holds every option (before the command), `global` the
  // options of every command and `opts_CMD` a command's own (after the command).
  const auto spec = [](const OptionSpec& o) {
    std::string help = sh_quoted_body(o.help);
    std::replace(help.begin(), help.end(), '[', '(');
    std::replace(help.begin(), help.end(), ']', ')');
    std::string action;
    if (!o.arg.empty()) {
      if (o.values == "file")
        action = ":" + o.arg + ":_files";
      else if (o.values == "dir")
        action = ":" + o.arg + ":_files -/";
      else if (!o.values.empty()) {
        std::string words = o.values;
        std::replace(words.begin(), words.end(), '|', ' ');
        action = ":" + o.arg + ":(" + words + ")";
      } else {
        action = ":" + o.arg + ":";
      }
    }
    const std::string star = o.repeatable ? "*" : "";
    std::string line = "    '" + star;
    if (!o.short_name.empty()) {
      line.append("(-").append(o.short_name).append(" --").append(o.name).append(")'{-");
      line.append(o.short_name).append(",--").append(o.name).append("}'");
    } else {
      line.append("--").append(o.name);
    }
    return line.append("[").append(help).append("]").append(action).append("'\n");
  };
  out << "  local -a global\n  global=(\n";
  for (const auto* o : options_where(true, "")) out << spec(*o);
  out << "  )\n  options=($global\n";
  for (const auto& o : option_table())
    if (!o.commands.empty()) out << spec(o);
  out << "  )\n";
  for (const auto& c : command_table()) {
    out << "  local -a opts_" << c.name << "\n  opts_" << c.name << "=(\n";
    for (const auto* o : options_where(false, c.name)) out << spec(*o);
    out << "  )\n";
  }
  out << "  _arguments -s $options '1: :->command' '*:: :->args' && return\n"
         "  case $state in\n"
         "    command) _describe 'command' commands ;;\n"
         "    args)\n"
         "      case $words[1] in\n";
  for (const auto& c : command_table()) {
    std::string positional = "'*:argument:'";
    if (c.name == "completion") positional = "'1:shell:(bash zsh fish)'";
    if (c.name == "help") positional = "'1:command:(" + all_command_names(false) + ")'";
    if (c.name == "state") positional = "'1:word:(show migrate)'";
    if (c.name == "man") positional = "'1:section:(1 5)'";
    if (c.name == "apply") positional = "'1:saved plan:_files'";
    out << "        " << c.name << ") _arguments -s $global $opts_" << c.name << " " << positional
        << " ;;\n";
  }
  out << "      esac ;;\n"
         "  esac\n"
         "}\n"
         "_aisearchd \"$@\"\n";
  return out.str();
}

std::string fish_completion() {
  std::ostringstream out;
  out << "# fish completion for aisearchd (aisearchd completion fish)\n"
         "complete -c aisearchd -f\n";
  const std::string names = all_command_names(false);
  for (const auto& c : command_table()) {
    if (c.hidden) continue;
    out << "complete -c aisearchd -n 'not __fish_seen_subcommand_from " << names << "' -a "
        << c.name << " -d '" << fish_quoted_body(c.summary) << "'\n";
  }
  for (const auto& o : option_table()) {
    const std::string help = fish_quoted_body(o.help);
    out << "complete -c aisearchd";
    if (!o.commands.empty()) {
      out << " -n '__fish_seen_subcommand_from";
      for (const auto& c : o.commands) out << " " << c;
      out << "'";
    }
    out << " -l " << o.name;
    if (!o.short_name.empty()) out << " -s " << o.short_name;
    if (!o.arg.empty()) {
      out << " -r";
      if (o.values.empty()) {
        out << " -f";
      } else if (o.values == "file" || o.values == "dir") {
        out << " -F";
      } else {
        std::string words = o.values;
        std::replace(words.begin(), words.end(), '|', ' ');
        out << " -f -a '" << words << "'";
      }
    }
    out << " -d '" << help << "'\n";
  }
  out << "complete -c aisearchd -n '__fish_seen_subcommand_from completion' -a 'bash zsh fish'\n"
         "complete -c aisearchd -n '__fish_seen_subcommand_from help' -a '"
      << names
      << "'\n"
         "complete -c aisearchd -n '__fish_seen_subcommand_from state' -a 'show migrate'\n"
         "complete -c aisearchd -n '__fish_seen_subcommand_from man' -a '1 5'\n"
         "complete -c aisearchd -n '__fish_seen_subcommand_from apply' -F\n";
  return out.str();
}

}  // namespace

std::vector<const OptionSpec*> options_where(bool global, std::string_view command) {
  std::vector<const OptionSpec*> out;
  for (const auto& o : option_table()) {
    if (global ? o.commands.empty()
               : std::find(o.commands.begin(), o.commands.end(), command) != o.commands.end())
      out.push_back(&o);
  }
  return out;
}

const std::vector<OptionSpec>& option_table() {
  static const std::vector<OptionSpec> table = {
      {"config",
       "c",
       "FILE",
       "daemon config (default /etc/aisearchd/aisearchd.yaml; optional)",
       {},
       false,
       "file"},
      {"manifest",
       "m",
       "PATH",
       "manifest file or directory of *.yaml / *.yml (merged)",
       {},
       false,
       "file"},
      {"api-url",
       "",
       "URL",
       "API base URL (default https://api.cloudflare.com/client/v4)",
       {},
       false,
       ""},
      {"account-id",
       "",
       "ID",
       "account id (default: the config's account_id, else $CLOUDFLARE_ACCOUNT_ID, else the "
       "manifest's)",
       {},
       false,
       ""},
      {"state-dir",
       "",
       "DIR",
       "state directory (default /var/lib/aisearchd; $STATE_DIRECTORY under systemd)",
       {},
       false,
       "dir"},
      {"dry-run",
       "",
       "",
       "alone: the one-shot plan; with apply: the plan it would apply; with run: observe only",
       {"run", "plan", "apply"},
       false,
       ""},
      {"listen",
       "",
       "ADDR",
       "address of /metrics /healthz /readyz /status (\"\" disables)",
       {"run"},
       false,
       ""},
      {"output", "o", "FMT", "text (default) | json | markdown", {}, false, "text|json|markdown"},
      {"detailed-exitcode",
       "",
       "",
       "0 no differences, 2 differences (also blocked ones), 1 error",
       {"plan", "apply"},
       false,
       ""},
      {"out",
       "",
       "FILE",
       "also save the plan to FILE (-out FILE works too); aisearchd apply FILE applies exactly it",
       {"plan"},
       false,
       "file"},
      {"target",
       "",
       "NS/ID",
       "only this instance: plan and apply keep its change (and the namespace create it "
       "needs), sync triggers it, status shows it",
       {"plan", "apply", "sync", "status"},
       true,
       ""},
      {"require-state",
       "",
       "",
       "fail (exit 1) when the state records no instance (ownership unknown)",
       {"plan", "apply"},
       false,
       ""},
      {"no-wait", "", "", "start the job and return without following it", {"sync"}, false, ""},
      {"timeout",
       "",
       "DURATION",
       "stop waiting after DURATION (e.g. 30m), exit 1; the job keeps running",
       {"sync"},
       false,
       ""},
      {"force",
       "",
       "",
       "also an instance the manifest does not declare in a prune: true namespace",
       {"adopt"},
       false,
       ""},
      {"to",
       "",
       "BACKEND",
       "the backend to copy the state to: etcd | file",
       {"state"},
       false,
       "etcd|file"},
      {"no-color", "", "", "no ANSI colours, even on a terminal (as NO_COLOR)", {}, false, ""},
      {"log-level",
       "",
       "LVL",
       "trace | debug | info | warn | error",
       {},
       false,
       "trace|debug|info|warn|error"},
      {"log-format", "", "FMT", "text | json", {}, false, "text|json"},
      {"version", "", "", "print the version and exit", {}, false, ""},
      {"help", "h", "", "print help (of a command, after it) and exit", {}, false, ""},
  };
  return table;
}

const std::vector<CommandSpec>& command_table() {
  static const std::vector<CommandSpec> table = {
      {"run", "", "long-running daemon (the default command, except with --dry-run)",
       "Reconciles now and every reconcile_interval, reloads the manifest when it changes, "
       "triggers sync jobs when due and reports every outcome (logs, metrics, webhook). Under "
       "systemd: Type=notify, READY=1 after the first reconcile. With --dry-run it observes and "
       "reports, never writes.",
       "aisearchd run -c /etc/aisearchd/aisearchd.yaml", false},
      {"plan", "", "one-shot plan; writes nothing remote (nor local, but --out FILE)",
       "Lists the remote instances, compares them with the manifest and prints what apply would "
       "do (text, json or markdown). --out FILE also saves the exact plan for apply FILE.",
       "aisearchd plan -m ai-search/ -o markdown --detailed-exitcode --out aisearch.plan", false},
      {"apply", "[FILE]", "one-shot reconcile, then exit; with FILE exactly that saved plan",
       "Plans and applies the changes, prints each result as it finishes and a progress counter "
       "on stderr, then triggers the on_change syncs of what it changed. With FILE (from plan "
       "--out) it applies exactly that plan and refuses (exit 1, nothing written) when the "
       "manifest or an instance the plan touches changed since.",
       "aisearchd apply aisearch.plan", false},
      {"validate", "", "offline manifest and config check: no network, no token",
       "Loads the config and the manifest and checks them; every error with file:line:column.",
       "aisearchd validate -m ai-search/", false},
      {"sync", "NS/ID", "trigger a sync job now, wait for and print its outcome",
       "Starts a sync job of the instance (under concurrency forbid after the running one "
       "ends), follows it to its end and prints the outcome; exit 0 when it succeeded.",
       "aisearchd sync default/docs --timeout 30m", false},
      {"status", "", "instances, ownership, last job outcomes, freshness",
       "What the state records per instance of the manifest and the state: owned, last job "
       "outcome, last success, freshness, next due run.",
       "aisearchd status -o json", false},
      {"adopt", "NS/ID", "record an existing remote instance as owned; no remote change",
       "From then on prune may delete it and drift is corrected. Refused (unless --force) for "
       "an instance the manifest does not declare in a namespace with prune: true.",
       "aisearchd adopt default/docs", false},
      {"forget", "NS/ID", "drop ownership without deleting anything remote", "",
       "aisearchd forget default/old", false},
      {"schema", "", "print the manifest's JSON Schema (for editors)",
       "For yaml-language-server: # yaml-language-server: $schema=aisearchd.schema.json",
       "aisearchd schema > aisearchd.schema.json", false},
      {"export", "[NS...]", "print a manifest (YAML) of what exists remotely",
       "For starting from an existing account: the namespaces (all, or the ones named) and "
       "their instances with the fields that differ from the API's defaults; it validates, and "
       "a plan of it shows adoptions only.",
       "aisearchd export > ai-search/aisearch.yaml", false},
      {"state", "show | migrate --to etcd|file", "print the state, or copy it to the other backend",
       "", "aisearchd state show\naisearchd state migrate --to etcd", false},
      {"completion", "bash|zsh|fish", "print a shell completion script",
       "The Debian package installs all three. Without it: bash: source it, or save it as "
       "~/.local/share/bash-completion/completions/aisearchd; zsh: save it as _aisearchd in a "
       "directory of $fpath; fish: save it as ~/.config/fish/completions/aisearchd.fish.",
       "source <(aisearchd completion bash)", false},
      {"help", "[COMMAND]", "help on a command (as aisearchd COMMAND --help)", "",
       "aisearchd help plan", false},
      {"man", "[1|5]",
       "print the man page aisearchd(1), or aisearchd.yaml(5) of the config file (roff)",
       "The Debian package installs both: man aisearchd, man aisearchd.yaml.",
       "aisearchd man | man -l -\naisearchd man 5 | man -l -", false},
  };
  return table;
}

const CommandSpec* find_command(std::string_view name) {
  for (const auto& c : command_table())
    if (c.name == name) return &c;
  return nullptr;
}

const OptionSpec* find_option(std::string_view name) {
  for (const auto& o : option_table())
    if (o.name == name) return &o;
  return nullptr;
}

bool option_fits(const OptionSpec& option, std::string_view command) {
  return option.commands.empty() || std::find(option.commands.begin(), option.commands.end(),
                                              command) != option.commands.end();
}

std::string global_help() {
  std::ostringstream out;
  out << "Usage: aisearchd [OPTIONS] [COMMAND] [ARGS]\n\n"
         "Keeps Cloudflare AI Search instances equal to a YAML manifest, runs their sync jobs on "
         "schedules\nand reports every outcome.\n\nCommands:\n";
  for (const auto& c : command_table()) {
    if (c.hidden) continue;
    std::string label = "  " + c.name + (c.args.empty() ? "" : " " + c.args);
    if (label.size() < 22)
      out << label << std::string(22 - label.size(), ' ') << c.summary << "\n";
    else
      out << label << "\n" << std::string(22, ' ') << c.summary << "\n";
  }
  out << "\nOptions of every command:\n";
  list_options(out, options_where(true, ""));
  out << "\nEach command's own options: aisearchd COMMAND --help (or aisearchd help COMMAND).\n"
      << wrap(k_exit_codes, 96, 0) << "\n";
  return out.str();
}

std::string command_help(const CommandSpec& c) {
  std::ostringstream out;
  out << "Usage: " << usage(c) << "\n\n" << wrap(c.summary, 96, 0) << ".\n";
  if (!c.description.empty()) out << "\n" << wrap(c.description, 96, 0) << "\n";
  const auto own = options_where(false, c.name);
  if (!own.empty()) {
    out << "\nOptions:\n";
    list_options(out, own);
  }
  out << "\nOptions of every command:\n";
  list_options(out, options_where(true, ""));
  if (!c.example.empty()) {
    out << "\nExample:\n";
    std::istringstream lines(c.example);
    for (std::string line; std::getline(lines, line);) out << "  " << line << "\n";
  }
  return out.str();
}

std::optional<std::string> completion_script(std::string_view shell) {
  if (shell == "bash") return bash_completion();
  if (shell == "zsh") return zsh_completion();
  if (shell == "fish") return fish_completion();
  return std::nullopt;
}

}  // namespace cli
