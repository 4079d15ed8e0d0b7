#pragma once

// Base64 (RFC 4648, the standard alphabet, with padding), as etcd's JSON gateway carries keys and
// values.

#include <string>
#include <string_view>

#include "util/result.hpp"

namespace util {

std::string base64_encode(std::string_view data);
// Fails on characters outside the base64 alphabet and on more than two '='.
Result<std::string, std::string> base64_decode(std::string_view text);

}  // namespace util
