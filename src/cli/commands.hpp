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

struct Context;
int cmd_state_migrate(const Options& options, Context& ctx);

}  // namespace cli
