#pragma once

// The one table of aisearchd's commands and options. The parser (cli.cpp) registers its options
// from it, and every text a user reads about them is generated from it too: `aisearchd --help`,
// `aisearchd CMD --help` and `aisearchd help CMD`, the shell completions (`aisearchd completion
// bash|zsh|fish`) and the man page aisearchd(1) (man_pages.hpp, installed by the .deb), so
// none of them can drift from what the parser accepts.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cli {

struct OptionSpec {
  std::string name;        // long name without dashes: "log-level"
  std::string short_name;  // one letter or ""
  std::string arg;         // the value's name ("FILE"); "" for a flag
  std::string help;
  // The commands that take it; empty: every command (a global option).
  std::vector<std::string> commands;
  bool repeatable = false;
  // For completion: "file", "dir", or the values separated by '|' ("text|json|markdown").
  std::string values;
};

struct CommandSpec {
  std::string name;     // "plan"; "state" has words of its own (args)
  std::string args;     // "NS/ID", "[FILE]", "[NS...]", "show | migrate --to etcd|file"
  std::string summary;  // one line
  std::string description;
  std::string example;  // a command line, or several separated by '\n'
  bool hidden = false;  // not listed (still documented in its own help)
};

const std::vector<OptionSpec>& option_table();
const std::vector<CommandSpec>& command_table();
const CommandSpec* find_command(std::string_view name);
const OptionSpec* find_option(std::string_view name);
// Whether `option` may be given to `command` (global options to every command).
bool option_fits(const OptionSpec& option, std::string_view command);

// `aisearchd --help`: usage, the commands, the global options, exit codes.
std::string global_help();
// `aisearchd CMD --help`: usage, what it does, its own options, the global ones, an example.
std::string command_help(const CommandSpec& command);
// `aisearchd completion SHELL` for bash, zsh or fish; nullopt for another shell.
std::optional<std::string> completion_script(std::string_view shell);
// The exit codes of every command, one sentence.
extern const char* const k_exit_codes;
// The options given to `command` only (global = false), or the options of every command.
std::vector<const OptionSpec*> options_where(bool global, std::string_view command);

}  // namespace cli
