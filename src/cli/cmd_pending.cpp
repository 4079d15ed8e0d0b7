// Commands whose modules are still being wired in.
#include <iostream>

#include "cli/commands.hpp"
#include "cli/context.hpp"

namespace cli {

namespace {
int not_yet(const char* name) {
  std::cerr << "aisearchd " << name << ": not available in this build\n";
  return k_exit_error;
}
}  // namespace

int cmd_state_migrate(const Options&, Context&) { return not_yet("state migrate"); }

}  // namespace cli
