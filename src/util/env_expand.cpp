#include "util/env_expand.hpp"

#include <cctype>
#include <cstdlib>

namespace util {

EnvLookup process_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  };
}

Result<std::string, ExpandError> expand_env(std::string_view text, const EnvLookup& env) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (c == '$' && i + 1 < text.size() && text[i + 1] == '$') {
      out += '$';
      i += 2;
      continue;
    }
    if (c != '$' || i + 1 >= text.size() || text[i + 1] != '{') {
      out += c;
      ++i;
      continue;
    }
    std::size_t start = i;
    std::size_t close = text.find('}', i + 2);
    if (close == std::string_view::npos)
      return Err(ExpandError{start, "unterminated \"${\" (a literal $ is written $$)"});
    std::string_view inner = text.substr(i + 2, close - i - 2);
    std::string_view name = inner;
    std::optional<std::string_view> fallback;
    if (auto sep = inner.find(":-"); sep != std::string_view::npos) {
      name = inner.substr(0, sep);
      fallback = inner.substr(sep + 2);
    }
    bool valid = !name.empty() && !std::isdigit(static_cast<unsigned char>(name[0]));
    for (char n : name) valid = valid && (std::isalnum(static_cast<unsigned char>(n)) || n == '_');
    if (!valid)
      return Err(ExpandError{start, "invalid variable name \"" + std::string(name) + "\""});
    auto value = env(std::string(name));
    if (value && !value->empty()) {
      out += *value;
    } else if (fallback) {
      out += *fallback;
    } else if (value) {
      out += *value;
    } else {
      return Err(ExpandError{start, "environment variable " + std::string(name) +
                                        " is not set (give a default with ${" + std::string(name) +
                                        ":-value})"});
    }
    i = close + 1;
  }
  return out;
}

}  // namespace util
