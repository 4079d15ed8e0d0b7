#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "api/client.hpp"

namespace jobs {

// What became of one sync job (PRODUCT.md §7). The API has no status field: the outcome is derived
// from `ended_at`, `end_reason` and the instance stats (API.md §5, §6).
enum class Outcome { succeeded, failed, superseded, cancelled, timed_out, skipped };

// "succeeded", "failed", "superseded", "cancelled", "timed_out", "skipped".
const char* to_string(Outcome outcome);
// The inverse of to_string; std::nullopt for anything else.
std::optional<Outcome> parse_outcome(std::string_view text);

// Outcomes that count as a failure for notifications and freshness (failed, timed_out).
bool is_failure(Outcome outcome);

// How the `end_reason` of a finished job reads (case-insensitive):
// - "new_job_has_started"                                   -> superseded
// - "cancelled", "canceled", "cancel", "user_cancelled"...   -> cancelled (starts with "cancel")
// - "completed", "complete", "success", "succeeded", "done",
//   "finished", "ok"                                         -> success
// - missing, null or empty                                   -> unknown (the stats decide)
// - anything else ("error", "failed", "timeout", a value no source documents) -> failure
enum class ReasonKind { success, failure, superseded, cancelled, unknown };
ReasonKind classify_end_reason(const std::optional<std::string>& end_reason);

// True when the stats report indexing errors: `error` > 0, or a non-empty `file_embed_errors` /
// `index_source_errors` object. Degraded stats (counts omitted) show no errors.
bool stats_show_errors(const api::InstanceStats& stats);

// The error counts kept with a job record: {"error": n, "file_embed_errors": {...},
// "index_source_errors": {...}} with only the members the stats carry (non-empty objects).
nlohmann::json error_counts(const api::InstanceStats& stats);

// Whether deriving the outcome of `job` needs the instance stats: only when its end_reason is
// missing or empty (then the stats decide between succeeded and failed).
bool outcome_needs_stats(const api::Job& job);

// The outcome of a FINISHED job (job.finished()):
// - superseded / cancelled per classify_end_reason;
// - a success reason -> succeeded (error counts are still reported with it: items that failed
//   inside a completed job do not fail the job);
// - an unknown (missing) reason -> succeeded unless `stats` show errors, then failed; without
//   stats (the stats call failed) -> succeeded, since nothing says otherwise;
// - a failure reason, or any reason no source documents -> failed, whatever the stats say: an
//   unrecognised value from a real server is never reported as a success.
// An unfinished job is a programmer error; it yields failed.
Outcome derive_outcome(const api::Job& job, const std::optional<api::InstanceStats>& stats);

}  // namespace jobs
