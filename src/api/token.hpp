#pragma once

#include <string>

#include "util/env_expand.hpp"
#include "util/result.hpp"

namespace api {

// Finds the API token, first found wins (PRODUCT.md §2): $CLOUDFLARE_API_TOKEN; the file named by
// `api_token_file` (when not empty); $CREDENTIALS_DIRECTORY/cloudflare-api-token (systemd
// LoadCredential=). Trailing newlines and spaces are trimmed; an empty value counts as not found.
// Fails when nothing is found (the message lists where it looked) or when the named
// `api_token_file` is missing or cannot be read (the message names the file, never its content).
util::Result<std::string, std::string> resolve_token(const std::string& api_token_file,
                                                     const util::EnvLookup& env);

}  // namespace api
