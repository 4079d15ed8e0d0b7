#include "util/sanitize.hpp"

#include <algorithm>

#include "util/strings.hpp"
#include "util/utf8.hpp"

namespace util {
namespace {

std::string replace_all(const std::string& s, std::string_view needle, std::string_view with) {
  if (needle.empty()) return s;
  std::string out;
  out.reserve(s.size());
  std::size_t pos = 0;
  for (;;) {
    const std::size_t found = s.find(needle, pos);
    if (found == std::string::npos) break;
    out.append(s, pos, found - pos);
    out.append(with);
    pos = found + needle.size();
  }
  out.append(s, pos, std::string::npos);
  return out;
}

bool is_credential_char(char c) {
  return !(c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '"' || c == '\'' || c == ',' ||
           c == ';' || c == '<' || c == '>' || c == '\\' || c == '}' || c == ']' || c == '&');
}

// Redacts the credential after a marker such as "bearer" (case-insensitive): the separators that
// follow it (which must include one of `required`), then the run of credential characters.
std::string redact_after(const std::string& s, std::string_view marker, std::string_view separators,
                         std::string_view required) {
  const std::string lower = to_lower(s);
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  for (;;) {
    const std::size_t found = lower.find(marker, i);
    if (found == std::string::npos) break;
    std::size_t start = found + marker.size();
    out.append(s, i, start - i);
    bool has_required = false;
    std::size_t value = start;
    while (value < s.size() && separators.find(s[value]) != std::string_view::npos) {
      has_required = has_required || required.find(s[value]) != std::string_view::npos;
      ++value;
    }
    std::size_t end = value;
    while (end < s.size() && is_credential_char(s[end])) ++end;
    const bool already = s.compare(value, 10, "[redacted]") == 0;
    if (has_required && end > value && !already) {
      out.append(s, start, value - start);
      out.append("[redacted]");
      i = end;
    } else {
      i = start;
    }
  }
  out.append(s, i, std::string::npos);
  return out;
}

}  // namespace

std::string sanitize_text(std::string_view text, std::string_view secret, std::size_t max_len) {
  std::string s(text.substr(0, std::min<std::size_t>(text.size(), 1 << 20)));
  // A token too short to be a real one (Cloudflare's are 40 characters) would match ordinary
  // words; the Authorization/Bearer rules below still catch it when echoed as a header.
  if (secret.size() >= 6) s = replace_all(s, secret, "[redacted]");
  s = redact_after(s, "bearer", " \t", " \t");
  s = redact_after(s, "x-auth-key", " \t:\"'=", ":=");
  s = redact_after(s, "authorization", " \t:\"'=", ":=");
  s = sanitize_utf8(s, InvalidUtf8::question_mark);
  std::string out;
  out.reserve(std::min(s.size(), max_len + 3));
  bool space = false;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F || c == ' ') {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
    if (out.size() > max_len + 4) break;
  }
  if (out.size() <= max_len) return out;
  out.resize(utf8_prefix_length(out, max_len >= 3 ? max_len - 3 : 0));  // "..." included
  return out + "...";
}

}  // namespace util
