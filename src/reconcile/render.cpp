#include "reconcile/render.hpp"

#include <algorithm>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/instance_fields.hpp"
#include "util/utf8.hpp"

namespace reconcile {
namespace {

using nlohmann::json;

constexpr const char* k_sensitive = "(sensitive)";
constexpr const char* k_replace_note =
    "the instance is deleted and created again: its index is rebuilt from the source";
constexpr const char* k_blocked_replace_note =
    "a replace deletes the instance and creates it again: its index is rebuilt from the source";

const char* replace_note(const Change& change) {
  return change.blocked ? k_blocked_replace_note : k_replace_note;
}

// ---------------------------------------------------------------------------------------------
// Text hygiene: every string that reaches an output is valid UTF-8, and text meant for a terminal
// or a comment carries no control characters (an instance's modified_by or an API error message
// comes from outside and could otherwise move the cursor or recolour the terminal).

void append_code_point_escape(std::string& out, std::uint32_t cp) {
  static constexpr char k_hex[] = "0123456789abcdef";
  out += "\\u";
  for (int shift = 12; shift >= 0; shift -= 4) out += k_hex[(cp >> shift) & 0xF];
}

// Code points a terminal or a renderer would act on rather than show: C0 and C1 controls, DEL
// and the bidirectional overrides ("Trojan Source").
bool is_unsafe_code_point(std::uint32_t cp) {
  return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || (cp >= 0x202A && cp <= 0x202E) ||
         (cp >= 0x2066 && cp <= 0x2069);
}

// `s` with invalid UTF-8 replaced by U+FFFD; with `escape_controls`, unsafe code points are
// written as \n, \t or \uXXXX.
std::string clean(std::string_view s, bool escape_controls) {
  const std::string valid = util::sanitize_utf8(s, util::InvalidUtf8::replacement_character);
  if (!escape_controls) return valid;
  std::string out;
  out.reserve(valid.size());
  const std::string_view rest(valid);
  for (std::size_t i = 0; i < rest.size();) {
    const util::CodePoint cp = util::decode_utf8(rest.substr(i)).value();  // `valid` is valid
    if (is_unsafe_code_point(cp.value)) {
      if (cp.value == '\n') {
        out += "\\n";
      } else if (cp.value == '\t') {
        out += "\\t";
      } else {
        append_code_point_escape(out, cp.value);
      }
    } else {
      out.append(rest.substr(i, cp.length));
    }
    i += cp.length;
  }
  return out;
}

bool is_plain_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u < 0x7F;
  });
}

// Valid UTF-8 (for JSON).
std::string utf8(std::string_view s) {
  return is_plain_ascii(s) ? std::string(s) : clean(s, false);
}

// Valid UTF-8 without control characters (for terminal and Markdown text).
std::string printable(std::string_view s) {
  return is_plain_ascii(s) ? std::string(s) : clean(s, true);
}

// ---------------------------------------------------------------------------------------------
// Values: masking and formatting.

std::string join_path(std::string_view parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  std::string out;
  out.reserve(parent.size() + 1 + key.size());
  out.append(parent).append(".").append(key);
  return out;
}

// A copy of `value` (found at `path`) that reveals nothing sensitive: inside objects, every value
// whose dotted path is sensitive becomes "(sensitive)" (keys stay visible: header names under
// include_headers are not secret, their values are); array items share their array's path.
// Strings and keys are made valid UTF-8.
json masked(std::string_view path, const json& value) {
  if (value.is_object()) {
    json out = json::object();
    for (const auto& [key, child] : value.items()) {
      out[utf8(key)] = masked(join_path(path, key), child);
    }
    return out;
  }
  if (!value.is_null() && !path.empty() && model::is_sensitive_path(path)) return k_sensitive;
  if (value.is_array()) {
    json out = json::array();
    for (const auto& item : value) out.push_back(masked(path, item));
    return out;
  }
  if (value.is_string()) return utf8(value.get_ref<const std::string&>());
  return value;
}

