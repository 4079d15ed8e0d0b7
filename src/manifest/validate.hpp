#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "manifest/model.hpp"
#include "util/env_expand.hpp"

namespace manifest {

// The outcome of an offline check of the daemon config and the manifest (`aisearchd validate`).
struct ValidationReport {
  std::vector<ManifestError> errors;         // config errors first, then manifest errors
  std::optional<std::string> manifest_path;  // the manifest that was checked, if any
  std::size_t namespaces = 0;
  std::size_t instances = 0;

  bool ok() const { return errors.empty(); }
};

// Reads the config (`config_path` when given: it must exist; otherwise k_default_config_path if
// it exists) and the manifest (`manifest_path`, else the config's `manifest`), with no network
// and no token. A missing manifest path is an error. Never throws.
ValidationReport validate_offline(const std::optional<std::string>& config_path,
                                  const std::optional<std::string>& manifest_path,
                                  const util::EnvLookup& env);

}  // namespace manifest
