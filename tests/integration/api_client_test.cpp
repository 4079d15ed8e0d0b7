// The typed API client against the real emulator over loopback: every operation, pagination,
// each error kind the emulator can produce, retries and the request budget, proven by the
// emulator's request log.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

#include "aisearchd_version.hpp"
#include "api/client.hpp"
#include "http/curl_transport.hpp"
#include "http/transport.hpp"
#include "support/emulator_process.hpp"
#include "support/ports.hpp"

namespace {

using api::ErrorKind;
using nlohmann::json;
using std::chrono::milliseconds;
using support::EmulatorProcess;

// Wraps the curl transport and records when each answer arrived and its Retry-After.
class RecordingTransport : public http::Transport {
 public:
  struct Entry {
    std::chrono::steady_clock::time_point sent;
    int status = 0;
    std::optional<std::string> retry_after;
  };

  explicit RecordingTransport(std::shared_ptr<http::Transport> inner,
                              std::function<void(const Entry&)> on_answer = nullptr)
      : m_inner(std::move(inner)), m_on_answer(std::move(on_answer)) {}

  util::Result<http::HttpResponse, http::TransportError> send(const http::HttpRequest& r) override {
    Entry e;
    e.sent = std::chrono::steady_clock::now();
    auto result = m_inner->send(r);
    if (result.ok()) {
      e.status = result.value().status;
      e.retry_after = result.value().header("retry-after");
    }
    if (m_on_answer) m_on_answer(e);
    std::lock_guard lock(m_mutex);
    m_entries.push_back(e);
    return result;
  }

  std::vector<Entry> entries() const {
    std::lock_guard lock(m_mutex);
    return m_entries;
  }

 private:
  std::shared_ptr<http::Transport> m_inner;
  std::function<void(const Entry&)> m_on_answer;
  mutable std::mutex m_mutex;
  std::vector<Entry> m_entries;
};

std::shared_ptr<http::Transport> curl() {
  http::CurlOptions options;
  options.user_agent = std::string("aisearchd/") + util::k_version;
  return http::make_curl_transport(options);
}

api::ClientConfig config_for(const EmulatorProcess& emulator) {
  api::ClientConfig c;
  c.api_url = emulator.base_url();
  c.account_id = EmulatorProcess::k_account;
  c.token = EmulatorProcess::k_token;
  c.http_timeout = milliseconds(10'000);
  c.retry.base_delay = milliseconds(50);
  c.retry.max_delay = milliseconds(400);
  c.budget.capacity = 0;
  return c;
}

std::unique_ptr<api::Client> client_for(const EmulatorProcess& emulator,
                                        std::optional<api::ClientConfig> config = std::nullopt,
                                        std::shared_ptr<http::Transport> transport = nullptr) {
  auto c = config ? *config : config_for(emulator);
  EXPECT_TRUE(api::Client::check_config(c).ok());
  return std::make_unique<api::Client>(c, transport ? transport : curl(),
                                       std::make_shared<util::SystemClock>());
}

json request_log(const EmulatorProcess& emulator) {
  return emulator.control("GET", "requests");
}

TEST(ApiClientIntegration, EveryInstanceOperation) {
  EmulatorProcess emulator;
  auto client = client_for(emulator);
  ASSERT_TRUE(client->create_namespace("team-a", std::string("Team A")).ok());

  auto created = client->create_instance(
      "default",
      json{{"id", "docs"}, {"type", "r2"}, {"source", "docs-bucket"}, {"chunk_size", 512}});
  ASSERT_TRUE(created.ok()) << created.error().describe();
  EXPECT_EQ(created.value().id, "docs");
  EXPECT_EQ(created.value().ns, "default");
  EXPECT_EQ(created.value().raw["chunk_size"], 512);
  EXPECT_FALSE(created.value().created_at.empty());

  auto got = client->get_instance("default", "docs");
  ASSERT_TRUE(got.ok()) << got.error().describe();
  EXPECT_EQ(got.value().raw["source"], "docs-bucket");

  auto updated = client->update_instance("default", "docs", json{{"max_num_results", 20}});
  ASSERT_TRUE(updated.ok()) << updated.error().describe();
  EXPECT_EQ(updated.value().raw["max_num_results"], 20);
  EXPECT_EQ(updated.value().raw["chunk_size"], 512);  // partial update keeps the rest

  auto paused = client->update_instance("default", "docs", json{{"paused", true}});
  ASSERT_TRUE(paused.ok()) << paused.error().describe();
  EXPECT_TRUE(paused.value().paused);

  auto stats = client->instance_stats("default", "docs");
  ASSERT_TRUE(stats.ok()) << stats.error().describe();

  auto listed = client->list_instances("default");
  ASSERT_TRUE(listed.ok()) << listed.error().describe();
  ASSERT_EQ(listed.value().size(), 1u);
  EXPECT_EQ(listed.value()[0].id, "docs");

  auto moved = client->move_instance("default", "docs", "team-a");
  ASSERT_TRUE(moved.ok()) << moved.error().describe();
  EXPECT_TRUE(client->list_instances("default").value().empty());
  auto in_team = client->list_instances("team-a");
  ASSERT_TRUE(in_team.ok());
  ASSERT_EQ(in_team.value().size(), 1u);
  EXPECT_EQ(in_team.value()[0].ns, "team-a");

  auto deleted = client->delete_instance("team-a", "docs");
  ASSERT_TRUE(deleted.ok()) << deleted.error().describe();
  EXPECT_EQ(deleted.value().id, "docs");
  auto gone = client->get_instance("team-a", "docs");
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().kind, ErrorKind::not_found);

  // Every call used the namespace path form, default included.
  for (const auto& r : request_log(emulator)) {
    const std::string path = r["path"];
    EXPECT_EQ(path.find("/client/v4/accounts/test-account/ai-search/namespaces"), 0u) << path;
  }
}

TEST(ApiClientIntegration, EveryNamespaceOperation) {
  EmulatorProcess emulator;
  auto client = client_for(emulator);
  auto created = client->create_namespace("team-b", std::string("B"));
  ASSERT_TRUE(created.ok()) << created.error().describe();
  EXPECT_EQ(created.value().name, "team-b");
  EXPECT_EQ(created.value().description, "B");

  auto got = client->get_namespace("team-b");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got.value().description, "B");