// A value as the text outputs show it: JSON (strings quoted), on one line, control characters
// escaped. "(sensitive)" is shown bare.
std::string format_value(const json& value) {
  if (value.is_string() && value.get_ref<const std::string&>() == k_sensitive) return k_sensitive;
  return printable(value.dump(-1, ' ', false, json::error_handler_t::replace));
}

// The leaves of a body, depth first in key order, masked. An empty object is a leaf.
void collect_leaves(const std::string& path, const json& value,
                    std::vector<std::pair<std::string, json>>& out) {
  if (value.is_object() && !value.empty()) {
    for (const auto& [key, child] : value.items()) collect_leaves(join_path(path, key), child, out);
    return;
  }
  out.emplace_back(path, masked(path, value));
}

// ---------------------------------------------------------------------------------------------
// The one view of a change that all three outputs render.

struct FieldLine {
  std::string path;
  json before;  // masked; null = absent
  json after;   // masked; null = absent
  bool reindex = false;
  bool unknown_before = false;
  bool forces_replacement = false;
};

bool shows_body(const Change& change) {
  if (change.action == Action::create) return !change.body.empty() || change.fields.empty();
  return change.action == Action::replace && change.fields.empty();
}

std::vector<FieldLine> field_lines(const Change& change) {
  std::vector<FieldLine> lines;
  if (shows_body(change)) {
    json body = change.body.is_object() ? change.body : json::object();
    if (change.followup_update.is_object()) body.update(change.followup_update, true);
    body.erase("id");  // the address names it
    if (body.empty()) return lines;
    std::vector<std::pair<std::string, json>> leaves;
    collect_leaves("", body, leaves);
    lines.reserve(leaves.size());
    for (auto& [path, value] : leaves) {
      FieldLine line;
      line.path = utf8(path);
      line.after = std::move(value);
      lines.push_back(std::move(line));
    }
    return lines;
  }
  lines.reserve(change.fields.size());
  for (const auto& field : change.fields) {
    FieldLine line;
    line.path = utf8(field.path);
    const auto mask = [&](const json& v) -> json {
      if (field.sensitive && !v.is_null()) return k_sensitive;
      return masked(field.path, v);
    };
    line.before = field.unknown_before ? json() : mask(field.before);
    line.after = mask(field.after);
    line.reindex = field.reindex;
    line.unknown_before = field.unknown_before;
    if (change.action == Action::replace && !change.is_namespace()) {
      const model::FieldSpec* spec = model::find_field_path(field.path);
      line.forces_replacement = spec != nullptr && spec->immutable;
    }
    lines.push_back(std::move(line));
  }
  return lines;
}

bool effective_reindex(const Change& change) {
  if (change.reindex || change.action == Action::replace) return true;
  return std::any_of(change.fields.begin(), change.fields.end(),
                     [](const FieldChange& f) { return f.reindex; });
}

// "drift, modified by alice@example.com, re-index"
std::string reason_text(const Change& change) {
  std::string out = to_string(change.reason);
  if (!change.modified_by.empty()) out += ", modified by " + printable(change.modified_by);
  if (effective_reindex(change)) out += ", re-index";
  return out;
}

// A create without type and source makes upload-only storage (the manifest's `managed: true`).
bool upload_only(const Change& change) {
  auto blank = [&](const char* key) {
    auto it = change.body.find(key);
    return it == change.body.end() || it->is_null() || (it->is_string() && it->empty());
  };
  return blank("type") && blank("source");
}

