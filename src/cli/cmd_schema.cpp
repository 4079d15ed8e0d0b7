#include <iostream>

#include "cli/commands_manifest.hpp"
#include "manifest/schema.hpp"

namespace cli {

int cmd_schema(const Options& /*options*/) {
  std::cout << manifest::manifest_json_schema().dump(2) << "\n";
  return std::cout ? k_exit_ok : k_exit_error;
}

}  // namespace cli
