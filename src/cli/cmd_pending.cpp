// Commands whose modules are still being wired in.
#include <iostream>

#include "cli/commands.hpp"

namespace cli {

namespace {
int not_yet(const char* name) {
  std::cerr << "aisearchd " << name << ": not available in this build\n";
  return k_exit_error;
}
}  // namespace

int cmd_sync(const Options&) { return not_yet("sync"); }
int cmd_status(const Options&) { return not_yet("status"); }
int cmd_state(const Options&) { return not_yet("state"); }

}  // namespace cli