// "default/docs will be updated in place"; `blocked` words it as what would have happened.
std::string describe(const Change& change, bool blocked) {
  const std::string will = blocked ? " would be " : " will be ";
  if (change.is_namespace()) {
    std::string out = "namespace " + printable(change.ns) + will;
    switch (change.action) {
      case Action::adopt:
        return out + "adopted";
      case Action::create:
        return out + "created";
      case Action::update:
        return out + "updated";
      case Action::replace:
        return out + "replaced";
      case Action::move:
        return out + "moved";
      case Action::delete_:
        return out + "deleted";
    }
    return out;
  }
  switch (change.action) {
    case Action::adopt:
      return printable(change.address()) + will + "adopted";
    case Action::create:
      return printable(change.address()) + will + "created" +
             (upload_only(change) ? " as managed storage (upload-only: no type, no source)" : "");
    case Action::update:
      return printable(change.address()) + will + "updated in place";
    case Action::replace:
      if (!change.from_ns.empty())
        return printable(change.from_ns + "/" + change.id) + will + "replaced by " +
               printable(change.address()) +
               " (moved with a new type/source: deleted there, created here)";
      return printable(change.address()) + will + "replaced";
    case Action::delete_:
      return printable(change.address()) + will + "deleted";
    case Action::move: {
      const std::string from = change.from_ns.empty() ? change.ns : change.from_ns;
      return printable(from + "/" + change.id) + will + "moved to namespace " +
             printable(change.ns);
    }
  }
  return printable(change.address());
}

const char* action_symbol(Action action) {
  switch (action) {
    case Action::adopt:
      return "=";
    case Action::create:
      return "+";
    case Action::update:
      return "~";
    case Action::replace:
      return "-/+";
    case Action::move:
      return ">";
    case Action::delete_:
      return "-";
  }
  return "?";
}

const char* action_color(Action action) {
  switch (action) {
    case Action::adopt:
      return "34";
    case Action::create:
      return "32";
    case Action::update:
      return "33";
    case Action::replace:
      return "35";
    case Action::move:
      return "36";
    case Action::delete_:
      return "31";
  }
  return "0";
}

// "forces replacement, re-index", or empty.
std::string marker_words(const FieldLine& line) {
  std::string out;
  if (line.forces_replacement) out += "forces replacement";
  if (line.reindex) out += std::string(out.empty() ? "" : ", ") + "re-index";
  return out;
}

std::string markers(const FieldLine& line) {
  const std::string words = marker_words(line);
  return words.empty() ? words : " (" + words + ")";
}

std::string summary_text(const Summary& s) {
  // "N to adopt" only when there are adoptions (Terraform's "N to import").
  return "Plan: " + (s.adopt > 0 ? std::to_string(s.adopt) + " to adopt, " : std::string()) +
         std::to_string(s.create) + " to create, " + std::to_string(s.update) + " to update, " +
         std::to_string(s.replace) + " to replace, " + std::to_string(s.delete_) + " to delete, " +
         std::to_string(s.move) + " to move.";
}

std::string ownership_unknown_text(const Plan& plan) {
  return "Ownership unknown: the state at " + printable(plan.state_location) +
         " records no instance, so this plan cannot show deletes (prune) or changes to what "
         "aisearchd owns, and lists existing declared instances as adopted. Plan where the "
         "daemon's state is (its --state-dir or etcd backend), or pass --require-state to fail "
         "here.";
}

std::string no_changes_text(const Plan& plan) {
  if (plan.skipped_namespaces.empty()) return "No changes. Remote instances match the manifest.";
  const std::size_t n = plan.skipped_namespaces.size();
  return "No changes planned, but " + std::to_string(n) +
         (n == 1 ? " namespace was" : " namespaces were") + " not compared (list failed).";
}

// ---------------------------------------------------------------------------------------------
// Text.

class Painter {
 public:
  explicit Painter(bool on) : m_on(on) {}
  std::string operator()(const char* code, std::string_view text) const {
    if (!m_on) return std::string(text);
    std::string out = "\x1b[";
    out.append(code).append("m").append(text).append("\x1b[0m");
    return out;
  }

 private:
  bool m_on;
};

