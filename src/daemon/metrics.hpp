#pragma once

// Namespace `service`: `daemon` would clash with daemon(3) from <unistd.h>.

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace service {

// Label name -> value pairs of one series, in the order given.
using Labels = std::vector<std::pair<std::string, std::string>>;

// A small, dependency-free registry of counters and gauges with labels that renders the
// Prometheus text exposition format (version 0.0.4): one `# HELP` and `# TYPE` line per family,
// then its series sorted by labels. Label values are escaped (\\, \", \n); HELP text too.
// Thread-safe: every call takes one mutex.
class MetricsRegistry {
 public:
  enum class Type { counter, gauge, histogram };

  // Declares a family. Must precede inc()/set() on it; declaring twice keeps the first.
  // A counter's name should end in `_total` (Prometheus convention, promtool checks it).
  void describe(const std::string& name, Type type, const std::string& help);

  // Adds `delta` (>= 0 for counters) to a series, creating it at 0. Unknown family: ignored.
  void inc(const std::string& name, const Labels& labels = {}, double delta = 1);

  // Sets a series' value (gauges; or a counter mirrored from a monotonic source).
  void set(const std::string& name, const Labels& labels, double value);
  void set(const std::string& name, double value) { set(name, {}, value); }

  // Drops every series of a family (gauges rebuilt at each scrape, e.g. per-instance freshness).
  void clear(const std::string& name);

  // Declares a histogram family with these upper bounds (ascending; +Inf is implied). Rendered
  // as NAME_bucket{le="..."} (cumulative), NAME_sum and NAME_count.
  void describe_histogram(const std::string& name, const std::string& help,
                          std::vector<double> buckets);
  // Counts one observation into a histogram series. Unknown family: ignored.
  void observe(const std::string& name, const Labels& labels, double value);
  void observe(const std::string& name, double value) { observe(name, {}, value); }
  // The current value of a series, or 0 when it does not exist (a histogram: its count).
  double value(const std::string& name, const Labels& labels = {}) const;

  // The whole registry in the text format, families sorted by name.
  std::string render() const;

 private:
  struct Histogram {
    std::vector<std::uint64_t> counts;  // per bucket, not cumulative; the last one is +Inf
    double sum = 0;
    std::uint64_t count = 0;
  };
  struct Family {
    Type type = Type::gauge;
    std::string help;
    std::map<std::string, double> series;  // rendered label set "{a="x"}" -> value
    std::vector<double> buckets;           // histogram: upper bounds
    std::map<std::string, Histogram> histograms;
  };
  mutable std::mutex m_mutex;
  std::map<std::string, Family> m_families;
};

// "{a=\"x\",b=\"y\"}" (empty string for no labels), values escaped.
std::string render_labels(const Labels& labels);

// A sample value as Prometheus writes it: integers without a fraction, NaN, +Inf, -Inf.
std::string format_sample(double value);

}  // namespace service
