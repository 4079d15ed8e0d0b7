#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "util/result.hpp"

namespace emulator {

// The kinds of injected faults (--faults).
// Short: a list page answered with one item missing while its result_info (total_count,
// count) stays as if it were whole. Lost: the write is applied, then the connection is reset,
// so the answer is lost.
enum class FaultKind { Http500, Http503, Http429, Reset, Timeout, Truncate, Short, Lost };

std::string to_string(FaultKind kind);

// Parses "500,503,429,reset,timeout,truncate,short,lost" (any subset, any order). Fails on an
// unknown kind.
util::Result<std::vector<FaultKind>, std::string> parse_faults(const std::string& text);

// A global request limit: `requests` per `window` (--rate-limit N/SECONDS, e.g. "1200/300").
// requests == 0 means no limit.
struct RateLimit {
  int requests = 0;
  std::chrono::milliseconds window{0};
};

// Parses "N/SECONDS", "N/5m" (a util duration) or "" / "off" (no limit).
util::Result<RateLimit, std::string> parse_rate_limit(const std::string& text);
std::string format_rate_limit(const RateLimit& limit);

// Job outcomes the simulated indexer produces.
enum class JobOutcome { Ok, Fail, Stall };

util::Result<JobOutcome, std::string> parse_job_outcome(const std::string& text);
std::string to_string(JobOutcome outcome);

// How unset job fields (ended_at, end_reason, description...) are answered: as JSON null (what
// real servers do) or left out (what openapi.json's non-nullable string schemas allow).
enum class UnsetJobFields { Null, Omit };

// Everything the emulator's behaviour can be tuned with; the command line sets the start values
// and PUT /__emulator/config changes them at run time.
struct Config {
  std::string token = "test-token";
  std::string account_id = "test-account";  // "*" accepts any account id
  std::string user = "emulator@example.com";
  std::chrono::milliseconds latency{0};
  double fault_rate = 0.0;
  std::vector<FaultKind> faults = {FaultKind::Http500, FaultKind::Http503, FaultKind::Reset,
                                   FaultKind::Timeout, FaultKind::Truncate};
  std::chrono::milliseconds timeout_hold{60000};  // how long a "timeout" fault holds a request
  // Fault targeting: a fault is drawn only for a request whose path contains `fault_path` (""
  // = any path) and whose method is in `fault_methods` (empty = any method).
  std::string fault_path;
  std::vector<std::string> fault_methods;
  RateLimit rate_limit;
  std::chrono::milliseconds job_duration{3000};
  JobOutcome job_outcome = JobOutcome::Ok;
  std::chrono::milliseconds job_cooldown{30000};
  std::map<std::string, JobOutcome> job_outcomes;  // "namespace/id" -> outcome
  UnsetJobFields unset_job_fields = UnsetJobFields::Null;
  // The emulator's clock: the wall clock (plus the control API's offset), or a manual clock
  // frozen where it was switched on and moved only by POST /__emulator/clock/advance, so a
  // test's jobs end when the test says and not when a busy machine gets round to it.
  bool manual_clock = false;
  std::uint64_t seed = 1;
};

// The run-time tunable part of `config` as the control API shows it (never the token).
nlohmann::json config_to_json(const Config& config);

// Applies the keys present in `patch` (same names as config_to_json) to `config`. Unknown keys
// and bad values fail with a message naming the key; `config` is unchanged on failure.
util::Result<void, std::string> apply_config_patch(Config& config, const nlohmann::json& patch);

}  // namespace emulator