void render_text_field(std::string& out, const FieldLine& line, const Painter& paint) {
  out += "      ";
  const std::string path = printable(line.path);
  if (line.unknown_before) {
    out += paint("33", "~") + " " + path + ": (unknown) -> " + format_value(line.after);
  } else if (line.before.is_null() && !line.after.is_null()) {
    out += paint("32", "+") + " " + path + ": " + format_value(line.after);
  } else if (!line.before.is_null() && line.after.is_null()) {
    out += paint("31", "-") + " " + path + ": " + format_value(line.before) + " -> null";
  } else {
    out += paint("33", "~") + " " + path + ": " + format_value(line.before) + " -> " +
           format_value(line.after);
  }
  out += markers(line);
  out += "\n";
}

void render_text_change(std::string& out, const Change& change, const Painter& paint) {
  const bool blocked = change.blocked.has_value();
  out += "\n  ";
  if (blocked) {
    out += paint("1", "#");
  } else {
    out += paint(action_color(change.action), action_symbol(change.action));
  }
  out += " " + describe(change, blocked) + " (" + reason_text(change) + ")\n";
  if (blocked) {
    out += "      " +
           paint("1;31", "# blocked (" + printable(change.blocked->rail) +
                             "): " + printable(change.blocked->message)) +
           "\n";
  }
  if (change.action == Action::replace) {
    out += std::string("      # ") + replace_note(change) + "\n";
  }
  if (change.action == Action::adopt) {
    out +=
        "      # it exists and is not aisearchd's yet: from now on aisearchd owns it (prune can\n"
        "      # delete it, drift is corrected); adopting writes nothing to the API\n";
  }
  for (const auto& line : field_lines(change)) render_text_field(out, line, paint);
}

// ---------------------------------------------------------------------------------------------
// Markdown.

// printable(s) with <, > and & as HTML entities; every other character goes through
// `other(out, c)`, which appends it (escaped as its caller needs).
template <typename Other>
std::string escape_entities(std::string_view s, Other other) {
  const std::string p = printable(s);
  std::string out;
  out.reserve(p.size());
  for (char c : p) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      default:
        other(out, c);
    }
  }
  return out;
}

// Text for a Markdown table cell or list item: no control characters, no HTML, no table breaks,
// no accidental emphasis or links.
std::string md_text(std::string_view s) {
  return escape_entities(s, [](std::string& out, char c) {
    switch (c) {
      case '|':
        out += "\\|";
        break;
      case '\\':
      case '`':
      case '*':
      case '_':
      case '[':
      case ']':
        out += '\\', out += c;
        break;
      default:
        out += c;
    }
  });
}

// Inline code (`default/docs`), for identifiers; falls back to escaped text if it holds a
// backtick.
std::string md_code(std::string_view s) {
  const std::string p = printable(s);
  if (p.find('`') != std::string::npos || p.empty()) return md_text(p);
  std::string out = "`";
  for (char c : p) {
    if (c == '|') {
      out += "\\|";
    } else {
      out += c;
    }
  }
  return out + "`";
}

std::string html_text(std::string_view s) {
  return escape_entities(s, [](std::string& out, char c) {
    if (c == '"') {
      out += "&quot;";
    } else {
      out += c;
    }
  });
}

std::string md_address(const Change& change) {
  if ((change.action == Action::move || change.action == Action::replace) &&
      !change.from_ns.empty() && !change.is_namespace()) {
    const std::string from = change.from_ns.empty() ? change.ns : change.from_ns;
    return md_code(from + "/" + change.id) + " → " + md_code(change.address());
  }
  if (change.is_namespace()) return "namespace " + md_code(change.ns);
  return md_code(change.address());
}

std::string md_row(const Change& change) {
  std::string reason = md_text(to_string(change.reason));
  if (!change.modified_by.empty()) reason += ", modified by " + md_text(change.modified_by);
  std::string out = "| `";
  out += action_symbol(change.action);
  out += "` ";
  out += to_string(change.action);
  out += " | " + md_address(change) + " | " + reason + " | ";
  out += effective_reindex(change) ? "yes" : "";
  out += " | ";
  if (change.blocked) {
    out +=
        "**blocked** (" + md_code(change.blocked->rail) + "): " + md_text(change.blocked->message);
  }
  out += " |\n";
  return out;
}

