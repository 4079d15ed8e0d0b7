#include "manifest/yaml_reader.hpp"

#include <yaml-cpp/depthguard.h>

#include <charconv>
#include <cmath>
#include <exception>

#include "util/strings.hpp"

namespace manifest::detail {

namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool all_of(std::string_view s, bool (*pred)(char)) {
  if (s.empty()) return false;
  for (char c : s)
    if (!pred(c)) return false;
  return true;
}

bool is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
bool is_oct(char c) {
  return c >= '0' && c <= '7';
}

// [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
bool looks_float(std::string_view s) {
  std::size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  std::size_t int_digits = 0, frac_digits = 0;
  while (i < s.size() && is_digit(s[i])) ++i, ++int_digits;
  bool dot = false;
  if (i < s.size() && s[i] == '.') {
    dot = true;
    ++i;
    while (i < s.size() && is_digit(s[i])) ++i, ++frac_digits;
  }
  if (int_digits == 0 && frac_digits == 0) return false;
  bool exponent = false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    std::size_t exp_digits = 0;
    while (i < s.size() && is_digit(s[i])) ++i, ++exp_digits;
    if (exp_digits == 0) return false;
    exponent = true;
  }
  return i == s.size() && (dot || exponent);
}

// The position of the first tab used as indentation on lines [0, last_line], if any.
std::optional<YAML::Mark> indentation_tab(std::string_view text, int last_line) {
  int line = 0;
  std::size_t start = 0;
  while (start <= text.size() && line <= last_line) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    for (std::size_t i = start; i < end; ++i) {
      if (text[i] == '\t') {
        YAML::Mark m;
        m.line = line;
        m.column = static_cast<int>(i - start);
        return m;
      }
      if (text[i] != ' ') break;
    }
    start = end + 1;
    ++line;
  }
  return std::nullopt;
}

// Where flow collections first nest deeper than `limit` (quotes and comments skipped roughly).
std::optional<YAML::Mark> deep_flow_position(std::string_view text, int limit) {
  int depth = 0, line = 0, column = 0;
  char quote = 0;
  bool comment = false;
  for (std::size_t i = 0; i < text.size(); ++i, ++column) {
    char c = text[i];
    if (c == '\n') {
      ++line;
      column = -1;
      comment = false;
      continue;
    }
    if (comment) continue;
    if (quote) {
      if (c == quote) quote = 0;
      continue;
    }
    if (c == '"' || c == '\'')
      quote = c;
    else if (c == '#' && (i == 0 || text[i - 1] == ' ' || text[i - 1] == '\t'))
      comment = true;
    else if (c == '[' || c == '{') {
      if (++depth > limit) {
        YAML::Mark m;
        m.line = line;
        m.column = column;
        return m;
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return std::nullopt;
}

}  // namespace

PlainKind classify_plain(std::string_view s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return PlainKind::null;
  if (s == "true" || s == "True" || s == "TRUE" || s == "false" || s == "False" || s == "FALSE")
    return PlainKind::boolean;
  if (parse_integer(s)) return PlainKind::integer;
  if (looks_float(s)) return PlainKind::floating;
  for (std::string_view special : {".inf", ".Inf", ".INF", "-.inf", "-.Inf", "-.INF", "+.inf",
                                   "+.Inf", "+.INF", ".nan", ".NaN", ".NAN"})
    if (s == special) return PlainKind::floating;
  return PlainKind::string;
}

std::optional<long long> parse_integer(std::string_view s) {
  std::string_view digits = s;
  bool negative = false;
  if (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) {
    negative = digits[0] == '-';
    digits.remove_prefix(1);
  }
  int base = 10;
  if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'o')) {
    if (s.size() != digits.size()) return std::nullopt;  // no sign on 0x / 0o
    base = digits[1] == 'x' ? 16 : 8;
    digits.remove_prefix(2);
    if (!all_of(digits, base == 16 ? is_hex : is_oct)) return std::nullopt;
  } else if (!all_of(digits, is_digit)) {
    return std::nullopt;
  }
  unsigned long long magnitude = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), magnitude, base);
  if (ec != std::errc() || ptr != digits.data() + digits.size()) return std::nullopt;
  if (magnitude > 9'000'000'000'000'000'000ULL) return std::nullopt;
  auto value = static_cast<long long>(magnitude);
  return negative ? -value : value;
}