  auto updated = client->update_namespace("team-b", std::string("Team B"));
  ASSERT_TRUE(updated.ok()) << updated.error().describe();
  EXPECT_EQ(updated.value().description, "Team B");

  auto list = client->list_namespaces();
  ASSERT_TRUE(list.ok()) << list.error().describe();
  std::set<std::string> names;
  for (const auto& n : list.value()) names.insert(n.name);
  EXPECT_TRUE(names.count("team-b"));

  auto dup = client->create_namespace("team-b", std::nullopt);
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().kind, ErrorKind::already_exists);
  EXPECT_EQ(dup.error().http_status, 409);

  ASSERT_TRUE(client->create_instance("team-b", json{{"id", "kb"}, {"source", "b"}}).ok());
  auto not_empty = client->delete_namespace("team-b");
  ASSERT_FALSE(not_empty.ok());
  EXPECT_EQ(not_empty.error().kind, ErrorKind::client);
  ASSERT_TRUE(client->delete_instance("team-b", "kb").ok());
  ASSERT_TRUE(client->delete_namespace("team-b").ok());
  auto gone = client->get_namespace("team-b");
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().kind, ErrorKind::not_found);
}

TEST(ApiClientIntegration, EveryJobOperationAndTheCooldown) {
  // The manual clock: the job ends, and its cooldown passes, when the test says.
  EmulatorProcess emulator(
      {"--job-duration", "300ms", "--job-outcome", "fail", "--clock", "manual"});
  auto client = client_for(emulator);
  ASSERT_TRUE(client->create_instance("default", json{{"id", "docs"}, {"source", "bucket"}}).ok());

  auto first = client->create_job("default", "docs", std::string("first"));
  ASSERT_TRUE(first.ok()) << first.error().describe();
  EXPECT_EQ(first.value().source, "user");
  EXPECT_EQ(first.value().description, "first");

  // Running until its 300 ms have passed on the emulator's clock, then ended.
  api::ApiResult<api::Job> job = client->get_job("default", "docs", first.value().id);
  ASSERT_TRUE(job.ok()) << job.error().describe();
  EXPECT_FALSE(job.value().finished());
  emulator.control("POST", "clock/advance", json{{"ms", 300}});
  job = client->get_job("default", "docs", first.value().id);
  ASSERT_TRUE(job.ok()) << job.error().describe();
  ASSERT_TRUE(job.value().finished());

  auto logs = client->job_logs("default", "docs", first.value().id);
  ASSERT_TRUE(logs.ok()) << logs.error().describe();
  ASSERT_FALSE(logs.value().empty());
  EXPECT_TRUE(std::is_sorted(logs.value().begin(), logs.value().end(),
                             [](const auto& a, const auto& b) { return a.id < b.id; }));

  // The job ended: a new one is refused during the cooldown, returned to the caller unretried.
  ASSERT_NO_THROW(emulator.control("DELETE", "requests"));
  auto cooldown = client->create_job("default", "docs", std::nullopt);
  ASSERT_FALSE(cooldown.ok());
  EXPECT_EQ(cooldown.error().kind, ErrorKind::sync_cooldown);
  EXPECT_TRUE(cooldown.error().has_code(api::k_code_sync_cooldown));
  EXPECT_TRUE(cooldown.error().retry_after.has_value());
  EXPECT_EQ(request_log(emulator).size(), 1u);

  // After the cooldown a job starts; cancelling it ends it.
  emulator.control("POST", "clock/advance", json{{"ms", 60'000}});
  auto second = client->create_job("default", "docs", std::nullopt);
  ASSERT_TRUE(second.ok()) << second.error().describe();
  auto cancelled = client->cancel_job("default", "docs", second.value().id);
  ASSERT_TRUE(cancelled.ok()) << cancelled.error().describe();
  EXPECT_TRUE(cancelled.value().finished());

  auto jobs = client->list_jobs("default", "docs");
  ASSERT_TRUE(jobs.ok()) << jobs.error().describe();
  ASSERT_EQ(jobs.value().size(), 2u);
  EXPECT_EQ(jobs.value()[0].id, second.value().id);  // newest first

  auto missing = client->get_job("default", "docs", "no-such-job");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ErrorKind::not_found);
}

TEST(ApiClientIntegration, ListsAllPagesOfTwoHundredFiftyInstances) {
  EmulatorProcess emulator;
  json seed = {{"instances", json::array()}};
  for (int i = 0; i < 250; ++i) {
    seed["instances"].push_back({{"id", "inst-" + std::to_string(i)}, {"source", "bucket"}});
  }
  emulator.control("POST", "seed", seed);
  emulator.control("DELETE", "requests");
  auto client = client_for(emulator);
  auto list = client->list_instances("default");
  ASSERT_TRUE(list.ok()) << list.error().describe();
  std::set<std::string> ids;
  for (const auto& i : list.value()) ids.insert(i.id);
  EXPECT_EQ(ids.size(), 250u);
  EXPECT_EQ(list.value().size(), 250u);
  const json log = request_log(emulator);
  ASSERT_EQ(log.size(), 3u);  // total_count ends the list: no extra empty page
  for (const auto& r : log) {
    EXPECT_NE(r["query"].get<std::string>().find("per_page=100"), std::string::npos) << r;
  }
}

TEST(ApiClientIntegration, ErrorKindsTheEmulatorProduces) {
  EmulatorProcess emulator;
  auto client = client_for(emulator);

  auto missing = client->get_instance("default", "nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ErrorKind::not_found);
  EXPECT_TRUE(missing.error().has_code(api::k_code_not_found));
  EXPECT_NE(missing.error().message.find("not found"), std::string::npos);

  ASSERT_TRUE(client->create_instance("default", json{{"id", "docs"}, {"source", "b"}}).ok());
  auto dup = client->create_instance("default", json{{"id", "docs"}, {"source", "b"}});
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().kind, ErrorKind::already_exists);
  EXPECT_TRUE(dup.error().has_code(api::k_code_already_exists));

  auto invalid = client->create_instance("default", json{{"id", "bad"}, {"chunk_size", 1}});
  ASSERT_FALSE(invalid.ok());
  EXPECT_EQ(invalid.error().kind, ErrorKind::client);
  EXPECT_EQ(invalid.error().http_status, 400);
  EXPECT_NE(invalid.error().message.find("chunk_size"), std::string::npos)
      << invalid.error().message;

  auto bad_token_config = config_for(emulator);
  bad_token_config.token = "wrong-token";
  auto unauthorized = client_for(emulator, bad_token_config)->list_instances("default");
  ASSERT_FALSE(unauthorized.ok());
  EXPECT_EQ(unauthorized.error().kind, ErrorKind::auth);
  EXPECT_EQ(unauthorized.error().http_status, 401);
  EXPECT_EQ(unauthorized.error().message.find("wrong-token"), std::string::npos);

  auto other_account = config_for(emulator);
  other_account.account_id = "someone-else";
  auto forbidden = client_for(emulator, other_account)->list_instances("default");
  ASSERT_FALSE(forbidden.ok());
  EXPECT_EQ(forbidden.error().kind, ErrorKind::auth);
  EXPECT_EQ(forbidden.error().http_status, 403);
}

TEST(ApiClientIntegration, FourHundredsAreNotRetried) {
  EmulatorProcess emulator;
  auto client = client_for(emulator);
  emulator.control("DELETE", "requests");
  EXPECT_FALSE(client->get_instance("default", "nope").ok());
  EXPECT_FALSE(client->create_instance("default", json{{"id", "Bad Id!"}}).ok());
  const json log = request_log(emulator);
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0]["status"], 404);
  EXPECT_EQ(log[1]["status"], 400);
}

