#pragma once

#include <optional>
#include <string>
#include <vector>

namespace cli {

// The command line as plain data (cxxopts stays in cli.cpp). A value the user did not give is
// std::nullopt, so the config file can fill it ("the flag wins").
struct Options {
  std::string command;            // run plan apply validate sync status adopt forget schema state
  std::vector<std::string> args;  // positional arguments after the command
  std::optional<std::string> config;    // -c
  std::optional<std::string> manifest;  // -m
  std::optional<std::string> api_url;
  std::optional<std::string> account_id;
  std::optional<std::string> state_dir;
  std::optional<std::string> listen;
  std::optional<std::string> log_level;
  std::optional<std::string> log_format;
  std::string output = "text";  // text json markdown
  bool dry_run = false;
  bool detailed_exitcode = false;
  bool no_wait = false;              // sync
  bool force = false;                // adopt: also what the next apply would prune
  bool require_state = false;        // plan, apply: fail when state records no instance
  bool no_color = false;             // as NO_COLOR: no ANSI colours even on a terminal
  std::optional<std::string> to;     // state migrate --to
  std::optional<std::string> out;    // plan --out FILE: save the plan
  std::vector<std::string> targets;  // --target NS/ID (repeatable)

  // sync --timeout DURATION: stop waiting for the job then (exit 1; the job keeps running).
  std::optional<std::string> timeout;
};

// Exit codes (PRODUCT.md §2).
inline constexpr int k_exit_ok = 0;
inline constexpr int k_exit_error = 1;
inline constexpr int k_exit_changes = 2;
inline constexpr int k_exit_blocked = 3;

}  // namespace cli
