#pragma once

#include <string>
#include <vector>

#include "state/state.hpp"

namespace jobs {

// Where job outcomes go: the log, metrics (the daemon's own Reporter), the webhook. Called from
// worker threads; implementations are thread-safe and return quickly (no network I/O on the
// caller's thread).
class Reporter {
 public:
  virtual ~Reporter() = default;
  // One finished (or skipped) job of the instance at `address` ("ns/id"), already in state.
  virtual void outcome(const std::string& address, const state::JobRecord& record) = 0;
  // A running job whose last_seen_at stopped advancing (reported once per job, before timeout).
  virtual void stalled(const std::string& address, const std::string& job_id) = 0;
  // An instance with a schedule in the manifest is `paused` at Cloudflare (reported once until
  // it is unpaused). Default: ignored.
  virtual void paused(const std::string& address) { (void)address; }
};

// One structured log line per event (spdlog), e.g.
//   sync outcome=failed instance=default/docs job=5f2a... trigger=schedule source=user
//   duration=12.3s end_reason=error errors=3 last_log="Job failed: 3 errors"
// info for succeeded/superseded/cancelled/skipped, warn for failed/timed_out/stalled/paused.
class LogReporter final : public Reporter {
 public:
  void outcome(const std::string& address, const state::JobRecord& record) override;
  void stalled(const std::string& address, const std::string& job_id) override;
  void paused(const std::string& address) override;

  // The key=value line logged for `record` (without the level).
  static std::string format(const std::string& address, const state::JobRecord& record);
};

// Forwards every event to each reporter in order. Holds references: they must outlive it.
class FanoutReporter final : public Reporter {
 public:
  void add(Reporter& reporter) { m_reporters.push_back(&reporter); }
  void outcome(const std::string& address, const state::JobRecord& record) override;
  void stalled(const std::string& address, const std::string& job_id) override;
  void paused(const std::string& address) override;

 private:
  std::vector<Reporter*> m_reporters;  // filled before use, then read-only
};

}  // namespace jobs
