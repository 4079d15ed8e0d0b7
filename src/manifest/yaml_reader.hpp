#pragma once

// Internal to src/manifest (the only yaml-cpp user): strict, error-collecting reading of YAML
// nodes, shared by the manifest loader and the daemon config loader. Not for other modules.

#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "manifest/model.hpp"
#include "util/duration.hpp"
#include "util/env_expand.hpp"

namespace manifest::detail {

inline constexpr std::size_t k_max_input_bytes = 16u * 1024u * 1024u;  // per file
inline constexpr std::size_t k_max_errors = 200;         // per load, then one "too many" line
inline constexpr std::size_t k_max_visited = 5'000'000;  // nodes walked, aliases included

// How a plain (unquoted) scalar resolves under the YAML 1.2 core schema.
enum class PlainKind { null, boolean, integer, floating, string };
PlainKind classify_plain(std::string_view text);

// Collects errors for one load; every reader below appends to it and never throws.
class Diagnostics {
 public:
  explicit Diagnostics(std::vector<ManifestError>& out) : m_out(out) {}
  void add(SourceLocation where, std::string message);
  bool full() const { return m_full; }
  std::size_t count() const { return m_out.size(); }

 private:
  std::vector<ManifestError>& m_out;
  bool m_full = false;
};

// A position in the input, 0-based (printed 1-based).
struct Mark {
  int pos = -1;
  int line = -1;
  int column = -1;
  bool is_null() const { return line < 0; }
};

// A parsed YAML node. The tree is built from yaml-cpp's parser events (cheaper than
// YAML::Node for large manifests); an alias points at its anchor's node, so aliases are
// shared, never copied (an alias bomb stays small).
struct YNode {
  enum class Kind { null, scalar, sequence, map };
  Kind kind = Kind::null;
  bool plain = true;  // scalar written without quotes, block style or tag
  Mark mark;
  std::string text;                    // scalar
  std::vector<const YNode*> children;  // sequence items; map: key, value, key, value, ...

  bool IsNull() const { return kind == Kind::null; }
  bool IsScalar() const { return kind == Kind::scalar; }
  bool IsSequence() const { return kind == Kind::sequence; }
  bool IsMap() const { return kind == Kind::map; }
  const std::string& Scalar() const { return text; }
  std::size_t size() const { return kind == Kind::map ? children.size() / 2 : children.size(); }
  // Whether a mapping has this (scalar) key.
  bool has_key(std::string_view key) const;
};

// One mapping entry, key already checked to be a scalar.
struct Entry {
  std::string key;
  const YNode* key_node = nullptr;
  const YNode* value = nullptr;
};

// The text of a scalar after ${VAR} expansion.
struct ScalarText {
  std::string value;
  bool plain = true;      // written without quotes (and not a block scalar)
  bool expanded = false;  // contained a ${...} reference
};

// Reads the nodes of one file. `file` names it in every error.
class Reader {
 public:
  Reader(std::string file, const util::EnvLookup& env, Diagnostics& diag);

  const std::string& file() const { return m_file; }
  SourceLocation where(const Mark& mark) const;
  // The location to blame for a value: its own mark, or its key's when the value is empty.
  SourceLocation where(const Entry& e) const;
  void error(const Mark& mark, std::string message);
  void error(const Entry& e, std::string message) { m_diag.add(where(e), std::move(message)); }
  void error_at(SourceLocation where, std::string message) {
    m_diag.add(std::move(where), std::move(message));
  }
  bool stopped() const { return m_diag.full() || m_visited > k_max_visited; }

  // Parses every YAML document of `text`; reports syntax errors (with tabs and nesting depth
  // explained) and returns no document then. The nodes live as long as this Reader.
  std::vector<const YNode*> parse(std::string_view text);

  // The entries of a mapping, in file order. Reports duplicate keys (the later one is dropped)
  // and non-scalar keys. `what` names the mapping for a "must be a mapping" error; a null node
  // yields no entries and no error.
  std::vector<Entry> entries(const YNode* map, const Entry* owner, std::string_view what);
  // Counts a visited node against the alias-expansion budget; false once exhausted.
  bool visit();

  // Reports an unknown key with a "did you mean" suggestion drawn from `allowed`.
  void unknown_key(const Entry& e, std::string_view context,
                   const std::vector<std::string>& allowed);

  // Typed scalar readers: std::nullopt after an error was reported. `name` prefixes messages.
  std::optional<ScalarText> text(const Entry& e, std::string_view name);
  std::optional<std::string> string(const Entry& e, std::string_view name);
  std::optional<bool> boolean(const Entry& e, std::string_view name);
  std::optional<long long> integer(const Entry& e, std::string_view name);
  std::optional<util::Millis> duration(const Entry& e, std::string_view name);
  // One of `allowed` (case-insensitive); returns the catalogue spelling.
  std::optional<std::string> one_of(const Entry& e, std::string_view name,
                                    const std::vector<std::string>& allowed);
  // A list of strings (a single string is not accepted).
  std::optional<std::vector<std::string>> string_list(const Entry& e, std::string_view name);

  // Describes a node's kind for "expected X, got Y" messages.
  static std::string describe(const YNode* node);

 private:
  std::string m_file;
  const util::EnvLookup& m_env;
  Diagnostics& m_diag;
  std::size_t m_visited = 0;
  std::deque<YNode> m_nodes;
};

// Integer / number parsing of scalar text (decimal, or 0x / 0o for integers).
std::optional<long long> parse_integer(std::string_view text);
std::optional<double> parse_number(std::string_view text);
bool parse_bool(std::string_view text, bool& out);

}  // namespace manifest::detail