std::optional<double> parse_number(std::string_view s) {
  if (auto i = parse_integer(s)) return static_cast<double>(*i);
  if (!looks_float(s)) return std::nullopt;
  if (s.front() == '+') s.remove_prefix(1);
  double value = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || ptr != s.data() + s.size() || !std::isfinite(value)) return std::nullopt;
  return value;
}

bool parse_bool(std::string_view s, bool& out) {
  if (s == "true" || s == "True" || s == "TRUE") {
    out = true;
    return true;
  }
  if (s == "false" || s == "False" || s == "FALSE") {
    out = false;
    return true;
  }
  return false;
}

void Diagnostics::add(SourceLocation where, std::string message) {
  if (m_full) return;
  if (m_out.size() >= k_max_errors) {
    m_out.push_back(
        {std::move(where), "too many errors; stopping after " + std::to_string(k_max_errors)});
    m_full = true;
    return;
  }
  m_out.push_back({std::move(where), std::move(message)});
}

Reader::Reader(std::string file, const util::EnvLookup& env, Diagnostics& diag)
    : m_file(std::move(file)), m_env(env), m_diag(diag) {}

SourceLocation Reader::where(const YAML::Mark& mark) const {
  if (mark.is_null()) return {m_file, 1, 1};
  return {m_file, mark.line + 1, mark.column + 1};
}

SourceLocation Reader::where(const Entry& e) const {
  if (e.value.IsDefined() && !e.value.IsNull()) return where(e.value.Mark());
  return where(e.key_node.Mark());
}

void Reader::error(const YAML::Mark& mark, std::string message) {
  m_diag.add(where(mark), std::move(message));
}

bool Reader::visit() {
  if (m_visited == k_max_visited) {
    m_diag.add({m_file, 1, 1}, "document too large: more than " + std::to_string(k_max_visited) +
                                   " nodes after alias expansion");
  }
  return ++m_visited <= k_max_visited;
}

std::vector<YAML::Node> Reader::parse(std::string_view text) {
  if (text.size() > k_max_input_bytes) {
    m_diag.add({m_file, 0, 0}, "file too large: " + std::to_string(text.size()) +
                                   " bytes (the limit is " +
                                   std::to_string(k_max_input_bytes / (1024 * 1024)) + " MiB)");
    return {};
  }
  try {
    return YAML::LoadAll(std::string(text));
  } catch (const YAML::DeepRecursion& e) {
    auto at = deep_flow_position(text, 64);
    error(at ? *at : e.mark,
          "nesting too deep (more than " + std::to_string(e.depth()) + " levels)");
  } catch (const YAML::Exception& e) {
    int line = e.mark.is_null() ? 0 : e.mark.line;
    if (auto tab = indentation_tab(text, line)) {
      error(*tab, "tab character in indentation (YAML indents with spaces only)");
    } else {
      error(e.mark, "YAML syntax error: " + e.msg);
    }
  } catch (const std::exception& e) {
    m_diag.add({m_file, 1, 1}, std::string("cannot parse: ") + e.what());
  }
  return {};
}

std::string Reader::describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return "nothing (null)";
    case YAML::NodeType::Scalar:
      break;
  }
  const std::string& s = node.Scalar();
  std::string shown = s;
  if (shown.size() > 40) {
    shown.resize(40);
    shown.append("...");
  }
  if (node.Tag() != "?") return "the string \"" + shown + "\"";
  switch (classify_plain(s)) {
    case PlainKind::boolean:
      return "the boolean " + shown;
    case PlainKind::integer:
      return "the integer " + shown;
    case PlainKind::floating:
      return "the number " + shown;
    default:
      return "\"" + shown + "\"";
  }
}

std::vector<Entry> Reader::entries(const YAML::Node& map, const Entry* owner,
                                   std::string_view what) {
  std::vector<Entry> out;
  if (!map.IsDefined() || map.IsNull() || stopped()) return out;
  if (!map.IsMap()) {
    std::string message = std::string(what) + ": expected a mapping, got " + describe(map);
    if (owner)
      error(*owner, std::move(message));
    else
      error(map.Mark(), std::move(message));
    return out;
  }
  out.reserve(map.size());
  std::unordered_map<std::string, YAML::Mark> seen;
  for (auto it = map.begin(); it != map.end(); ++it) {
    if (!visit()) break;
    const YAML::Node& key = it->first;
    if (!key.IsScalar()) {
      error(key.Mark(), std::string(what) + ": keys must be plain strings, got " + describe(key));
      continue;
    }
    auto [pos, inserted] = seen.emplace(key.Scalar(), key.Mark());
    if (!inserted) {
      error(key.Mark(), "duplicate key \"" + key.Scalar() + "\" (first at line " +
                            std::to_string(pos->second.line + 1) + ", column " +
                            std::to_string(pos->second.column + 1) + ")");
      continue;
    }
    out.push_back({key.Scalar(), key, it->second});
  }
  return out;
}

