#pragma once

// Writing a manifest as YAML (`aisearchd export`): the inverse of the loader, so it lives beside
// it (src/manifest is the only yaml-cpp user).

#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/result.hpp"

namespace manifest {

inline constexpr std::size_t k_max_emit_depth = 64;

// `document` (a JSON object holding the manifest's keys, e.g. apiVersion and namespaces) as YAML
// that the loader reads back as the same values: block style, keys in the document's (sorted)
// order; a string plain only where it cannot read as anything else (a letter or '_' first, then
// letters, digits and _ . - /; never a YAML 1.1 or 1.2 null, boolean or number), else
// double-quoted with escapes; every '$' in a string value written "$$" (the loader expands
// ${VAR} in values, not in keys); integers as integers, other numbers in their shortest form
// that reads back exactly (with a '.' or an exponent); empty objects and lists as {} and [].
// `comments` come first, one "# line" each (control characters shown as '?').
//
// Fails, never throws, on nesting deeper than k_max_emit_depth, a string or key that is not
// valid UTF-8, or a number that is not finite.
util::Result<std::string, std::string> emit_yaml(const nlohmann::json& document,
                                                 const std::vector<std::string>& comments = {});

// Whether `text` may be written as a plain (unquoted) YAML scalar under the rule above.
bool plain_safe(const std::string& text);

}  // namespace manifest
