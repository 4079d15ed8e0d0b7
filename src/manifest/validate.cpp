#include "manifest/validate.hpp"

#include "manifest/config.hpp"
#include "manifest/loader.hpp"

namespace manifest {

ValidationReport validate_offline(const std::optional<std::string>& config_path,
                                  const std::optional<std::string>& manifest_path,
                                  const util::EnvLookup& env) {
  ValidationReport report;
  std::optional<std::string> from_config;
  auto config =
      load_config(config_path.value_or(k_default_config_path), env, config_path.has_value());
  if (config) {
    from_config = config->manifest;
  } else {
    report.errors = config.error();
  }
  report.manifest_path = manifest_path ? manifest_path : from_config;
  if (!report.manifest_path) {
    if (config)  // with a broken config the manifest setting may be what failed
      report.errors.push_back(
          {{"aisearchd", 0, 0},
           "no manifest to validate: give -m PATH or set manifest in the config"});
    return report;
  }
  auto manifest = load_manifest(*report.manifest_path, env);
  if (!manifest) {
    auto errors = manifest.error();
    if (!manifest_path && config->file)
      attribute_manifest_path(errors, *report.manifest_path, *config->file);
    report.errors.insert(report.errors.end(), errors.begin(), errors.end());
    return report;
  }
  report.namespaces = manifest->namespaces.size();
  report.instances = manifest->instance_count();
  return report;
}

}  // namespace manifest
