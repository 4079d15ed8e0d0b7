#include "jobs/outcome.hpp"

#include <array>

#include <nlohmann/json.hpp>

#include "util/strings.hpp"

namespace jobs {

const char* to_string(Outcome outcome) {
  switch (outcome) {
    case Outcome::succeeded:
      return "succeeded";
    case Outcome::failed:
      return "failed";
    case Outcome::superseded:
      return "superseded";
    case Outcome::cancelled:
      return "cancelled";
    case Outcome::timed_out:
      return "timed_out";
    case Outcome::skipped:
      return "skipped";
  }
  return "failed";
}

std::optional<Outcome> parse_outcome(std::string_view text) {
  for (Outcome o : {Outcome::succeeded, Outcome::failed, Outcome::superseded, Outcome::cancelled,
                    Outcome::timed_out, Outcome::skipped}) {
    if (text == to_string(o)) return o;
  }
  return std::nullopt;
}

bool is_failure(Outcome outcome) {
  return outcome == Outcome::failed || outcome == Outcome::timed_out;
}

ReasonKind classify_end_reason(const std::optional<std::string>& end_reason) {
  if (!end_reason) return ReasonKind::unknown;
  const std::string reason = util::to_lower(util::trim(*end_reason));
  if (reason.empty() || reason == "null") return ReasonKind::unknown;
  if (reason == "new_job_has_started") return ReasonKind::superseded;
  if (util::starts_with(reason, "cancel") || reason == "user_cancelled" ||
      reason == "user_canceled") {
    return ReasonKind::cancelled;
  }
  static constexpr std::array<std::string_view, 7> k_success = {
      "completed", "complete", "success", "succeeded", "done", "finished", "ok"};
  for (auto s : k_success) {
    if (reason == s) return ReasonKind::success;
  }
  return ReasonKind::failure;
}

namespace {

bool non_empty_object(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_object() && !it->empty();
}

}  // namespace

bool stats_show_errors(const api::InstanceStats& stats) {
  if (stats.error && *stats.error > 0) return true;
  return non_empty_object(stats.raw, "file_embed_errors") ||
         non_empty_object(stats.raw, "index_source_errors");
}

nlohmann::json error_counts(const api::InstanceStats& stats) {
  nlohmann::json out = nlohmann::json::object();
  if (stats.error) out["error"] = *stats.error;
  for (const char* key : {"file_embed_errors", "index_source_errors"}) {
    if (non_empty_object(stats.raw, key)) out[key] = stats.raw.at(key);
  }
  return out;
}

bool outcome_needs_stats(const api::Job& job) {
  return classify_end_reason(job.end_reason) == ReasonKind::unknown;
}

Outcome derive_outcome(const api::Job& job, const std::optional<api::InstanceStats>& stats) {
  if (!job.finished()) return Outcome::failed;
  switch (classify_end_reason(job.end_reason)) {
    case ReasonKind::superseded:
      return Outcome::superseded;
    case ReasonKind::cancelled:
      return Outcome::cancelled;
    case ReasonKind::success:
      return Outcome::succeeded;
    case ReasonKind::unknown:
      return stats && stats_show_errors(*stats) ? Outcome::failed : Outcome::succeeded;
    case ReasonKind::failure:
      break;
  }
  return Outcome::failed;
}

}  // namespace jobs
