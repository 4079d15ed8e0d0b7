#pragma once

// The API's values as the client returns them (instances, namespaces, jobs, job logs, stats) and
// its result type. Plain data: the pure diff and the state read these without the client.

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "api/errors.hpp"
#include "util/result.hpp"

namespace api {

template <typename T>
using ApiResult = util::Result<T, ApiError>;

// An instance as the API returns it. `raw` is the whole object, unknown fields included; the
// typed members are the ones the product reads itself.
struct Instance {
  std::string id;
  std::string ns;  // "namespace"; the namespace it was asked for when the server omits it
  std::string status;
  std::string created_at, modified_at, created_by, modified_by;
  bool paused = false;
  nlohmann::json raw = nlohmann::json::object();
};

struct Namespace {
  std::string name;
  std::optional<std::string> description;
  std::string created_at;
  nlohmann::json raw = nlohmann::json::object();
};

// A sync job. The API has no status field: it is derived from the timestamps (API.md §5).
struct Job {
  std::string id;
  std::string source;  // "user" | "schedule"
  std::optional<std::string> description, started_at, ended_at, last_seen_at, end_reason;

  bool pending() const { return !started_at && !ended_at; }
  bool running() const { return started_at && !ended_at; }
  bool finished() const { return ended_at.has_value(); }
};

struct JobLogEntry {
  std::int64_t id = 0;
  double created_at = 0;  // epoch seconds
  std::string message;
  int message_type = 0;
};

struct InstanceStats {
  std::optional<std::int64_t> queued, running, completed, skipped, outdated, error;
  bool degraded = false;
  nlohmann::json raw = nlohmann::json::object();
};

}  // namespace api
