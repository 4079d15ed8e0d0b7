#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands_manifest.hpp"
#include "manifest/validate.hpp"
#include "util/env_expand.hpp"

namespace cli {

int cmd_validate(const Options& options) {
  auto report = manifest::validate_offline(options.config, options.manifest, util::process_env());
  if (options.output == "json") {
    nlohmann::json errors = nlohmann::json::array();
    for (const auto& e : report.errors)
      errors.push_back({{"file", e.where.file},
                        {"line", e.where.line},
                        {"column", e.where.column},
                        {"message", e.message}});
    nlohmann::json out = {{"ok", report.ok()},
                          {"manifest", report.manifest_path ? nlohmann::json(*report.manifest_path)
                                                            : nlohmann::json(nullptr)},
                          {"namespaces", report.namespaces},
                          {"instances", report.instances},
                          {"errors", std::move(errors)}};
    std::cout << out.dump(2) << "\n";
    return report.ok() ? k_exit_ok : k_exit_error;
  }
  if (!report.ok()) {
    for (const auto& e : report.errors) std::cerr << e.to_string() << "\n";
    return k_exit_error;
  }
  auto count = [](std::size_t n, const char* noun) {
    return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
  };
  std::cout << "manifest OK: " << count(report.namespaces, "namespace") << ", "
            << count(report.instances, "instance") << "\n";
  return k_exit_ok;
}

}  // namespace cli