TEST(ApiClientIntegration, ServerErrorsAreRetriedUntilSuccessOrMaxAttempts) {
  EmulatorProcess emulator({"--seed", "3"});
  auto config = config_for(emulator);
  config.retry.max_attempts = 10;
  auto client = client_for(emulator, config);
  ASSERT_TRUE(client->create_instance("default", json{{"id", "docs"}, {"source", "b"}}).ok());

  emulator.control("PUT", "config", json{{"fault_rate", 0.5}, {"faults", {"503"}}});
  emulator.control("DELETE", "requests");
  for (int i = 0; i < 10; ++i) {
    auto r = client->get_instance("default", "docs");
    ASSERT_TRUE(r.ok()) << r.error().describe();
  }
  json log = request_log(emulator);
  const auto count = [&](int status) {
    return std::count_if(log.begin(), log.end(),
                         [&](const json& r) { return r["status"] == status; });
  };
  EXPECT_EQ(count(200), 10);
  EXPECT_GT(count(503), 0);  // some attempts failed and were retried to success
  EXPECT_EQ(client->counters().retries, static_cast<std::uint64_t>(count(503)));

  // Always failing: exactly max_attempts requests, then the server error.
  config.retry.max_attempts = 3;
  auto limited = client_for(emulator, config);
  emulator.control("PUT", "config", json{{"fault_rate", 1.0}, {"faults", {"503"}}});
  emulator.control("DELETE", "requests");
  auto failed = limited->get_instance("default", "docs");
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().kind, ErrorKind::server);
  EXPECT_EQ(failed.error().http_status, 503);
  EXPECT_EQ(request_log(emulator).size(), 3u);
}

