#pragma once

#include "cli/options.hpp"

namespace cli {

// `aisearchd validate`: checks the daemon config (-c, else the default path if present) and the
// manifest (-m, else the config's `manifest`) offline: no network, no token. Prints
// "manifest OK: N namespaces, M instances" to stdout and returns k_exit_ok, or prints every error
// to stderr, one `file:line:column: message` per line, and returns k_exit_error. With `-o json`
// the outcome is one JSON object on stdout instead.
int cmd_validate(const Options& options);

// `aisearchd schema`: prints the manifest's JSON Schema (pretty JSON) to stdout; returns k_exit_ok.
int cmd_schema(const Options& options);

}  // namespace cli