// The ```diff block body for a change: `-` old, `+` new, `#` notes. Empty when there is nothing
// to show beyond the table row.
std::string md_diff_lines(const Change& change, const std::vector<FieldLine>& lines) {
  std::string out;
  if (change.blocked) {
    out += "# blocked (" + printable(change.blocked->rail) +
           "): " + printable(change.blocked->message) + "\n";
  }
  if (change.action == Action::replace) out += std::string("# ") + replace_note(change) + "\n";
  for (const auto& line : lines) {
    const std::string path = printable(line.path);
    std::string note = marker_words(line);
    if (!note.empty()) note = "  # " + note;
    const bool has_after = !line.after.is_null() || (line.before.is_null() && !line.unknown_before);
    if (line.unknown_before) {
      out += "- " + path + ": (unknown)\n";
    } else if (!line.before.is_null()) {
      out += "- " + path + ": " + format_value(line.before) + (has_after ? "" : note) + "\n";
    }
    if (has_after) out += "+ " + path + ": " + format_value(line.after) + note + "\n";
  }
  return out;
}

// A fence longer than any run of backticks in `body`, so a value cannot close it.
std::string fence_for(std::string_view body) {
  std::size_t longest = 0, run = 0;
  for (char c : body) {
    run = c == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  return std::string(std::max<std::size_t>(3, longest + 1), '`');
}

std::string md_details(const Change& change) {
  const std::vector<FieldLine> lines = field_lines(change);
  // A delete or move without fields: the table row already says everything.
  if (lines.empty() && change.action != Action::replace) return {};
  const std::string body = md_diff_lines(change, lines);
  std::string title = "<code>";
  if ((change.action == Action::move || !change.from_ns.empty()) && !change.is_namespace()) {
    title += html_text((change.from_ns.empty() ? change.ns : change.from_ns) + "/" + change.id) +
             "</code> → <code>" + html_text(change.address());
  } else {
    title += html_text(change.is_namespace() ? "namespace " + change.ns : change.address());
  }
  title += "</code>: " + std::string(to_string(change.action));
  if (change.blocked) title += " (blocked)";
  const std::string fence = fence_for(body);
  return "<details><summary>" + title + "</summary>\n\n" + fence + "diff\n" + body + fence +
         "\n\n</details>\n\n";
}

const char* k_table_header =
    "| Action | Address | Reason | Re-index | Blocked |\n|---|---|---|---|---|\n";

// Greedy packing of optional pieces into what is left of the character budget.
class Budget {
 public:
  explicit Budget(std::size_t left) : m_left(left) {}
  bool take(std::size_t n) {
    if (n > m_left) return false;
    m_left -= n;
    return true;
  }
  std::size_t left() const { return m_left; }

 private:
  std::size_t m_left;
};

struct Section {
  std::string heading;             // "### Unmanaged ...\n\n"
  std::vector<std::string> items;  // "- ...\n"
  std::size_t shown = 0;           // items that fit

  std::string render() const {
    if (shown == 0 && items.empty()) return {};
    std::string out = heading;
    for (std::size_t i = 0; i < shown; ++i) out += items[i];
    if (shown < items.size()) {
      out += "- … " + std::string(shown == 0 ? "" : "and ") + std::to_string(items.size() - shown) +
             (shown == 0 ? " not shown\n" : " more\n");
    }
    return out + "\n";
  }
  std::size_t full_size() const {
    std::size_t n = items.empty() ? 0 : heading.size() + 1;
    for (const auto& item : items) n += item.size();
    return n;
  }
  // Takes as many items as the budget allows (the heading with the first).
  void fill(Budget& budget) {
    while (shown < items.size()) {
      const std::size_t cost = items[shown].size() + (shown == 0 ? heading.size() + 1 : 0);
      if (!budget.take(cost)) break;
      ++shown;
    }
  }
};

Section make_section(std::string heading, std::vector<std::string> items) {
  Section s;
  s.heading = "### " + std::move(heading) + "\n\n";
  s.items = std::move(items);
  return s;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

std::string render_text(const Plan& plan, const RenderOptions& options) {
  const Painter paint(options.color);
  const Summary summary = plan.summary();
  std::string out;
  if (plan.ownership_unknown) out += paint("1;33", ownership_unknown_text(plan)) + "\n\n";
  if (!plan.changes.empty()) {
    out += summary.total() > 0 ? "aisearchd will perform the following actions:\n"
                               : "aisearchd will perform no actions; these changes are blocked:\n";
    for (const auto& change : plan.changes) render_text_change(out, change, paint);
    out += "\n";
  }
  if (!plan.unmanaged.empty()) {
    out += "Unmanaged (not owned by aisearchd, left alone):\n";
    for (const auto& u : plan.unmanaged) out += "  " + printable(u.ns + "/" + u.id) + "\n";
    out += "\n";
  }
  if (!plan.skipped_namespaces.empty()) {
    out += paint("33", "Skipped namespaces (list failed, nothing planned):") + "\n";
    for (const auto& s : plan.skipped_namespaces) {
      out += "  " + printable(s.ns) + ": " + printable(s.error) + "\n";
    }
    out += "\n";
  }
  if (!plan.warnings.empty()) {
    out += paint("33", "Warnings:") + "\n";
    for (const auto& w : plan.warnings) out += "  - " + printable(w) + "\n";
    out += "\n";
  }
  if (summary.total() == 0 && summary.blocked == 0) {
    out += paint("1", no_changes_text(plan)) + "\n";
  } else {
    out += paint("1", summary_text(summary));
    if (summary.blocked > 0)
      out += " " + paint("1;31", std::to_string(summary.blocked) + " blocked.");
    out += "\n";
  }
  return out;
}

namespace {

using ojson = nlohmann::ordered_json;

// An empty object with room for `n` keys. ordered_json keeps its members in a vector of
// pair<const string, json>, which copies (deeply) instead of moving when it grows: without this,
// adding a key after "changes" would copy the whole plan.
ojson object_for(std::size_t n) {
  ojson o = ojson::object();
  o.get_ref<ojson::object_t&>().reserve(n);
  return o;
}

// The JSON plan with its keys in reading order (format_version first, address first, ...).
ojson build_json(const Plan& plan) {
  ojson changes = ojson::array();
  changes.get_ref<ojson::array_t&>().reserve(plan.changes.size());
  for (const auto& change : plan.changes) {
    ojson c = object_for(11);
    c["address"] = utf8(change.address());
    c["namespace"] = utf8(change.ns);
    if (!change.is_namespace()) c["id"] = utf8(change.id);
    if (change.action == Action::move || !change.from_ns.empty())
      c["from_namespace"] = utf8(change.from_ns);
    c["action"] = to_string(change.action);
    c["reason"] = to_string(change.reason);
    c["modified_by"] = change.modified_by.empty() ? ojson() : ojson(utf8(change.modified_by));
    std::vector<FieldLine> lines = field_lines(change);
    ojson fields = ojson::array();
    fields.get_ref<ojson::array_t&>().reserve(lines.size());
    for (auto& line : lines) {
      ojson f = object_for(4);
      f["path"] = std::move(line.path);
      f["before"] = ojson(line.before);
      f["after"] = ojson(line.after);
      f["reindex"] = line.reindex;
      fields.push_back(std::move(f));
    }
    c["fields"] = std::move(fields);
    c["reindex"] = effective_reindex(change);
    if (change.blocked) {
      c["blocked"] = object_for(2);
      c["blocked"]["rail"] = utf8(change.blocked->rail);
      c["blocked"]["message"] = utf8(change.blocked->message);
    } else {
      c["blocked"] = nullptr;
    }
    changes.push_back(std::move(c));
  }
  ojson unmanaged = ojson::array();
  for (const auto& u : plan.unmanaged) {
    ojson item = object_for(2);
    item["namespace"] = utf8(u.ns);
    item["id"] = utf8(u.id);
    unmanaged.push_back(std::move(item));
  }
  ojson skipped = ojson::array();
  for (const auto& s : plan.skipped_namespaces) {
    ojson item = object_for(2);
    item["namespace"] = utf8(s.ns);
    item["error"] = utf8(s.error);
    skipped.push_back(std::move(item));
  }
  ojson warnings = ojson::array();
  for (const auto& w : plan.warnings) warnings.push_back(utf8(w));
  const Summary s = plan.summary();
  ojson summary = object_for(7);
  summary["adopt"] = s.adopt;
  summary["create"] = s.create;
  summary["update"] = s.update;
  summary["replace"] = s.replace;
  summary["delete"] = s.delete_;
  summary["move"] = s.move;
  summary["blocked"] = s.blocked;

  ojson out = object_for(7);
  out["format_version"] = "1";
  out["ownership"] = plan.ownership_unknown ? "unknown" : "known";
  out["changes"] = std::move(changes);
  out["unmanaged"] = std::move(unmanaged);
  out["skipped_namespaces"] = std::move(skipped);
  out["warnings"] = std::move(warnings);
  out["summary"] = std::move(summary);
  return out;
}

}  // namespace

nlohmann::json render_json(const Plan& plan) {
  return json(build_json(plan));
}

std::string render_json_string(const Plan& plan, int indent) {
  return build_json(plan).dump(indent, ' ', false, json::error_handler_t::replace) + "\n";
}

std::string render_markdown(const Plan& plan, std::size_t max_chars) {
  const Summary summary = plan.summary();
  std::string head = "## aisearchd plan\n\n";
  if (plan.ownership_unknown) head += "> **" + md_text(ownership_unknown_text(plan)) + "**\n\n";
  if (summary.total() == 0 && summary.blocked == 0) {
    head += "**" + md_text(no_changes_text(plan)) + "**\n\n";
  } else {
    head += "**" + summary_text(summary) + "**";
    if (summary.blocked > 0) head += " " + std::to_string(summary.blocked) + " blocked.";
    head += "\n\n";
  }

  const std::size_t n = plan.changes.size();
  std::vector<std::string> rows(n), details(n);
  for (std::size_t i = 0; i < n; ++i) {
    rows[i] = md_row(plan.changes[i]);
    details[i] = md_details(plan.changes[i]);
  }
  std::vector<std::string> skipped_items, warning_items, unmanaged_items;
  for (const auto& s : plan.skipped_namespaces) {
    skipped_items.push_back("- " + md_code(s.ns) + ": " + md_text(s.error) + "\n");
  }
  for (const auto& w : plan.warnings) warning_items.push_back("- " + md_text(w) + "\n");
  for (const auto& u : plan.unmanaged)
    unmanaged_items.push_back("- " + md_code(u.ns + "/" + u.id) + "\n");
  Section skipped =
      make_section("Skipped namespaces (list failed, nothing planned)", std::move(skipped_items));
  Section warnings = make_section("Warnings", std::move(warning_items));
  Section unmanaged =
      make_section("Unmanaged (not owned by aisearchd, left alone)", std::move(unmanaged_items));

  const std::string table_header = std::string(k_table_header);
  std::size_t full =
      head.size() + skipped.full_size() + warnings.full_size() + unmanaged.full_size();
  if (n > 0) full += table_header.size() + 1;
  for (std::size_t i = 0; i < n; ++i) full += rows[i].size() + details[i].size();

  std::vector<bool> row_shown(n, true), details_shown(n, true);
  std::string notes;
  if (full <= max_chars) {
    skipped.shown = skipped.items.size();
    warnings.shown = warnings.items.size();
    unmanaged.shown = unmanaged.items.size();
  } else {
    // Room for the notes and the "… and N more" lines, whatever they say.
    constexpr std::size_t k_reserve = 700;
    const std::size_t fixed = head.size() + (n > 0 ? table_header.size() + 1 : 0) + k_reserve;
    Budget budget(max_chars > fixed ? max_chars - fixed : 0);
    std::fill(row_shown.begin(), row_shown.end(), false);
    std::fill(details_shown.begin(), details_shown.end(), false);
    const auto is_destructive = [&](std::size_t i) {
      return plan.changes[i].action == Action::delete_ || plan.changes[i].action == Action::replace;
    };
    // 1. What was skipped or is wrong (within a quarter of the room), then every delete and
    // replace row, then the rest of those lists and the instances left alone.
    Budget first(budget.left() / 4);
    skipped.fill(first);
    warnings.fill(first);
    budget.take(budget.left() / 4 - first.left());
    for (std::size_t i = 0; i < n; ++i) {
      if (is_destructive(i) && !(row_shown[i] = budget.take(rows[i].size()))) break;
    }
    skipped.fill(budget);
    warnings.fill(budget);
    unmanaged.fill(budget);
    // 2. The other rows that write, in plan order, until one does not fit; then adoptions
    // (no API write).
    const auto is_adopt = [&](std::size_t i) { return plan.changes[i].action == Action::adopt; };
    for (std::size_t i = 0; i < n; ++i) {
      if (!is_destructive(i) && !is_adopt(i) && !(row_shown[i] = budget.take(rows[i].size())))
        break;
    }
    for (std::size_t i = 0; i < n; ++i) {
      if (is_adopt(i) && !(row_shown[i] = budget.take(rows[i].size()))) break;
    }
    // 3. The details, in plan order.
    for (std::size_t i = 0; i < n; ++i) {
      if (!details[i].empty() && !(details_shown[i] = budget.take(details[i].size()))) break;
    }

    std::size_t details_omitted = 0, destructive_rows_omitted = 0, other_rows_omitted = 0,
                adopt_rows_omitted = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (!details[i].empty() && !details_shown[i]) ++details_omitted;
      if (!row_shown[i])
        ++(is_destructive(i) ? destructive_rows_omitted
                             : (is_adopt(i) ? adopt_rows_omitted : other_rows_omitted));
    }
    notes = details_omitted > 0 ? "_Output truncated: " + std::to_string(details_omitted) +
                                      " changes' details omitted; run aisearchd plan locally for "
                                      "the full plan._\n\n"
                                : "_Output truncated; run aisearchd plan locally for the full "
                                  "plan._\n\n";
    if (other_rows_omitted > 0) {
      notes += "_Not listed below: " + std::to_string(other_rows_omitted) +
               " creates, updates and moves._\n\n";
    }
    if (adopt_rows_omitted > 0) {
      notes += "_Not listed below: " + std::to_string(adopt_rows_omitted) + " adoptions._\n\n";
    }
    if (destructive_rows_omitted > 0) {
      notes += "_Not listed below: " + std::to_string(destructive_rows_omitted) +
               " deletes and replaces (too many to show)._\n\n";
    }
  }

  std::string out;
  out.reserve(std::min(full, max_chars) + 1024);
  out += head;
  out += notes;
  if (n > 0 && std::find(row_shown.begin(), row_shown.end(), true) != row_shown.end()) {
    out += table_header;
    for (std::size_t i = 0; i < n; ++i) {
      if (row_shown[i]) out += rows[i];
    }
    out += "\n";
  }
  out += skipped.render();
  out += warnings.render();
  for (std::size_t i = 0; i < n; ++i) {
    if (details_shown[i]) out += details[i];
  }
  out += unmanaged.render();
  while (out.size() > 1 && out.ends_with("\n\n")) out.pop_back();
  return out;
}

}  // namespace reconcile