TEST(ApiClientIntegration, TransportFaultsBecomeTypedErrors) {
  EmulatorProcess emulator;
  auto config = config_for(emulator);
  config.retry.max_attempts = 2;
  auto client = client_for(emulator, config);
  ASSERT_TRUE(client->create_instance("default", json{{"id", "docs"}, {"source", "b"}}).ok());

  emulator.control("PUT", "config", json{{"fault_rate", 1.0}, {"faults", {"reset"}}});
  auto reset = client->get_instance("default", "docs");
  ASSERT_FALSE(reset.ok());
  EXPECT_EQ(reset.error().kind, ErrorKind::network);
  EXPECT_EQ(reset.error().http_status, 0);

  emulator.control(
      "PUT", "config",
      json{{"fault_rate", 1.0}, {"faults", {"timeout"}}, {"timeout_hold_ms", 600'000}});
  auto impatient_config = config;
  impatient_config.http_timeout = milliseconds(500);
  auto timeout = client_for(emulator, impatient_config)->get_instance("default", "docs");
  ASSERT_FALSE(timeout.ok());
  EXPECT_EQ(timeout.error().kind, ErrorKind::timeout);

  emulator.control("PUT", "config", json{{"fault_rate", 1.0}, {"faults", {"truncate"}}});
  emulator.control("DELETE", "requests");
  auto truncated = client->get_instance("default", "docs");
  ASSERT_FALSE(truncated.ok());
  EXPECT_EQ(truncated.error().kind, ErrorKind::bad_response);
  EXPECT_EQ(request_log(emulator).size(), 1u);  // a 200 with a broken body is not retried

  // Nothing listens: a port held bound (never listened on), which no other process can take
  // meanwhile as it could take a stopped server's port.
  support::RefusingPort nobody;
  auto closed_config = config;
  closed_config.api_url = nobody.url() + "/client/v4";
  auto refused = client_for(emulator, closed_config)->get_instance("default", "docs");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind, ErrorKind::network);
}

TEST(ApiClientIntegration, RateLimitRetryAfterIsHonoured) {
  // The rate window runs on the emulator's manual clock: the sixth request is limited however
  // slowly the first five went, and the window has passed for the retry because the transport
  // moves the emulator's clock by the Retry-After it was given (the client waits it for real).
  EmulatorProcess emulator({"--rate-limit", "5/2", "--clock", "manual"});
  auto recorder = std::make_shared<RecordingTransport>(curl(), [&](const auto& answer) {
    if (answer.status == 429 && answer.retry_after) {
      emulator.control("POST", "clock/advance",
                       json{{"ms", std::stoll(*answer.retry_after) * 1000}});
    }
  });
  auto config = config_for(emulator);
  config.retry.max_attempts = 5;
  auto client = client_for(emulator, config, recorder);
  for (int i = 0; i < 8; ++i) {
    auto r = client->list_instances("default");
    ASSERT_TRUE(r.ok()) << r.error().describe();
  }
  const auto entries = recorder->entries();
  int limited = 0;
  for (std::size_t i = 0; i + 1 < entries.size(); ++i) {
    if (entries[i].status != 429) continue;
    ++limited;
    ASSERT_TRUE(entries[i].retry_after.has_value());
    const auto wanted = milliseconds(std::stoi(*entries[i].retry_after) * 1000);
    const auto waited =
        std::chrono::duration_cast<milliseconds>(entries[i + 1].sent - entries[i].sent);
    EXPECT_GE(waited, wanted) << "retry " << i;
  }
  EXPECT_EQ(limited, 1);  // the sixth request, once: its retry opens the next window
  EXPECT_EQ(entries.back().status, 200);
}

TEST(ApiClientIntegration, TheRequestBudgetSpacesRequests) {
  // The bucket starts full when the client is made (no earlier than `start`) and holds request
  // k (k >= 3) until k - 2 tokens have refilled, so request k leaves no earlier than
  // start + (k - 2) / 3 s, however slowly the machine answers. Measured where the requests
  // leave (the transport, behind the budget), on the clock the bucket reads: no slack needed.
  EmulatorProcess emulator;
  auto config = config_for(emulator);
  config.budget = {3, milliseconds(1000)};  // a burst of 3, then one per 333 ms
  auto recorder = std::make_shared<RecordingTransport>(curl());
  const auto start = std::chrono::steady_clock::now();
  auto client = client_for(emulator, config, recorder);
  for (int i = 0; i < 9; ++i) ASSERT_TRUE(client->list_namespaces().ok());
  const auto sent = recorder->entries();
  ASSERT_EQ(sent.size(), 9u);
  ASSERT_EQ(request_log(emulator).size(), 9u) << "every request reached the server once";
  for (std::size_t k = 3; k < sent.size(); ++k) {
    const double at = std::chrono::duration<double, std::milli>(sent[k].sent - start).count();
    EXPECT_GE(at, (static_cast<double>(k) - 2) * 1000.0 / 3.0) << "request " << k;
  }
}

TEST(ApiClientIntegration, ConcurrencyLimitHoldsAcrossThreads) {
  EmulatorProcess emulator({"--latency-ms", "100"});
  auto config = config_for(emulator);
  config.concurrency = 2;
  auto client = client_for(emulator, config);
  emulator.control("DELETE", "requests");
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 5; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2; ++i) ok += client->list_namespaces().ok() ? 1 : 0;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 10);
  const json log = request_log(emulator);
  ASSERT_EQ(log.size(), 10u);
  // At any request's arrival, at most 2 requests (itself included) are in the server.
  for (const auto& a : log) {
    const double at = a["time_ms"].get<double>();
    int overlapping = 0;
    for (const auto& b : log) {
      const double start = b["time_ms"].get<double>();
      const double end = start + b["duration_ms"].get<double>();
      if (start <= at && at < end) ++overlapping;
    }
    EXPECT_LE(overlapping, 2) << a;
  }
}

}  // namespace
