#pragma once

#include <nlohmann/json.hpp>

namespace manifest {

// The manifest's JSON Schema (draft 2020-12), generated from the field catalogue
// (model::instance_fields) so that it agrees with load_manifest: unknown keys, types, ranges,
// enums, patterns, lengths and item counts. Rules it cannot express stay the loader's alone: cron
// and time zone validity, duplicate keys, files merged from a directory, required keys of objects
// completed by `defaults`, case-insensitive enum spellings (the schema lists the canonical
// lower-case ones). Scalars written as `${VAR}` references are accepted wherever the loader
// expands them.
nlohmann::json manifest_json_schema();

}  // namespace manifest
