// Commands whose modules are still being wired in (none at the moment).
#include "cli/commands.hpp"
