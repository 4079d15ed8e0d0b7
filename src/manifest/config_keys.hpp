#pragma once

// The keys of the daemon config file (/etc/aisearchd/aisearchd.yaml): the reader (config.cpp)
// accepts exactly these names, and the man page aisearchd.yaml(5) (`aisearchd man 5`) is
// generated from this table, so the documentation cannot name a key the reader refuses or miss
// one it reads. Each default is written as it would appear in the file; a unit test loads it and
// checks it equals DaemonConfig's built-in default.

#include <string>
#include <string_view>
#include <vector>

namespace manifest {

struct ConfigKeySpec {
  std::string section;        // "" for a top-level key, else its parent ("state_backend")
  std::string name;           // "reconcile_interval"
  std::string value;          // what it takes: "DURATION", "apply|observe", "PATH"
  std::string default_value;  // as written in the file; "" = unset (see `help`)
  std::string help;
};

const std::vector<ConfigKeySpec>& config_key_table();
// The names of the keys directly under `section` ("" = the top level), in table order.
std::vector<std::string> config_key_names(std::string_view section);

}  // namespace manifest
