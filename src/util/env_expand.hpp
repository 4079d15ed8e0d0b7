#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "util/result.hpp"

namespace util {

// Looks up an environment variable; std::nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

// The process environment.
EnvLookup process_env();

struct ExpandError {
  std::size_t offset = 0;  // byte offset of the "${" in the input
  std::string message;     // names the variable
};

// Expands ${VAR} and ${VAR:-default}; "$$" is a literal "$". An unset variable without a
// default, or an unterminated "${", is an error.
Result<std::string, ExpandError> expand_env(std::string_view text, const EnvLookup& env);

}  // namespace util
