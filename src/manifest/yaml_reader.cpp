#include "manifest/yaml_reader.hpp"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/parser.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <exception>
#include <optional>
#include <sstream>
#include <unordered_map>
#include <utility>

#include "util/strings.hpp"
#include "util/utf8.hpp"

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
std::optional<Mark> indentation_tab(std::string_view text, int last_line) {
  int line = 0;
  std::size_t start = 0;
  while (start <= text.size() && line <= last_line) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    for (std::size_t i = start; i < end; ++i) {
      if (text[i] == '\t') {
        Mark m;
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
std::optional<Mark> deep_flow_position(std::string_view text, int limit) {
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
        Mark m;
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

// The character at a mark (0 when out of range).
char char_at(std::string_view text, const Mark& mark) {
  if (mark.is_null() || mark.pos < 0 || static_cast<std::size_t>(mark.pos) >= text.size()) return 0;
  return text[static_cast<std::size_t>(mark.pos)];
}

Mark mark_of(const YAML::Mark& m) {
  return {m.pos, m.line, m.column};
}

// Builds YNode trees from parser events into an arena.
class TreeBuilder : public YAML::EventHandler {
 public:
  explicit TreeBuilder(std::deque<YNode>& arena) : m_arena(arena) {}

  const YNode* root() const { return m_root; }
  void reset() {
    m_root = nullptr;
    m_stack.clear();
    m_anchors.clear();
  }

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    YNode& n = make(YNode::Kind::null, mark, anchor);
    add(&n);
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto it = m_anchors.find(anchor);
    if (it == m_anchors.end()) {  // the parser reports unknown anchors itself; be safe anyway
      add(&make(YNode::Kind::null, mark, YAML::NullAnchor));
      return;
    }
    add(it->second);
  }
  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    YNode& n = make(YNode::Kind::scalar, mark, anchor);
    n.plain = tag == "?";
    n.text = value;
    add(&n);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    YNode& n = make(YNode::Kind::sequence, mark, anchor);
    add(&n);
    m_stack.push_back(&n);
  }
  void OnSequenceEnd() override { m_stack.pop_back(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    YNode& n = make(YNode::Kind::map, mark, anchor);
    add(&n);
    m_stack.push_back(&n);
  }
  void OnMapEnd() override { m_stack.pop_back(); }

 private:
  YNode& make(YNode::Kind kind, const YAML::Mark& mark, YAML::anchor_t anchor) {
    YNode& n = m_arena.emplace_back();
    n.kind = kind;
    n.mark = mark_of(mark);
    if (anchor != YAML::NullAnchor) m_anchors[anchor] = &n;
    return n;
  }
  void add(const YNode* n) {
    if (m_stack.empty()) {
      if (!m_root) m_root = n;
      return;
    }
    m_stack.back()->children.push_back(n);
  }

  std::deque<YNode>& m_arena;
  const YNode* m_root = nullptr;
  std::vector<YNode*> m_stack;
  std::unordered_map<YAML::anchor_t, const YNode*> m_anchors;
};

// The first byte that makes `text` unusable as YAML: invalid UTF-8 or a NUL (yaml-cpp can loop on
// NUL bytes), with its 1-based line and column (in code points) and why.
std::optional<std::pair<SourceLocation, std::string>> first_invalid_text(const std::string& file,
                                                                         std::string_view text) {
  int line = 1, column = 1;
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    const auto cp = util::decode_utf8(text.substr(i));
    if (!cp || c == 0) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02X", c);
      return std::pair{
          SourceLocation{file, line, column},
          c == 0 ? std::string("a NUL byte: the file must be UTF-8 text")
                 : std::string("invalid UTF-8 (byte ") + hex + "): the file must be UTF-8 text"};
    }
    if (c == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
    i += cp->length;
  }
  return std::nullopt;
}

}  // namespace

bool YNode::has_key(std::string_view key) const {
  if (kind != Kind::map) return false;
  for (std::size_t i = 0; i + 1 < children.size(); i += 2)
    if (children[i]->IsScalar() && children[i]->text == key) return true;
  return false;
}

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

SourceLocation Reader::where(const Mark& mark) const {
  if (mark.is_null()) return {m_file, 1, 1};
  return {m_file, mark.line + 1, mark.column + 1};
}

SourceLocation Reader::where(const Entry& e) const {
  if (e.value && !e.value->IsNull()) return where(e.value->mark);
  return where(e.key_node->mark);
}

void Reader::error(const Mark& mark, std::string message) {
  m_diag.add(where(mark), std::move(message));
}

bool Reader::visit() {
  if (m_visited == k_max_visited) {
    m_diag.add({m_file, 1, 1}, "document too large: more than " + std::to_string(k_max_visited) +
                                   " nodes after alias expansion");
  }
  return ++m_visited <= k_max_visited;
}

std::vector<const YNode*> Reader::parse(std::string_view text) {
  if (text.size() > k_max_input_bytes) {
    m_diag.add({m_file, 0, 0}, "file too large: " + std::to_string(text.size()) +
                                   " bytes (the limit is " +
                                   std::to_string(k_max_input_bytes / (1024 * 1024)) + " MiB)");
    return {};
  }
  if (auto bad = first_invalid_text(m_file, text)) {
    m_diag.add(bad->first, bad->second);
    return {};
  }
  std::vector<const YNode*> docs;
  try {
    std::istringstream in{std::string(text)};
    YAML::Parser parser(in);
    TreeBuilder builder(m_nodes);
    // yaml-cpp 0.7 can stop on a token it cannot place (a ',' outside a flow collection) and
    // report an empty document there again and again without consuming it: two empty documents
    // in a row at the same place mean the parser is stuck.
    constexpr int k_none = -2;  // Mark::pos is -1 for a mark-less null
    int last_empty_at = k_none;
    while (parser.HandleNextDocument(builder)) {
      const YNode* root = builder.root();
      if (!root || root->kind == YNode::Kind::null) {
        const int at = root ? root->mark.pos : -1;
        if (last_empty_at == at) {
          const Mark mark = root ? root->mark : Mark{};
          const char c = char_at(text, mark);
          error(mark, c > ' ' && c < 0x7F ? std::string("YAML syntax error: unexpected '") + c + "'"
                                          : std::string("YAML syntax error: unexpected character"));
          return {};
        }
        last_empty_at = at;
      } else {
        last_empty_at = k_none;
      }
      docs.push_back(root);
      builder.reset();
    }
    return docs;
  } catch (const YAML::DeepRecursion& e) {
    auto at = deep_flow_position(text, e.depth() - 1);
    error(at ? *at : mark_of(e.mark),
          "nesting too deep (more than " + std::to_string(e.depth()) + " levels)");
  } catch (const YAML::Exception& e) {
    int line = e.mark.is_null() ? 0 : e.mark.line;
    if (auto tab = indentation_tab(text, line)) {
      error(*tab, "tab character in indentation (YAML indents with spaces only)");
    } else {
      std::string message = "YAML syntax error: " + e.msg;
      if (char c = char_at(text, mark_of(e.mark)); c == '@' || c == '`')
        message += std::string(" (quote values that start with ") + c + ")";
      error(mark_of(e.mark), std::move(message));
    }
  } catch (const std::exception& e) {
    m_diag.add({m_file, 1, 1}, std::string("cannot parse: ") + e.what());
  }
  return {};
}

std::string Reader::describe(const YNode* node) {
  if (!node) return "nothing (null)";
  switch (node->kind) {
    case YNode::Kind::map:
      return "a mapping";
    case YNode::Kind::sequence:
      return "a list";
    case YNode::Kind::null:
      return "nothing (null)";
    case YNode::Kind::scalar:
      break;
  }
  const std::string& s = node->text;
  std::string shown = s;
  if (shown.size() > 40) {
    shown.resize(40);
    shown.append("...");
  }
  if (!node->plain) return "the string \"" + shown + "\"";
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

std::vector<Entry> Reader::entries(const YNode* map, const Entry* owner, std::string_view what) {
  std::vector<Entry> out;
  if (!map || map->IsNull() || stopped()) return out;
  if (!map->IsMap()) {
    std::string message = std::string(what) + ": expected a mapping, got " + describe(map);
    if (owner)
      error(*owner, std::move(message));
    else
      error(map->mark, std::move(message));
    return out;
  }
  const std::size_t n = map->size();
  out.reserve(n);
  // Duplicate keys: a linear scan for the usual small mapping, a hash for large ones.
  std::unordered_map<std::string_view, const YNode*> seen;
  const bool hashed = n > 16;
  if (hashed) seen.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (!visit()) break;
    const YNode* key = map->children[2 * i];
    const YNode* value = map->children[2 * i + 1];
    if (!key->IsScalar()) {
      error(key->mark, std::string(what) + ": keys must be plain strings, got " + describe(key));
      continue;
    }
    const YNode* first = nullptr;
    if (hashed) {
      auto [pos, inserted] = seen.emplace(key->text, key);
      if (!inserted) first = pos->second;
    } else {
      for (const auto& e : out)
        if (e.key == key->text) first = e.key_node;
    }
    if (first) {
      error(key->mark, "duplicate key \"" + key->text + "\" (first at line " +
                           std::to_string(first->mark.line + 1) + ", column " +
                           std::to_string(first->mark.column + 1) + ")");
      continue;
    }
    out.push_back({key->text, key, value});
  }
  return out;
}

void Reader::unknown_key(const Entry& e, std::string_view context,
                         const std::vector<std::string>& allowed) {
  std::string message = "unknown key \"" + e.key + "\" in " + std::string(context);
  if (auto guess = util::closest_match(e.key, allowed))
    message += " (did you mean \"" + *guess + "\"?)";
  error(e.key_node->mark, std::move(message));
}

std::optional<ScalarText> Reader::text(const Entry& e, std::string_view name) {
  if (!e.value->IsScalar()) {
    error(e, std::string(name) + ": expected a value, got " + describe(e.value));
    return std::nullopt;
  }
  ScalarText out;
  out.plain = e.value->plain;
  const std::string& raw = e.value->text;
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
  if (!e.value->IsScalar()) {
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
  if (e.value->IsScalar()) {
    auto t = text(e, name);
    if (!t) return std::nullopt;
    bool b = false;
    if ((t->plain || t->expanded) && parse_bool(t->value, b)) return b;
  }
  error(e, std::string(name) + ": expected true or false, got " + describe(e.value));
  return std::nullopt;
}

std::optional<long long> Reader::integer(const Entry& e, std::string_view name) {
  if (e.value->IsScalar()) {
    auto t = text(e, name);
    if (!t) return std::nullopt;
    if (t->plain || t->expanded)
      if (auto i = parse_integer(t->value)) return i;
  }
  error(e, std::string(name) + ": expected an integer, got " + describe(e.value));
  return std::nullopt;
}

std::optional<util::Millis> Reader::duration(const Entry& e, std::string_view name) {
  if (!e.value->IsScalar()) {
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
  if (e.value->IsNull()) return std::vector<std::string>{};
  if (!e.value->IsSequence()) {
    error(e, std::string(name) + ": expected a list of strings, got " + describe(e.value));
    return std::nullopt;
  }
  std::vector<std::string> out;
  bool ok = true;
  for (const YNode* item : e.value->children) {
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
