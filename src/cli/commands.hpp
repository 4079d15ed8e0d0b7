#pragma once

#include "cli/options.hpp"

namespace cli {

// Each returns the process exit code (options.hpp) and prints its own errors.
int cmd_plan(const Options& options);  // also `--dry-run` alone
int cmd_apply(const Options& options);
int cmd_run(const Options& options);
int cmd_sync(const Options& options);
int cmd_status(const Options& options);
int cmd_adopt(const Options& options);
int cmd_forget(const Options& options);
int cmd_state(const Options& options);  // state show | state migrate --to etcd|file
// `aisearchd export [NS...]`: prints to stdout a manifest (YAML) of the namespaces named (all
// when none) and their instances as the remote has them (only fields that differ from the
// server's defaults), with a header comment saying when and what was exported. Exit 1, nothing
// on stdout, when any of those namespaces was not listed completely, the token was rejected,
// a name is not a namespace name, or -o asks for anything but text.
int cmd_export(const Options& options);

struct Context;
int cmd_state_migrate(const Options& options, Context& ctx);

}  // namespace cli
