#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace util {

// Text fit for an error message or log line: `secret` and "Bearer <credential>" replaced by
// "[redacted]", control characters and runs of white space collapsed to one space, then cut to
// at most `max_len` bytes (at a UTF-8 boundary), the "..." that marks a cut included.
std::string sanitize_text(std::string_view text, std::string_view secret, std::size_t max_len);

}  // namespace util
