#include "daemon/process_metrics.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace service {

namespace {

// The fields of /proc/self/stat after the command name (which may hold spaces and parens):
// index 0 is field 3 (state) of proc(5).
std::vector<std::string> stat_fields() {
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line)) return {};
  const auto close = line.rfind(')');
  if (close == std::string::npos) return {};
  std::istringstream rest(line.substr(close + 1));
  std::vector<std::string> out;
  for (std::string f; rest >> f;) out.push_back(f);
  return out;
}

// Seconds since the epoch when the system booted (/proc/stat "btime").
double boot_time() {
  std::ifstream in("/proc/stat");
  for (std::string key; in >> key;) {
    if (key == "btime") {
      double t = 0;
      in >> t;
      return t;
    }
    std::string skip;
    std::getline(in, skip);
  }
  return 0;
}

}  // namespace

void describe_process_metrics(MetricsRegistry& m) {
  using T = MetricsRegistry::Type;
  m.describe("process_cpu_seconds_total", T::counter,
             "Total user and system CPU time spent in seconds.");
  m.describe("process_resident_memory_bytes", T::gauge, "Resident memory size in bytes.");
  m.describe("process_virtual_memory_bytes", T::gauge, "Virtual memory size in bytes.");
  m.describe("process_open_fds", T::gauge, "Number of open file descriptors.");
  m.describe("process_max_fds", T::gauge, "Maximum number of open file descriptors.");
  m.describe("process_start_time_seconds", T::gauge,
             "Start time of the process since unix epoch in seconds.");
}

void update_process_metrics(MetricsRegistry& m) {
  const auto f = stat_fields();
  const long ticks = ::sysconf(_SC_CLK_TCK);
  const long page = ::sysconf(_SC_PAGESIZE);
  // proc(5): utime 14, stime 15, starttime 22, vsize 23, rss 24 (1-based; index = field - 3).
  if (f.size() > 21 && ticks > 0 && page > 0) {
    try {
      const double utime = std::stod(f[11]), stime = std::stod(f[12]);
      m.set("process_cpu_seconds_total", (utime + stime) / static_cast<double>(ticks));
      m.set("process_start_time_seconds",
            boot_time() + std::stod(f[19]) / static_cast<double>(ticks));
      m.set("process_virtual_memory_bytes", std::stod(f[20]));
      m.set("process_resident_memory_bytes", std::stod(f[21]) * static_cast<double>(page));
    } catch (const std::exception&) {
      // An unreadable /proc line leaves the last values.
    }
  }
  std::error_code ec;
  std::size_t fds = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
       it.increment(ec))
    ++fds;
  if (!ec) m.set("process_open_fds", static_cast<double>(fds > 0 ? fds - 1 : 0));  // the dir's own
  struct rlimit limit {};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0)
    m.set("process_max_fds",
          limit.rlim_cur == RLIM_INFINITY ? -1 : static_cast<double>(limit.rlim_cur));
}

}  // namespace service
