#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "config.hpp"
#include "util/result.hpp"

namespace emulator {

using TimePoint = std::chrono::system_clock::time_point;

// One API request, as the router sees it (HTTP details already stripped).
struct ApiRequest {
  std::string method;                        // "GET", "POST", ...
  std::string path;                          // e.g. "/client/v4/accounts/a/ai-search/instances"
  std::map<std::string, std::string> query;  // first value of each query parameter
  std::string body;                          // raw request body (may be empty)
};

// One API answer: status, JSON body (the Cloudflare envelope) and extra headers.
struct Reply {
  int status = 200;
  nlohmann::json body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// Builds the success envelope {"success":true,"errors":[],"messages":[],"result":...}.
nlohmann::json success_envelope(nlohmann::json result);
// Builds the failure envelope with one error; `path` adds "path" to the error (validation).
Reply error_reply(int status, int code, const std::string& message,
                  const std::optional<std::vector<std::string>>& path = std::nullopt);

// The emulated account: namespaces, instances, jobs and their logs, plus the router that serves
// the AI Search REST API (API.md) from them. Thread-safe: every public call takes the lock.
// Time is passed in (`now`), so the simulated job lifecycle follows whatever clock the caller
// keeps; nothing here sleeps.
class Store {
 public:
  explicit Store(std::uint64_t seed, TimePoint now);

  // Serves one API request under /client/v4 (auth, rate limits and faults are the caller's).
  Reply handle(const ApiRequest& request, const Config& config, TimePoint now);

  // Drops every namespace, instance and job (the `default` namespace stays).
  void reset(std::uint64_t seed, TimePoint now);

  // Everything, in the format of the state file. Job lifecycles are brought up to `now` first.
  nlohmann::json dump(const Config& config, TimePoint now);
  // Replaces everything with a dump() result. Fails (and changes nothing) on a malformed dump.
  util::Result<void, std::string> load(const nlohmann::json& state);

  // Inserts namespaces and instances directly, without validation (POST /__emulator/seed):
  // {"namespaces":[{"name","description"?}], "instances":[{"namespace"?: "default", "id", ...}]}.
  // An existing instance gets the given fields merged over it. Missing fields get the create
  // defaults; created_by/modified_by/created_at/modified_at may be given. Returns a summary.
  util::Result<nlohmann::json, std::string> seed(const nlohmann::json& body, const Config& config,
                                                 TimePoint now);

  // Starts a `source: "schedule"` job as Cloudflare's own scheduler would (no cooldown check;
  // a running job is superseded). Fails when the instance does not exist.
  util::Result<nlohmann::json, std::string> start_schedule_job(const std::string& ns,
                                                               const std::string& id,
                                                               const std::string& description,
                                                               const Config& config, TimePoint now);

 private:
  struct LogEntry {
    long long id = 0;
    TimePoint created_at;
    std::string message;
    int message_type = 1;
  };
  struct Job {
    std::string id;
    std::string source;  // "user" | "schedule"
    std::optional<std::string> description;
    TimePoint started_at;
    std::optional<TimePoint> ended_at;
    TimePoint last_seen_at;
    std::optional<std::string> end_reason;
    JobOutcome outcome = JobOutcome::Ok;
    std::chrono::milliseconds duration{0};
    std::vector<LogEntry> logs;
  };
  struct Instance {
    long long seq = 0;      // creation order, for stable listing
    nlohmann::json fields;  // every field of instance_field_names(), null when unset
    std::vector<Job> jobs;  // oldest first
  };
  struct Namespace {
    std::string name;
    nlohmann::json description;  // string or null
    TimePoint created_at;
    nlohmann::json public_endpoint_params;  // object or null
    std::string public_endpoint_id;
    long long seq = 0;
  };
  using Key = std::pair<std::string, std::string>;  // (namespace, id)
  using Instances = std::map<Key, Instance>;
  // One namespace's instances in listing order: by creation (seq), then id.
  using NamespaceIndex = std::map<std::pair<long long, std::string>, Instances::iterator>;

  Reply route(const ApiRequest& request, const Config& config, TimePoint now);

  Reply list_instances(const std::string& ns, const ApiRequest& req, TimePoint now);
  Reply create_instance(const std::string& ns, const nlohmann::json& body, const Config& config,
                        TimePoint now);
  Reply get_instance(const std::string& ns, const std::string& id, TimePoint now);
  Reply update_instance(const std::string& ns, const std::string& id, const nlohmann::json& body,
                        const Config& config, TimePoint now);
  Reply delete_instance(const std::string& ns, const std::string& id, TimePoint now);
  Reply move_instance(const std::string& ns, const std::string& id, const nlohmann::json& body,
                      const Config& config, TimePoint now);
  Reply instance_stats(const std::string& ns, const std::string& id, TimePoint now);
  Reply create_job(const std::string& ns, const std::string& id, const nlohmann::json& body,
                   const Config& config, TimePoint now);
  Reply list_jobs(const std::string& ns, const std::string& id, const ApiRequest& req,
                  const Config& config, TimePoint now);
  Reply get_job(const std::string& ns, const std::string& id, const std::string& job_id,
                const Config& config, TimePoint now);
  Reply change_job(const std::string& ns, const std::string& id, const std::string& job_id,
                   const nlohmann::json& body, const Config& config, TimePoint now);
  Reply job_logs(const std::string& ns, const std::string& id, const std::string& job_id,
                 const ApiRequest& req, TimePoint now);

  Reply list_namespaces(const ApiRequest& req);
  Reply create_namespace(const nlohmann::json& body, TimePoint now);
  Reply get_namespace(const std::string& name);
  Reply update_namespace(const std::string& name, const nlohmann::json& body);
  Reply delete_namespace(const std::string& name);

  nlohmann::json render_namespace(const Namespace& ns) const;
  nlohmann::json render_instance(const Instance& inst, bool list_item) const;
  nlohmann::json render_job(const Job& job, const Config& config) const;
  nlohmann::json default_fields(const std::string& ns, const std::string& id, const Config& config,
                                TimePoint now);

  Instance* find_instance(const std::string& ns, const std::string& id);
  // Adds `inst` to m_instances under `key` (which must be free) and to its namespace's index.
  Instance& insert_instance(const Key& key, Instance inst);
  // Removes the instance at `it` from m_instances and from its namespace's index.
  void erase_instance(Instances::iterator it);
  // Rebuilds m_by_namespace from m_instances.
  void rebuild_index();
  void refresh_jobs(Instance& inst, TimePoint now);
  void end_job(Instance& inst, Job& job, TimePoint at, const std::string& reason);
  Job& start_job(Instance& inst, const std::string& source,
                 const std::optional<std::string>& description, const Config& config,
                 TimePoint now);
  std::string random_hex(std::size_t chars);
  Reply namespace_missing(const std::string& name) const;

  std::mutex m_mutex;
  std::mt19937_64 m_rng;
  TimePoint m_default_created_at;
  long long m_next_seq = 1;
  std::map<std::string, Namespace> m_namespaces;  // never holds "default"
  Instances m_instances;                          // by (namespace, id)
  // Per namespace, its instances in listing order, so listing one namespace costs what that
  // namespace holds. Always the same entries as m_instances; no empty inner maps.
  std::map<std::string, NamespaceIndex> m_by_namespace;
};

}  // namespace emulator