void Reader::unknown_key(const Entry& e, std::string_view context,
                         const std::vector<std::string>& allowed) {
  std::string message = "unknown key \"" + e.key + "\" in " + std::string(context);
  if (auto guess = util::closest_match(e.key, allowed))
    message += " (did you mean \"" + *guess + "\"?)";
  error(e.key_node.Mark(), std::move(message));
}

std::optional<ScalarText> Reader::text(const Entry& e, std::string_view name) {
  if (!e.value.IsScalar()) {
    error(e, std::string(name) + ": expected a value, got " + describe(e.value));
    return std::nullopt;
  }
  ScalarText out;
  out.plain = e.value.Tag() == "?";
  const std::string& raw = e.value.Scalar();
  if (raw.find('$') == std::string::npos) {
    out.value = raw;
    return out;
  }
  auto expanded = util::expand_env(raw, m_env);
  if (!expanded) {
    error(e, std::string(name) + ": " + expanded.error().message);
    return std::nullopt;
  }
  out.expanded = raw.find("${") != std::string::npos;
  out.value = std::move(expanded.value());
  return out;
}

std::optional<std::string> Reader::string(const Entry& e, std::string_view name) {
  if (!e.value.IsScalar()) {
    error(e, std::string(name) + ": expected a string, got " + describe(e.value));
    return std::nullopt;
  }
  auto t = text(e, name);
  if (!t) return std::nullopt;
  if (t->plain && !t->expanded) {
    PlainKind kind = classify_plain(t->value);
    if (kind != PlainKind::string) {
      error(e, std::string(name) + ": expected a string, got " + describe(e.value) +
                   " (quote it: \"" + t->value + "\")");
      return std::nullopt;
    }
  }
  return std::move(t->value);
}

std::optional<bool> Reader::boolean(const Entry& e, std::string_view name) {
  if (e.value.IsScalar()) {
    auto t = text(e, name);
    if (!t) return std::nullopt;
    bool b = false;
    if ((t->plain || t->expanded) && parse_bool(t->value, b)) return b;
  }
  error(e, std::string(name) + ": expected true or false, got " + describe(e.value));
  return std::nullopt;
}

std::optional<long long> Reader::integer(const Entry& e, std::string_view name) {
  if (e.value.IsScalar()) {
    auto t = text(e, name);
    if (!t) return std::nullopt;
    if (t->plain || t->expanded)
      if (auto i = parse_integer(t->value)) return i;
  }
  error(e, std::string(name) + ": expected an integer, got " + describe(e.value));
  return std::nullopt;
}

std::optional<util::Millis> Reader::duration(const Entry& e, std::string_view name) {
  if (!e.value.IsScalar()) {
    error(e, std::string(name) + ": expected a duration such as 30s, 5m or 1h30m, got " +
                 describe(e.value));
    return std::nullopt;
  }
  auto t = text(e, name);
  if (!t) return std::nullopt;
  auto d = util::parse_duration(t->value);
  if (!d) {
    error(e, std::string(name) + ": " + d.error());
    return std::nullopt;
  }
  return d.value();
}

std::optional<std::string> Reader::one_of(const Entry& e, std::string_view name,
                                          const std::vector<std::string>& allowed) {
  auto s = string(e, name);
  if (!s) return std::nullopt;
  for (const auto& a : allowed)
    if (util::iequals(a, *s)) return a;
  error(e, std::string(name) + ": \"" + *s + "\" is not one of: " + util::join(allowed, ", "));
  return std::nullopt;
}

std::optional<std::vector<std::string>> Reader::string_list(const Entry& e, std::string_view name) {
  if (e.value.IsNull()) return std::vector<std::string>{};
  if (!e.value.IsSequence()) {
    error(e, std::string(name) + ": expected a list of strings, got " + describe(e.value));
    return std::nullopt;
  }
  std::vector<std::string> out;
  bool ok = true;
  for (const auto& item : e.value) {
    if (!visit()) return std::nullopt;
    Entry item_entry{e.key, item, item};
    if (auto s = string(item_entry, name))
      out.push_back(std::move(*s));
    else
      ok = false;
  }
  if (!ok) return std::nullopt;
  return out;
}

}  // namespace manifest::detail
