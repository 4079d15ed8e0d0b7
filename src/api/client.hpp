#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/budget.hpp"
#include "api/errors.hpp"
#include "api/retry.hpp"
#include "api/types.hpp"
#include "http/transport.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"

namespace api {

struct ClientConfig {
  std::string api_url = "https://api.cloudflare.com/client/v4";
  std::string account_id;
  std::string token;  // held here, sent only as the Authorization header, never printed
  std::chrono::milliseconds http_timeout{30'000};
  RetryPolicy retry;
  BudgetSpec budget;
  int concurrency = 8;  // in-flight requests at most, across all callers
  int per_page = 100;
  // One answer's largest size, as received and (estimated) as parsed; past it the answer is
  // refused, never retried. The transport's http::CurlOptions::max_body_bytes should match.
  std::size_t max_answer_bytes = 8u << 20;
  // Appended to the User-Agent ("aisearchd/VERSION (SUFFIX)"), e.g. the node name, so an
  // audit log tells which node of a pair sent a request; "" = none.
  std::string user_agent_suffix;
};

// Counters a caller may observe (metrics).
struct ClientCounters {
  std::uint64_t requests = 0;
  std::uint64_t retries = 0;
  std::uint64_t by_status[6] = {};  // index status/100 (0 = no response)
};

// Observer of every request the client sends (after it is answered): method, path without the
// host and query, HTTP status (0 on transport error). Used for logging and metrics.
using RequestObserver = std::function<void(const std::string& method, const std::string& path,
                                           int status, std::chrono::milliseconds elapsed)>;

// Asked immediately before every attempt of a request that is not a GET (after the budget and
// concurrency waits, so as late as possible): nullopt lets it through; a reason refuses it, and
// the call fails with ErrorKind::client "refused to write: REASON" without being sent or retried.
// Used to keep a node that is no longer the leader from writing (PRODUCT.md §11).
using WriteGate = std::function<std::optional<std::string>()>;

// The typed AI Search REST client. Every call goes through the shared request budget and
// concurrency limit, retries what is retryable per RetryPolicy, and returns an ApiError value on
// failure. Every namespace, "default" included, is addressed through the namespace path form.
// A config whose api_url check_config refuses (http:// to a non-loopback host, not a URL) makes
// every call fail with ErrorKind::client before anything is sent. Thread-safe.
class Client {
 public:
  Client(ClientConfig config, std::shared_ptr<http::Transport> transport,
         std::shared_ptr<util::Clock> clock);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Validates the config: http:// only for loopback hosts, an account id, a token.
  static util::Result<void, std::string> check_config(const ClientConfig& config);

  void set_observer(RequestObserver observer);
  void set_write_gate(WriteGate gate);

  // Instances. `body` is the API's instance object (create: with "id").
  ApiResult<std::vector<Instance>> list_instances(const std::string& ns);
  ApiResult<Instance> create_instance(const std::string& ns, const nlohmann::json& body);
  ApiResult<Instance> get_instance(const std::string& ns, const std::string& id);
  ApiResult<Instance> update_instance(const std::string& ns, const std::string& id,
                                      const nlohmann::json& body);
  ApiResult<Instance> delete_instance(const std::string& ns, const std::string& id);
  // The PATCH move; the API answers with an empty result, so nothing is returned.
  ApiResult<void> move_instance(const std::string& ns, const std::string& id,
                                const std::string& new_ns);
  ApiResult<InstanceStats> instance_stats(const std::string& ns, const std::string& id);

  // Namespaces. The list may omit "default".
  ApiResult<std::vector<Namespace>> list_namespaces();
  ApiResult<Namespace> create_namespace(const std::string& name,
                                        const std::optional<std::string>& description);
  ApiResult<Namespace> get_namespace(const std::string& name);
  ApiResult<Namespace> update_namespace(const std::string& name,
                                        const std::optional<std::string>& description);
  ApiResult<void> delete_namespace(const std::string& name);

  // Jobs. list_jobs returns newest first as the server orders them, up to `max_pages` pages.
  // create_job is sent once, never retried: POST jobs is not idempotent (a retry after a lost
  // answer starts a second job that supersedes the first), so the caller settles an unclear
  // answer (timeout, reset, 5xx) from the job list before sending another (jobs::Runner).
  ApiResult<Job> create_job(const std::string& ns, const std::string& id,
                            const std::optional<std::string>& description);
  ApiResult<std::vector<Job>> list_jobs(const std::string& ns, const std::string& id,
                                        int max_pages = 1);
  ApiResult<Job> get_job(const std::string& ns, const std::string& id, const std::string& job_id);
  ApiResult<Job> cancel_job(const std::string& ns, const std::string& id,
                            const std::string& job_id);
  // Log entries in id order; all pages up to `max_entries`.
  ApiResult<std::vector<JobLogEntry>> job_logs(const std::string& ns, const std::string& id,
                                               const std::string& job_id,
                                               std::size_t max_entries = 500);

  // The last `n` log entries of a job in id order, however long its log: page 1 (for
  // total_count), then the last page or two; without a total_count, every page.
  ApiResult<std::vector<JobLogEntry>> job_logs_tail(const std::string& ns, const std::string& id,
                                                    const std::string& job_id, std::size_t n);

  ClientCounters counters() const;
  // Tokens left in the request budget right now.
  double budget_tokens() const;
  // Callers waiting on the request budget now, and the waiting done so far.
  BudgetWait budget_wait() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

}  // namespace api
