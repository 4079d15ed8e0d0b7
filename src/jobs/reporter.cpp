#include "jobs/reporter.hpp"

#include <cstdio>

#include <spdlog/spdlog.h>

#include "jobs/outcome.hpp"

namespace jobs {
namespace {

// A value for a key=value log field: quoted (with \" and \\ escaped, control characters dropped)
// when it holds spaces, quotes or '='; "-" when empty.
std::string field(const std::string& value) {
  if (value.empty()) return "-";
  bool quote = false;
  std::string out;
  for (char c : value) {
    if (static_cast<unsigned char>(c) < 0x20) continue;
    if (c == ' ' || c == '"' || c == '=' || c == '\\') quote = true;
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return quote ? "\"" + out + "\"" : out;
}

}  // namespace

std::string LogReporter::format(const std::string& address, const state::JobRecord& r) {
  char duration[32];
  std::snprintf(duration, sizeof duration, "%.1fs", r.duration_seconds);
  std::string line = "sync outcome=" + field(r.outcome) + " instance=" + field(address) +
                     " job=" + field(r.job_id) + " trigger=" + field(r.trigger) +
                     " source=" + field(r.source) + " duration=" + duration +
                     " end_reason=" + field(r.end_reason);
  if (r.error_counts.is_object() && r.error_counts.contains("error") &&
      r.error_counts["error"].is_number_integer()) {
    line += " errors=" + std::to_string(r.error_counts["error"].get<long long>());
  }
  if (!r.log_tail.empty()) line += " last_log=" + field(r.log_tail.back());
  return line;
}

void LogReporter::outcome(const std::string& address, const state::JobRecord& record) {
  const auto parsed = parse_outcome(record.outcome);
  const bool bad = !parsed || is_failure(*parsed);
  spdlog::log(bad ? spdlog::level::warn : spdlog::level::info, "{}", format(address, record));
}

void LogReporter::stalled(const std::string& address, const std::string& job_id) {
  spdlog::warn("sync stalled instance={} job={} (last_seen_at stopped advancing)", field(address),
               field(job_id));
}

void LogReporter::paused(const std::string& address) {
  spdlog::warn(
      "sync paused instance={} (paused at Cloudflare: its scheduled syncs do not run there)",
      field(address));
}

void FanoutReporter::outcome(const std::string& address, const state::JobRecord& record) {
  for (auto* r : m_reporters) r->outcome(address, record);
}

void FanoutReporter::stalled(const std::string& address, const std::string& job_id) {
  for (auto* r : m_reporters) r->stalled(address, job_id);
}

void FanoutReporter::paused(const std::string& address) {
  for (auto* r : m_reporters) r->paused(address);
}

}  // namespace jobs
