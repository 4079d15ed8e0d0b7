#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "manifest/model.hpp"
#include "util/env_expand.hpp"
#include "util/result.hpp"

namespace manifest {

// Loads and strictly validates a manifest (PRODUCT.md §4).
//
// `path` is a file, or a directory whose `*.yaml` / `*.yml` files (sorted by name, not recursive,
// hidden files ignored) are merged: a namespace may span files, an instance may not, and a
// namespace setting (or a `defaults` field) given in two files must have the same value. An
// empty directory, or a file without namespaces, is a valid empty manifest. A file may hold
// several YAML documents (`---`); each is read like a file of its own.
//
// Merge order for the API fields of an instance: top-level `defaults`, then the namespace's
// `defaults`, then the instance. Objects merge key by key; lists, free-form maps
// (include_headers) and `public_endpoint_params` (which the API replaces whole) are replaced
// whole; a null replaces anything.
//
// Scalars: `${VAR}` and `${VAR:-default}` are expanded in every scalar value (not in keys);
// an unset variable is an error at that scalar. Plain scalars are typed as in YAML 1.2 (`512`
// is an integer, `true` a boolean, `~` null), so a quoted "512" for an integer field and an
// unquoted 2024 for a string field are type errors; a scalar containing a `${...}` reference
// takes the type of its field after expansion. Enum values compare case-insensitively and are
// stored in the catalogue's spelling.
//
// Fails with every error found (each with file:line:column, 1-based), never throws. Hostile
// input is bounded: 16 MiB per file, nesting depth, alias expansion and the error count.
util::Result<Manifest, std::vector<ManifestError>> load_manifest(const std::filesystem::path& path,
                                                                 const util::EnvLookup& env);

// Errors about the manifest path itself (it is missing or unreadable) when that path is a config
// file's `manifest:` setting, one nobody typed on the command line: each names where it came from.
void attribute_manifest_path(std::vector<ManifestError>& errors, const std::string& path,
                             const std::string& config_file);

// The same for one in-memory document set; `filename` names it in errors.
util::Result<Manifest, std::vector<ManifestError>> load_manifest_string(std::string_view yaml,
                                                                        const std::string& filename,
                                                                        const util::EnvLookup& env);

// Several named texts merged as the files of a directory, in the given order (tests, fuzzing).
struct ManifestSource {
  std::string filename;
  std::string text;
};
util::Result<Manifest, std::vector<ManifestError>> load_manifest_sources(
    const std::vector<ManifestSource>& sources, const util::EnvLookup& env);

// Every dotted path that `ignore_changes` accepts (the field catalogue flattened).
std::vector<std::string> ignorable_field_paths();

}  // namespace manifest
