#pragma once

#include <string>
#include <string_view>

namespace service {

// JSON string escaping of `text` (no surrounding quotes): quote, backslash and control
// characters; invalid UTF-8 bytes become U+FFFD so every line stays valid JSON.
std::string json_escape(std::string_view text);

// Switches the default spdlog logger to one JSON object per line, with the message escaped:
//   {"time":"2026-01-01T00:00:00.000+0000","level":"info","msg":"..."}
// (no "time" under journald, which stamps lines itself).
void use_json_log_format(bool journald);

}  // namespace service
