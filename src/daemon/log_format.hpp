#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace service {

// JSON string escaping of `text` (no surrounding quotes): quote, backslash and control
// characters; invalid UTF-8 bytes become U+FFFD so every line stays valid JSON.
std::string json_escape(std::string_view text);

// The key=value pairs of a log line ("action=create namespace=default instance=docs
// fields=a,b result=done error=\"HTTP 500\""), in order: keys of [a-z_] only; a value is bare
// (up to the next space; a trailing ':' or ',' is punctuation, not value) or double-quoted with
// backslash escapes. Words without '=' are free text and skipped.
std::vector<std::pair<std::string, std::string>> log_fields(std::string_view message);

// Switches the default spdlog logger to one JSON object per line, with the message escaped:
//   {"time":"2026-01-01T00:00:00.000+0000","level":"info","msg":"...", "action": "create", ...}
// The message's key=value pairs (log_fields) are fields of their own: `fields`, `unstable` as
// arrays of strings ("-" = empty), whole numbers as numbers, everything else as strings; a pair
// named time, level, msg or priority stays in msg only. No "time" under journald, which stamps
// lines itself.
void use_json_log_format(bool journald);

// Plain text lines: "2026-01-01 00:00:00.000 info: ..." on a terminal or file, "info: ..."
// under journald.
void use_text_log_format(bool journald);

// Under journald ($JOURNAL_STREAM) every line, text or JSON, starts with its sd-daemon priority
// ("<3>" error, "<4>" warning, "<6>" info, "<7>" debug and trace; "<2>" critical), so
// `journalctl -p warning` filters by the level aisearchd logged.
int journald_priority(int spdlog_level);

}  // namespace service
