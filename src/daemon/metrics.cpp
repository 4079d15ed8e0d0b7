#include "daemon/metrics.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace service {

namespace {

std::string escape(const std::string& text, bool quote) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::string render_labels(const Labels& labels) {
  if (labels.empty()) return {};
  std::string out = "{";
  bool first = true;
  for (const auto& [name, value] : labels) {
    if (!first) out += ',';
    first = false;
    out += name;
    out += "=\"";
    out += escape(value, true);
    out += '"';
  }
  out += '}';
  return out;
}

std::string format_sample(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", value);
    return buf;
  }
  char buf[40];
  auto end = std::to_chars(buf, buf + sizeof buf, value).ptr;  // shortest exact form
  return std::string(buf, end);
}

void MetricsRegistry::describe(const std::string& name, Type type, const std::string& help) {
  std::lock_guard lock(m_mutex);
  if (m_families.count(name)) return;
  Family f;
  f.type = type;
  f.help = help;
  m_families.emplace(name, std::move(f));
}

void MetricsRegistry::inc(const std::string& name, const Labels& labels, double delta) {
  std::lock_guard lock(m_mutex);
  auto it = m_families.find(name);
  if (it == m_families.end()) return;
  if (it->second.type == Type::counter && delta < 0) return;
  it->second.series[render_labels(labels)] += delta;
}

void MetricsRegistry::set(const std::string& name, const Labels& labels, double value) {
  std::lock_guard lock(m_mutex);
  auto it = m_families.find(name);
  if (it == m_families.end()) return;
  it->second.series[render_labels(labels)] = value;
}

void MetricsRegistry::clear(const std::string& name) {
  std::lock_guard lock(m_mutex);
  auto it = m_families.find(name);
  if (it != m_families.end()) it->second.series.clear();
}

void MetricsRegistry::describe_histogram(const std::string& name, const std::string& help,
                                         std::vector<double> buckets) {
  std::lock_guard lock(m_mutex);
  if (m_families.count(name)) return;
  Family f;
  f.type = Type::histogram;
  f.help = help;
  f.buckets = std::move(buckets);
  m_families.emplace(name, std::move(f));
}

void MetricsRegistry::observe(const std::string& name, const Labels& labels, double value) {
  std::lock_guard lock(m_mutex);
  auto it = m_families.find(name);
  if (it == m_families.end() || it->second.type != Type::histogram) return;
  const auto& bounds = it->second.buckets;
  auto& h = it->second.histograms[render_labels(labels)];
  h.counts.resize(bounds.size() + 1);
  std::size_t i = 0;
  while (i < bounds.size() && value > bounds[i]) ++i;
  ++h.counts[i];
  h.sum += value;
  ++h.count;
}

double MetricsRegistry::value(const std::string& name, const Labels& labels) const {
  std::lock_guard lock(m_mutex);
  auto it = m_families.find(name);
  if (it == m_families.end()) return 0;
  if (it->second.type == Type::histogram) {
    auto h = it->second.histograms.find(render_labels(labels));
    return h == it->second.histograms.end() ? 0 : static_cast<double>(h->second.count);
  }
  auto s = it->second.series.find(render_labels(labels));
  return s == it->second.series.end() ? 0 : s->second;
}

std::string MetricsRegistry::render() const {
  std::lock_guard lock(m_mutex);
  std::string out;
  for (const auto& [name, family] : m_families) {
    out += "# HELP " + name + " " + escape(family.help, false) + "\n";
    out += "# TYPE " + name +
           (family.type == Type::counter     ? " counter\n"
            : family.type == Type::histogram ? " histogram\n"
                                             : " gauge\n");
    for (const auto& [labels, h] : family.histograms) {
      // {a="x"} -> {a="x",le="0.5"}; no labels -> {le="0.5"}
      const std::string open = labels.empty() ? "{" : labels.substr(0, labels.size() - 1) + ",";
      std::uint64_t cumulative = 0;
      for (std::size_t i = 0; i <= family.buckets.size(); ++i) {
        cumulative += i < h.counts.size() ? h.counts[i] : 0;
        const std::string le =
            i < family.buckets.size() ? format_sample(family.buckets[i]) : std::string("+Inf");
        out += name + "_bucket" + open + "le=\"" + le + "\"} " +
               format_sample(static_cast<double>(cumulative)) + "\n";
      }
      out += name + "_sum" + labels + " " + format_sample(h.sum) + "\n";
      out += name + "_count" + labels + " " + format_sample(static_cast<double>(h.count)) + "\n";
    }
    for (const auto& [labels, value] : family.series) {
      out += name;
      out += labels;
      out += ' ';
      out += format_sample(value);
      out += '\n';
    }
  }
  return out;
}

}  // namespace service
