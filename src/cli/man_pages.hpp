#pragma once

// The man pages, in roff (man(7) macros), generated from the tables they describe: aisearchd(1)
// from the option table (option_table.hpp) and aisearchd.yaml(5) from the config keys
// (manifest/config_keys.hpp). `aisearchd man [5]` prints them; the build installs them
// (scripts/gen-docs.sh).

#include <string>
#include <string_view>

namespace cli {

// aisearchd(1).
std::string man_page(std::string_view version);
// aisearchd.yaml(5).
std::string config_man_page(std::string_view version);

}  // namespace cli
