#include "manifest/emit.hpp"

#include <yaml-cpp/yaml.h>

#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string_view>

#include "manifest/yaml_reader.hpp"
#include "util/utf8.hpp"

namespace manifest {

namespace {

using nlohmann::json;

bool lower_equals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (x != b[i]) return false;
  }
  return true;
}

// The shortest text of `v` that reads back as exactly `v`, always with a '.' or an exponent so
// that it reads as a number with a fraction part (never as an integer of another type).
std::string format_double(double v) {
  std::array<char, 64> buf{};
  auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  if (ec != std::errc()) return json(v).dump();
  std::string text(buf.data(), end);
  if (text.find_first_of(".eE") == std::string::npos) text += ".0";
  return text;
}

std::string escape_dollars(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    out += c;
    if (c == '$') out += '$';
  }
  return out;
}

class Writer {
 public:
  Writer() { m_out.SetIndent(2); }

  util::Result<std::string, std::string> run(const json& document) {
    if (auto problem = value(document, 0, "")) return util::Err(*problem);
    if (!m_out.good()) return util::Err(std::string("YAML emitter: ") + m_out.GetLastError());
    return std::string(m_out.c_str()) + "\n";
  }

 private:
  // A string scalar: plain where safe, else double-quoted. Values get '$' doubled.
  void scalar(const std::string& s, bool is_value) {
    const std::string text = is_value ? escape_dollars(s) : s;
    if (plain_safe(text))
      m_out << text;
    else
      m_out << YAML::DoubleQuoted << text;
  }

  std::optional<std::string> value(const json& v, std::size_t depth, const std::string& where) {
    if (depth > k_max_emit_depth) {
      // Built with append: g++ 12 -O3 misreads `"literal" + std::to_string(...)` as an
      // out-of-bounds copy (-Warray-bounds, a known false positive).
      std::string why = "nested deeper than ";
      why += std::to_string(k_max_emit_depth);
      why += " levels at ";
      why += where;
      return why;
    }
    switch (v.type()) {
      case json::value_t::object:
        if (v.empty()) {
          m_out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
          return std::nullopt;
        }
        m_out << YAML::BeginMap;
        for (const auto& [key, child] : v.items()) {
          if (!util::is_valid_utf8(key)) return "a key that is not valid UTF-8 below " + where;
          m_out << YAML::Key;
          scalar(key, false);
          m_out << YAML::Value;
          if (auto problem = value(child, depth + 1, where + "/" + key)) return problem;
        }
        m_out << YAML::EndMap;
        return std::nullopt;
      case json::value_t::array:
        if (v.empty()) {
          m_out << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
          return std::nullopt;
        }
        m_out << YAML::BeginSeq;
        for (std::size_t i = 0; i < v.size(); ++i)
          if (auto problem = value(v[i], depth + 1, where + "/" + std::to_string(i)))
            return problem;
        m_out << YAML::EndSeq;
        return std::nullopt;
      case json::value_t::string: {
        const auto& s = v.get_ref<const std::string&>();
        if (!util::is_valid_utf8(s)) return "a string that is not valid UTF-8 at " + where;
        scalar(s, true);
        return std::nullopt;
      }
      case json::value_t::boolean:
        m_out << v.get<bool>();  // yaml-cpp's default: true / false
        return std::nullopt;
      case json::value_t::number_integer:
        m_out << static_cast<long long>(v.get<std::int64_t>());
        return std::nullopt;
      case json::value_t::number_unsigned:
        m_out << static_cast<unsigned long long>(v.get<std::uint64_t>());
        return std::nullopt;
      case json::value_t::number_float: {
        const double d = v.get<double>();
        if (!std::isfinite(d)) return "a number that is not finite at " + where;
        m_out << format_double(d);
        return std::nullopt;
      }
      case json::value_t::null:
        m_out << YAML::Null;
        return std::nullopt;
      default:
        return "a value of a kind YAML cannot hold at " + where;
    }
  }

  YAML::Emitter m_out;
};

}  // namespace

bool plain_safe(const std::string& text) {
  if (text.empty()) return false;
  const char first = text.front();
  if (!((first >= 'a' && first <= 'z') || (first >= 'A' && first <= 'Z') || first == '_'))
    return false;
  for (char c : text) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-' || c == '/';
    if (!ok) return false;
  }
  if (detail::classify_plain(text) != detail::PlainKind::string) return false;
  // YAML 1.1 booleans and nulls other tools (editors, linters) still read as such.
  for (std::string_view word : {"y", "n", "yes", "no", "on", "off", "true", "false", "null"})
    if (lower_equals(text, word)) return false;
  return true;
}

util::Result<std::string, std::string> emit_yaml(const nlohmann::json& document,
                                                 const std::vector<std::string>& comments) {
  std::string head;
  for (const auto& line : comments) {
    head += "# ";
    for (char c : line) {
      const auto u = static_cast<unsigned char>(c);
      head += u < 0x20 || u == 0x7f ? '?' : c;
    }
    head += "\n";
  }
  Writer writer;
  auto body = writer.run(document);
  if (!body) return util::Err(body.error());
  return head + *body;
}

}  // namespace manifest
