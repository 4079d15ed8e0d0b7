#include "manifest/model.hpp"

namespace manifest {

std::string SourceLocation::to_string() const {
  if (line <= 0) return file;  // the file as a whole (unreadable, too large, ...)
  return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

std::size_t Manifest::instance_count() const {
  std::size_t n = 0;
  for (const auto& [name, ns] : namespaces) n += ns.instances.size();
  return n;
}

std::string ManifestError::to_string() const {
  return where.to_string() + ": " + message;
}

}  // namespace manifest
