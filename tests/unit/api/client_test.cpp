#include "api/client.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <set>
#include <sstream>
#include <thread>

#include "aisearchd_version.hpp"
#include "api/envelope.hpp"
#include "support/fake_transport.hpp"

namespace {

using api::ErrorKind;
using nlohmann::json;
using std::chrono::milliseconds;
using support::FakeTransport;

const std::string k_base = "/accounts/acc/ai-search";
const std::string k_default = k_base + "/namespaces/default/instances";

json instance(const std::string& id, const std::string& ns = "default") {
  return {{"id", id},
          {"namespace", ns},
          {"status", "ready"},
          {"created_at", "2026-01-01T00:00:00Z"},
          {"modified_at", "2026-01-01T00:00:00Z"},
          {"chunk_size", 512},
          {"server_default_we_do_not_know", {{"x", 1}}}};
}

json instances(int from, int count) {
  json items = json::array();
  for (int i = from; i < from + count; ++i) items.push_back(instance("inst-" + std::to_string(i)));
  return items;
}

class ClientTest : public ::testing::Test {
 protected:
  api::ClientConfig config() const {
    api::ClientConfig c;
    c.api_url = support::k_fake_api_url;
    c.account_id = "acc";
    c.token = "tok-123";
    c.retry.jitter_seed = 7;
    return c;
  }
  api::Client& client() {
    if (!m_client) m_client = std::make_unique<api::Client>(config(), fake, clock);
    return *m_client;
  }
  api::Client& client(const api::ClientConfig& c) {
    m_client = std::make_unique<api::Client>(c, fake, clock);
    return *m_client;
  }
  milliseconds elapsed() const {
    return std::chrono::duration_cast<milliseconds>(clock->steady_now() - m_start);
  }

  std::shared_ptr<FakeTransport> fake = std::make_shared<FakeTransport>();
  std::shared_ptr<util::FakeClock> clock = std::make_shared<util::FakeClock>(
      std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000)));

 private:
  std::unique_ptr<api::Client> m_client;
  util::Clock::SteadyTime m_start = clock->steady_now();
};

// ---- operations ----

TEST_F(ClientTest, SendsAuthUserAgentAndJsonOnEveryRequest) {
  fake->push_json(201, support::envelope(instance("docs")));
  auto created = client().create_instance("default", json{{"id", "docs"}, {"type", "r2"}});
  ASSERT_TRUE(created.ok()) << created.error().describe();
  EXPECT_EQ(created.value().id, "docs");
  EXPECT_EQ(created.value().raw["chunk_size"], 512);
  const auto r = fake->requests().at(0);
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.url, std::string(support::k_fake_api_url) + k_default);
  EXPECT_EQ(r.header("Authorization"), "Bearer tok-123");
  EXPECT_EQ(r.header("User-Agent"), std::string("aisearchd/") + util::k_version);
  EXPECT_EQ(r.header("Content-Type"), "application/json");
  EXPECT_EQ(r.json(), (json{{"id", "docs"}, {"type", "r2"}}));
}

TEST_F(ClientTest, AUserAgentSuffixNamesTheNode) {
  auto c = config();
  c.user_agent_suffix = "node-a";
  fake->push_json(200, support::envelope(json::array()));
  ASSERT_TRUE(client(c).list_namespaces().ok());
  EXPECT_EQ(fake->requests().at(0).header("User-Agent"),
            std::string("aisearchd/") + util::k_version + " (node-a)");
}

TEST_F(ClientTest, AClosedWriteGateRefusesEveryWriteButNotReads) {
  std::atomic<bool> open{false};
  client().set_write_gate([&]() -> std::optional<std::string> {
    if (open) return std::nullopt;
    return std::string("not the leader");
  });
  fake->on("GET", k_default + "/docs", [](const auto&) {
    return FakeTransport::json_response(200, support::envelope(instance("docs")));
  });
  fake->on("POST", k_default, [](const auto&) {
    return FakeTransport::json_response(200, support::envelope(instance("docs")));
  });
  EXPECT_TRUE(client().get_instance("default", "docs").ok());
  auto refused = client().create_instance("default", json{{"id", "docs"}});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind, ErrorKind::client);
  EXPECT_NE(refused.error().message.find("refused to write: not the leader"), std::string::npos);
  EXPECT_FALSE(client().delete_instance("default", "docs").ok());
  EXPECT_FALSE(client().create_job("default", "docs", std::nullopt).ok());
  ASSERT_EQ(fake->requests().size(), 1u);  // only the GET went out, nothing was retried
  open = true;
  EXPECT_TRUE(client().create_instance("default", json{{"id", "docs"}}).ok());
  EXPECT_EQ(fake->requests().size(), 2u);
}

TEST_F(ClientTest, InstanceOperationsUseTheNamespacePathForm) {
  fake->on("GET", k_base + "/namespaces/team-a/instances/kb/stats", [](const auto&) {
    return FakeTransport::json_response(200, support::envelope({{"completed", 4}, {"error", 1}}));
  });
  fake->on("GET", k_base + "/namespaces/team-a/instances/kb", [](const auto&) {
    return FakeTransport::json_response(200, support::envelope(instance("kb", "team-a")));
  });
  fake->on("PUT", k_base + "/namespaces/team-a/instances/kb", [](const auto& r) {
    json i = instance("kb", "team-a");
    i["chunk_size"] = r.json()["chunk_size"];
    return FakeTransport::json_response(200, support::envelope(i));
  });
  fake->on("DELETE", k_base + "/namespaces/team-a/instances/kb", [](const auto&) {
    return FakeTransport::json_response(200, support::envelope(instance("kb", "team-a")));
  });
  fake->on("PATCH", k_base + "/namespaces/team-a/instances/kb", [](const auto&) {
    return FakeTransport::json_response(200, support::envelope(nullptr));
  });

  auto got = client().get_instance("team-a", "kb");
  ASSERT_TRUE(got.ok()) << got.error().describe();
  EXPECT_EQ(got.value().ns, "team-a");
  auto updated = client().update_instance("team-a", "kb", json{{"chunk_size", 1024}});
  ASSERT_TRUE(updated.ok());
  EXPECT_EQ(updated.value().raw["chunk_size"], 1024);
  auto stats = client().instance_stats("team-a", "kb");
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats.value().completed, 4);
  ASSERT_TRUE(client().move_instance("team-a", "kb", "team-b").ok());
  auto deleted = client().delete_instance("team-a", "kb");
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(deleted.value().id, "kb");

  const auto reqs = fake->requests();
  ASSERT_EQ(reqs.size(), 5u);
  EXPECT_EQ(reqs[1].json(), (json{{"chunk_size", 1024}}));
  EXPECT_EQ(reqs[3].method, "PATCH");
  EXPECT_EQ(reqs[3].json(), (json{{"new_namespace", "team-b"}}));
  EXPECT_EQ(reqs[4].method, "DELETE");
  EXPECT_TRUE(reqs[4].body.empty());
}

TEST_F(ClientTest, DeleteWithAnEmptyResultStillSucceeds) {
  fake->push_json(200, support::envelope(nullptr));
  auto deleted = client().delete_instance("default", "docs");
  ASSERT_TRUE(deleted.ok()) << deleted.error().describe();
  EXPECT_EQ(deleted.value().id, "docs");
}

TEST_F(ClientTest, PathSegmentsAreUrlEncoded) {
  fake->push_json(404, support::error_envelope(7002, "Ai search not found."));
  (void)client().get_instance("a b", "x/y?z");
  EXPECT_EQ(fake->requests().at(0).path, k_base + "/namespaces/a%20b/instances/x%2Fy%3Fz");
}

TEST_F(ClientTest, NamespaceOperations) {
  fake->on("GET", k_base + "/namespaces", [](const auto& r) {
    json items = r.query_param("page") == "1"
                     ? json::array({{{"name", "team-a"},
                                     {"description", nullptr},
                                     {"created_at", "2026-01-01T00:00:00Z"}}})
                     : json::array();
    return FakeTransport::json_response(200, support::list_envelope(items, 1, 100));
  });
  fake->on("POST", k_base + "/namespaces", [](const auto& r) {
    return FakeTransport::json_response(201, support::envelope(r.json()));
  });
  fake->on("PUT", k_base + "/namespaces/team-a", [](const auto& r) {
    json n = r.json();
    n["name"] = "team-a";
    return FakeTransport::json_response(200, support::envelope(n));
  });
  fake->on("DELETE", k_base + "/namespaces/team-a", [](const auto&) {
    return FakeTransport::json_response(200, support::envelope(json::object()));
  });

  auto list = client().list_namespaces();
  ASSERT_TRUE(list.ok()) << list.error().describe();
  ASSERT_EQ(list.value().size(), 1u);
  EXPECT_EQ(list.value()[0].name, "team-a");
  auto created = client().create_namespace("team-b", std::string("B"));
  ASSERT_TRUE(created.ok()) << created.error().describe();
  EXPECT_EQ(created.value().description, "B");
  auto cleared = client().update_namespace("team-a", std::nullopt);
  ASSERT_TRUE(cleared.ok()) << cleared.error().describe();
  EXPECT_FALSE(cleared.value().description.has_value());
  EXPECT_TRUE(client().delete_namespace("team-a").ok());

  const auto reqs = fake->requests();
  EXPECT_EQ(reqs[0].query, "page=1&per_page=100");
  EXPECT_EQ(reqs[2].json(), (json{{"name", "team-b"}, {"description", "B"}}));
  EXPECT_EQ(reqs[3].json(), (json{{"description", nullptr}}));
}

TEST_F(ClientTest, JobOperations) {
  const std::string jobs = k_default + "/docs/jobs";
  fake->on("POST", jobs, [](const auto& r) {
    json job = {{"id", "j1"}, {"source", "user"}, {"started_at", nullptr}, {"ended_at", nullptr}};
    if (r.json().contains("description")) job["description"] = r.json()["description"];
    return FakeTransport::json_response(200, support::envelope(job));
  });
  fake->on("GET", jobs, [](const auto& r) {
    json items = json::array();
    for (int i = 0; i < std::stoi(r.query_param("per_page")); ++i) {
      items.push_back(
          {{"id", "p" + r.query_param("page") + "-" + std::to_string(i)}, {"source", "schedule"}});
    }
    return FakeTransport::json_response(200, support::list_envelope(items, 1, 50));
  });
  fake->on("GET", jobs + "/j1", [](const auto&) {
    return FakeTransport::json_response(200,
                                        support::envelope({{"id", "j1"},
                                                           {"source", "user"},
                                                           {"started_at", "2026-01-01T00:00:00Z"},
                                                           {"ended_at", nullptr}}));
  });
  fake->on("PATCH", jobs + "/j1", [](const auto&) {
    return FakeTransport::json_response(200,
                                        support::envelope({{"id", "j1"},
                                                           {"source", "user"},
                                                           {"started_at", "2026-01-01T00:00:00Z"},
                                                           {"ended_at", "2026-01-01T00:01:00Z"},
                                                           {"end_reason", "cancelled"}}));
  });
  fake->on("GET", jobs + "/j1/logs", [](const auto& r) {
    json items = json::array();
    if (r.query_param("page") == "1") {
      items = {{{"id", 2}, {"created_at", 1.5}, {"message", "second"}, {"message_type", 0}},
               {{"id", 1}, {"created_at", 1.0}, {"message", "first"}, {"message_type", 0}}};
    }
    return FakeTransport::json_response(200, support::list_envelope(items, 1, 500));
  });

  auto created = client().create_job("default", "docs", std::string("manual"));
  ASSERT_TRUE(created.ok()) << created.error().describe();
  EXPECT_TRUE(created.value().pending());
  EXPECT_EQ(created.value().description, "manual");
  auto list = client().list_jobs("default", "docs", 2);
  ASSERT_TRUE(list.ok()) << list.error().describe();
  EXPECT_EQ(list.value().size(), 100u);  // two pages of 50, no more
  EXPECT_EQ(list.value().front().id, "p1-0");
  auto got = client().get_job("default", "docs", "j1");
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got.value().running());
  auto cancelled = client().cancel_job("default", "docs", "j1");
  ASSERT_TRUE(cancelled.ok());
  EXPECT_TRUE(cancelled.value().finished());
  auto logs = client().job_logs("default", "docs", "j1");
  ASSERT_TRUE(logs.ok()) << logs.error().describe();
  ASSERT_EQ(logs.value().size(), 2u);
  EXPECT_EQ(logs.value()[0].message, "first");

  const auto reqs = fake->requests();
  EXPECT_EQ(reqs[0].json(), (json{{"description", "manual"}}));
  EXPECT_EQ(reqs[1].query, "page=1&per_page=50");
  EXPECT_EQ(reqs[2].query, "page=2&per_page=50");
  EXPECT_EQ(reqs[3].method, "GET");
  EXPECT_EQ(reqs[4].method, "PATCH");
  EXPECT_EQ(reqs[4].json(), (json{{"action", "cancel"}}));
  EXPECT_EQ(reqs[5].query, "page=1&per_page=500");
}

TEST_F(ClientTest, JobLogsStopAtMaxEntries) {
  fake->on("GET", k_default + "/docs/jobs/j1/logs", [](const auto& r) {
    const int page = std::stoi(r.query_param("page"));
    json items = json::array();
    for (int i = 0; i < 3; ++i) items.push_back({{"id", page * 10 + i}, {"message", "m"}});
    return FakeTransport::json_response(200, support::list_envelope(items, page, 3));
  });
  auto logs = client().job_logs("default", "docs", "j1", 5);
  ASSERT_TRUE(logs.ok()) << logs.error().describe();
  EXPECT_EQ(logs.value().size(), 5u);
  EXPECT_EQ(fake->request_count(), 2u);
}

// ---- pagination ----

TEST_F(ClientTest, ListStopsAtTotalCountWithoutAnExtraRequest) {
  fake->on("GET", k_default, [](const auto& r) {
    const int page = std::stoi(r.query_param("page"));
    const int count = page < 3 ? 100 : page == 3 ? 50 : 0;
    return FakeTransport::json_response(
        200, support::list_envelope(instances((page - 1) * 100, count), page, 100, 250));
  });
  auto list = client().list_instances("default");
  ASSERT_TRUE(list.ok()) << list.error().describe();
  EXPECT_EQ(list.value().size(), 250u);
  EXPECT_EQ(fake->request_count(), 3u);
  EXPECT_EQ(fake->requests()[0].query, "page=1&per_page=100");
  std::set<std::string> ids;
  for (const auto& i : list.value()) ids.insert(i.id);
  EXPECT_EQ(ids.size(), 250u);
}

TEST_F(ClientTest, ListWithoutTotalCountEndsOnAnEmptyPage) {
  fake->on("GET", k_default, [](const auto& r) {
    const int page = std::stoi(r.query_param("page"));
    const int count = page < 3 ? 100 : page == 3 ? 50 : 0;
    json env = support::envelope(instances((page - 1) * 100, count));
    env["result_info"] = {{"page", page}, {"per_page", 100}};
    return FakeTransport::json_response(200, env);
  });
  auto list = client().list_instances("default");
  ASSERT_TRUE(list.ok()) << list.error().describe();
  EXPECT_EQ(list.value().size(), 250u);
  EXPECT_EQ(fake->request_count(), 4u);
}

TEST_F(ClientTest, AServerCappedPerPageDoesNotEndTheList) {
  // The server returns 20 per page whatever was asked; no result_info at all.
  fake->on("GET", k_default, [](const auto& r) {
    const int page = std::stoi(r.query_param("page"));
    const int count = page <= 5 ? 20 : page == 6 ? 7 : 0;
    return FakeTransport::json_response(200, support::envelope(instances((page - 1) * 20, count)));
  });
  auto list = client().list_instances("default");
  ASSERT_TRUE(list.ok()) << list.error().describe();
  EXPECT_EQ(list.value().size(), 107u);
  EXPECT_EQ(fake->request_count(), 7u);
}

TEST_F(ClientTest, AServerCappedPerPageWithTotalCountReadsEveryPage) {
  fake->on("GET", k_default, [](const auto& r) {
    const int page = std::stoi(r.query_param("page"));
    const int count = std::max(0, std::min(20, 250 - (page - 1) * 20));
    return FakeTransport::json_response(
        200, support::list_envelope(instances((page - 1) * 20, count), page, 20, 250));
  });
  auto list = client().list_instances("default");
  ASSERT_TRUE(list.ok()) << list.error().describe();
  EXPECT_EQ(list.value().size(), 250u);
  EXPECT_EQ(fake->request_count(), 13u);
}

TEST_F(ClientTest, APageRepeatingThePreviousOneIsIncomplete) {
  // A server that ignores `page` would otherwise be listed forever.
  fake->on("GET", k_default, [](const auto&) {
    return FakeTransport::json_response(200, support::envelope(instances(0, 100)));
  });
  auto list = client().list_instances("default");
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.error().kind, ErrorKind::incomplete);
  EXPECT_NE(list.error().message.find("repeats"), std::string::npos) << list.error().message;
  EXPECT_EQ(fake->request_count(), 2u);
}

TEST_F(ClientTest, AListThatNeverEndsIsCutAtAThousandPages) {
  fake->on("GET", k_default, [](const auto& r) {
    const int page = std::stoi(r.query_param("page"));
    return FakeTransport::json_response(200, support::envelope(instances(page, 1)));
  });
  auto c = config();
  c.budget.capacity = 0;
  auto list = client(c).list_instances("default");
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.error().kind, ErrorKind::bad_response);
  EXPECT_EQ(fake->request_count(), 1'000u);
}

// Breaker (issue 13): a hostile server's job log lines echoing the token went to the daemon's log,
// state.json history and `aisearchd sync` output. Log lines come back with it redacted.
TEST_F(ClientTest, JobLogLinesNeverCarryTheToken) {
  fake->on("GET", k_base + "/namespaces/default/instances/docs/jobs/j1/logs", [](const auto&) {
    return FakeTransport::json_response(
        200,
        support::list_envelope(
            json::array(
                {{{"id", 1}, {"message", "fetched with token tok-123 ok"}, {"message_type", 1}},
                 {{"id", 2}, {"message", "Authorization: Bearer tok-123"}, {"message_type", 1}}}),
            1, 100, 2));
  });
  auto logs = client().job_logs_tail("default", "docs", "j1", 20);
  ASSERT_TRUE(logs.ok()) << logs.error().message;
  ASSERT_EQ(logs->size(), 2u);
  for (const auto& e : *logs) {
    EXPECT_EQ(e.message.find("tok-123"), std::string::npos) << e.message;
    EXPECT_NE(e.message.find("[redacted]"), std::string::npos) << e.message;
  }
}

TEST_F(ClientTest, AnAbsurdTotalCountIsABadResponseNotAListToFollow) {
  fake->on("GET", k_default, [](const auto& r) {
    const int page = std::stoi(r.query_param("page"));
    return FakeTransport::json_response(
        200, support::list_envelope(instances(page * 100, 100), page, 100, 1'000'000'000));
  });
  auto list = client().list_instances("default");
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.error().kind, ErrorKind::bad_response);
  EXPECT_NE(list.error().message.find("total_count"), std::string::npos) << list.error().message;
  EXPECT_EQ(fake->request_count(), 1u);
}

// Regression (issue 12, defect 4; issue 14, item 6): a list whose pages do not add up was
// taken as complete, so an owned instance left out of it was forgotten or "created again".
TEST_F(ClientTest, AListThatDoesNotAddUpIsIncompleteNeverShorter) {
  struct Case {
    const char* what;
    std::vector<json> pages;  // answers to page 1, 2, ...
    const char* says;
  };
  const std::vector<Case> cases = {
      {"an empty page before total_count",
       {support::list_envelope(instances(0, 100), 1, 100, 250),
        support::list_envelope(json::array(), 2, 100, 250)},
       "empty after 100 of total_count 250"},
      {"a short page before total_count (an item left out)",
       {support::list_envelope(instances(0, 100), 1, 100, 250),
        support::list_envelope(instances(100, 99), 2, 100, 250)},
       "page 2 holds 99 of 100 items"},
      {"an id on two pages",
       {support::list_envelope(instances(0, 100), 1, 100, 150),
        support::list_envelope(instances(99, 50), 2, 100, 150)},
       "'inst-99' appears twice"},
      {"more items than total_count",
       {support::list_envelope(instances(0, 3), 1, 100, 2)},
       "more than total_count 2"},
      {"more items than per_page",
       {support::list_envelope(instances(0, 101), 1, 100, 101)},
       "more than per_page=100"},
      {"a short first page of a longer list",
       {support::list_envelope(instances(0, 2), 1, 100, 3)},
       "page 1 holds 2 of 100 items"},
      // Breaker: an item deleted on page 1 while the list is read shifts page 2 by one (offset
      // paging): an item is never seen, yet the items add up to page 2's total_count.
      {"total_count changes between pages",
       {support::list_envelope(instances(0, 100), 1, 100, 151),
        support::list_envelope(instances(101, 50), 2, 100, 150)},
       "total_count changed from 151 to 150"},
  };
  for (const auto& c : cases) {
    fake = std::make_shared<FakeTransport>();
    for (const auto& p : c.pages) fake->push_json(200, p);
    auto list = client(config()).list_instances("default");
    ASSERT_FALSE(list.ok()) << c.what << ": taken as a list of " << list.value().size();
    EXPECT_EQ(list.error().kind, ErrorKind::incomplete) << c.what;
    EXPECT_NE(list.error().message.find(c.says), std::string::npos)
        << c.what << ": " << list.error().message;
    EXPECT_EQ(fake->request_count(), c.pages.size()) << c.what << ": never retried";
  }
}

TEST_F(ClientTest, ACompleteListEndsAtTotalCountWithoutAnExtraRequest) {
  fake->push_json(200, support::list_envelope(instances(0, 100), 1, 100, 200));
  fake->push_json(200, support::list_envelope(instances(100, 100), 2, 100, 200));
  auto list = client().list_instances("default");
  ASSERT_TRUE(list.ok()) << list.error().describe();
  EXPECT_EQ(list.value().size(), 200u);
  EXPECT_EQ(fake->request_count(), 2u);
}

TEST_F(ClientTest, AShortTokenDoesNotMangleMessagesAndEchoedHeadersStayRedacted) {
  auto c = config();
  c.token = "t";
  fake->push_json(404, support::error_envelope(7002, "Ai search not found."));
  auto got = client(c).get_instance("default", "x");
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.error().message.find("Ai search not found."), std::string::npos)
      << got.error().message;
  // Redacting is idempotent: an already redacted echo is not redacted again into "]]".
  const std::string once =
      util::sanitize_text("Authorization: Bearer secret-token-1", "secret-token-1", 200);
  EXPECT_EQ(once.find("secret-token-1"), std::string::npos) << once;
  EXPECT_EQ(once.find("]]"), std::string::npos) << once;
  EXPECT_EQ(util::sanitize_text(once, "secret-token-1", 200), once);
}

TEST_F(ClientTest, AFailedPageFailsTheWholeList) {
  fake->push_json(200, support::list_envelope(instances(0, 100), 1, 100, 250));
  fake->push_json(404, support::error_envelope(7002, "not found"));
  auto list = client().list_instances("default");
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.error().kind, ErrorKind::not_found);
}

TEST_F(ClientTest, AMalformedItemFailsTheList) {
  json items = instances(0, 3);
  items[1]["paused"] = "yes";
  fake->push_json(200, support::list_envelope(items, 1, 100, 3));
  auto list = client().list_instances("default");
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.error().kind, ErrorKind::bad_response);
  EXPECT_NE(list.error().message.find("paused"), std::string::npos) << list.error().message;
}

TEST_F(ClientTest, ItemsSeenTwiceAcrossShiftedPagesMakeTheListIncomplete) {
  // Pages that shifted under the listing (an item seen twice) may have let another item slip
  // between them: the list is not taken, rather than silently de-duplicated (issue 14, item 6).
  fake->push_json(200, support::envelope(instances(0, 3)));
  fake->push_json(200, support::envelope(instances(2, 3)));
  fake->push_json(200, support::envelope(json::array()));
  auto list = client().list_instances("default");
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.error().kind, ErrorKind::incomplete);
  EXPECT_NE(list.error().message.find("'inst-2' appears twice"), std::string::npos)
      << list.error().message;
}

// ---- errors and retries ----

TEST_F(ClientTest, ClientErrorsAreNotRetried) {
  struct Case {
    int status;
    int code;
    ErrorKind kind;
  };
  for (const Case c :
       {Case{400, 7001, ErrorKind::client}, Case{404, 7002, ErrorKind::not_found},
        Case{401, 10000, ErrorKind::auth}, Case{403, 10000, ErrorKind::auth},
        Case{409, 0, ErrorKind::conflict}, Case{400, 7022, ErrorKind::already_exists}}) {
    fake->clear_requests();
    fake->push_json(c.status, support::error_envelope(c.code, "nope"));
    auto r = client().get_instance("default", "docs");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind, c.kind) << c.status;
    EXPECT_EQ(r.error().http_status, c.status);
    EXPECT_TRUE(r.error().has_code(c.code));
    EXPECT_EQ(r.error().message, "nope");
    EXPECT_EQ(fake->request_count(), 1u) << c.status;
  }
  EXPECT_EQ(client().counters().retries, 0u);
}

TEST_F(ClientTest, ServerErrorsAreRetriedWithBackoff) {
  fake->push_json(503, support::error_envelope(7017, "Unable to connect to ai search"));
  fake->push_json(500, support::error_envelope(0, "boom"));
  fake->push_json(200, support::envelope(instance("docs")));
  auto r = client().get_instance("default", "docs");
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(fake->request_count(), 3u);
  const auto counters = client().counters();
  EXPECT_EQ(counters.requests, 3u);
  EXPECT_EQ(counters.retries, 2u);
  EXPECT_EQ(counters.by_status[5], 2u);
  EXPECT_EQ(counters.by_status[2], 1u);
  EXPECT_LE(elapsed(), milliseconds(500 + 1000));
}

TEST_F(ClientTest, TransportFailuresAreRetriedExceptTls) {
  fake->push_error(http::TransportError::Kind::network, "connection reset by peer");
  fake->push_error(http::TransportError::Kind::timeout, "timed out");
  fake->push_json(200, support::envelope(instance("docs")));
  EXPECT_TRUE(client().get_instance("default", "docs").ok());
  EXPECT_EQ(fake->request_count(), 3u);

  fake->clear_requests();
  fake->push_error(http::TransportError::Kind::tls, "certificate verify failed");
  auto tls = client().get_instance("default", "docs");
  ASSERT_FALSE(tls.ok());
  EXPECT_EQ(tls.error().kind, ErrorKind::tls);
  EXPECT_EQ(tls.error().http_status, 0);
  EXPECT_EQ(fake->request_count(), 1u);
}

TEST_F(ClientTest, RetriesStopAtMaxAttempts) {
  auto c = config();
  c.retry.max_attempts = 4;
  fake->on("", "/", [](const auto&) {
    return FakeTransport::json_response(503, support::error_envelope(0, "down"));
  });
  auto r = client(c).list_instances("default");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::server);
  EXPECT_EQ(r.error().http_status, 503);
  EXPECT_EQ(fake->request_count(), 4u);
}

TEST_F(ClientTest, RetryAfterSecondsIsHonouredInFakeTime) {
  fake->push_json(429, support::error_envelope(971, "Please wait"), {{"Retry-After", "7"}});
  fake->push_json(200, support::envelope(instance("docs")));
  ASSERT_TRUE(client().get_instance("default", "docs").ok());
  EXPECT_EQ(elapsed(), milliseconds(7000));
  EXPECT_EQ(fake->request_count(), 2u);
}

TEST_F(ClientTest, RetryAfterMsAndHttpDateAreHonoured) {
  fake->push_json(429, support::error_envelope(971, "wait"), {{"retry-after-ms", "1500"}});
  fake->push_json(503, support::error_envelope(0, "wait"),
                  {{"Retry-After", "Tue, 14 Nov 2023 22:13:40 GMT"}});  // now + 20 s - 1.5 s
  fake->push_json(200, support::envelope(instance("docs")));
  ASSERT_TRUE(client().get_instance("default", "docs").ok());
  EXPECT_EQ(elapsed(), milliseconds(20'000));
}

TEST_F(ClientTest, ARetryAfterBeyondTheLimitIsReturnedNotWaited) {
  fake->push_json(429, support::error_envelope(971, "wait"), {{"Retry-After", "3600"}});
  auto r = client().get_instance("default", "docs");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::rate_limited);
  EXPECT_EQ(r.error().retry_after, milliseconds(3'600'000));
  EXPECT_EQ(elapsed(), milliseconds(0));
}

TEST_F(ClientTest, SyncCooldownIsReturnedToTheCaller) {
  fake->push_json(429, support::error_envelope(7020, "Sync in cooldown"), {{"Retry-After", "30"}});
  auto r = client().create_job("default", "docs", std::nullopt);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::sync_cooldown);
  EXPECT_TRUE(r.error().has_code(api::k_code_sync_cooldown));
  EXPECT_EQ(r.error().retry_after, milliseconds(30'000));
  EXPECT_EQ(fake->request_count(), 1u);
}

TEST_F(ClientTest, RequestTimeoutAndConcurrentModificationAreRetried) {
  fake->push_json(408, support::error_envelope(0, "request timeout"));
  fake->push_json(409, support::error_envelope(7099, "namespace modified concurrently"));
  fake->push_json(200, support::envelope(instance("docs")));
  EXPECT_TRUE(client().get_instance("default", "docs").ok());
  EXPECT_EQ(fake->request_count(), 3u);
}

TEST_F(ClientTest, BackoffIsJitteredAndBoundedByTheCaps) {
  std::vector<milliseconds> all_gaps;
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    auto transport = std::make_shared<FakeTransport>();
    std::vector<util::Clock::SteadyTime> times;
    std::mutex m;
    transport->on("", "/", [&](const auto&) {
      std::lock_guard lock(m);
      times.push_back(clock->steady_now());
      return FakeTransport::json_response(500, support::error_envelope(0, "down"));
    });
    auto c = config();
    c.retry.jitter_seed = seed;
    c.retry.max_attempts = 6;
    c.retry.base_delay = milliseconds(100);
    c.retry.max_delay = milliseconds(1000);
    api::Client jittered(c, transport, clock);
    ASSERT_FALSE(jittered.get_instance("default", "docs").ok());
    ASSERT_EQ(times.size(), 6u);
    for (std::size_t i = 1; i < times.size(); ++i) {
      const auto gap = std::chrono::duration_cast<milliseconds>(times[i] - times[i - 1]);
      const auto cap = std::min(milliseconds(1000), milliseconds(100 << (i - 1)));
      EXPECT_GE(gap, milliseconds(0));
      EXPECT_LE(gap, cap) << "retry " << i;
      all_gaps.push_back(gap);
    }
  }
  // Full jitter: the waits spread out instead of all being the cap.
  std::set<milliseconds> distinct(all_gaps.begin(), all_gaps.end());
  EXPECT_GT(distinct.size(), all_gaps.size() / 2);
}

TEST_F(ClientTest, BadBodiesOnSuccessAreBadResponsesNotRetried) {
  fake->push(FakeTransport::text_response(200, "<html><body>Proxy login</body></html>"));
  auto html = client().get_instance("default", "docs");
  ASSERT_FALSE(html.ok());
  EXPECT_EQ(html.error().kind, ErrorKind::bad_response);
  fake->push(FakeTransport::text_response(200, R"({"success":true,"result":{"id":"do)",
                                          "application/json"));
  auto truncated = client().get_instance("default", "docs");
  ASSERT_FALSE(truncated.ok());
  EXPECT_EQ(truncated.error().kind, ErrorKind::bad_response);
  fake->push_json(200, json{{"success", true}});
  auto no_result = client().create_instance("default", json{{"id", "docs"}});
  ASSERT_FALSE(no_result.ok());
  EXPECT_EQ(no_result.error().kind, ErrorKind::bad_response);
  fake->push_json(200, support::envelope({{"id", 12}}));
  auto wrong_type = client().get_instance("default", "docs");
  ASSERT_FALSE(wrong_type.ok());
  EXPECT_EQ(wrong_type.error().kind, ErrorKind::bad_response);
  EXPECT_EQ(fake->request_count(), 4u);
}

// ---- budget and concurrency ----

TEST_F(ClientTest, EveryAttemptSpendsABudgetToken) {
  auto c = config();
  c.budget = {5, milliseconds(10'000)};  // one token per 2 s after a burst of 5
  std::vector<milliseconds> at;
  fake->on("", "/", [&](const auto&) {
    at.push_back(elapsed());
    return FakeTransport::json_response(200, support::envelope(instance("docs")));
  });
  auto& cl = client(c);
  EXPECT_NEAR(cl.budget_tokens(), 5.0, 1e-9);
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(cl.get_instance("default", "docs").ok());
  EXPECT_EQ(at, (std::vector<milliseconds>{milliseconds(0), milliseconds(0), milliseconds(0),
                                           milliseconds(0), milliseconds(0), milliseconds(2000),
                                           milliseconds(4000), milliseconds(6000)}));
  EXPECT_NEAR(cl.budget_tokens(), 0.0, 1e-9);
}

TEST_F(ClientTest, RetriesSpendBudgetToo) {
  auto c = config();
  c.budget = {2, milliseconds(10'000)};
  c.retry.base_delay = milliseconds(0);
  fake->push_json(503, support::error_envelope(0, "down"));
  fake->push_json(503, support::error_envelope(0, "down"));
  fake->push_json(200, support::envelope(instance("docs")));
  ASSERT_TRUE(client(c).get_instance("default", "docs").ok());
  EXPECT_EQ(elapsed(), milliseconds(5000));  // the third attempt waited for a token
}

TEST_F(ClientTest, ConcurrencyIsLimitedAcrossThreads) {
  auto c = config();
  c.concurrency = 2;
  c.budget.capacity = 0;
  std::mutex m;
  std::condition_variable cv;
  int in_flight = 0, peak = 0;
  fake->on("", "/", [&](const auto&) {
    std::unique_lock lock(m);
    peak = std::max(peak, ++in_flight);
    cv.notify_all();
    // Hold the slot until a second request is in flight too (proving both run at once), with a
    // deadline so a broken limiter fails instead of hanging.
    cv.wait_for(lock, std::chrono::seconds(5), [&] { return peak >= 2; });
    --in_flight;
    return FakeTransport::json_response(200, support::envelope(instance("docs")));
  });
  auto& cl = client(c);
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5; ++i) ok += cl.get_instance("default", "docs").ok() ? 1 : 0;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 30);
  EXPECT_EQ(peak, 2);
}

// ---- configuration and secrets ----

TEST(ClientConfig, PlainHttpOnlyForLoopback) {
  api::ClientConfig c;
  c.account_id = "acc";
  c.token = "tok";
  for (const char* ok : {"https://api.cloudflare.com/client/v4", "http://127.0.0.1:8080/client/v4",
                         "http://127.9.8.7/x", "http://localhost:1234", "HTTP://LOCALHOST/",
                         "http://[::1]:9000/client/v4"}) {
    c.api_url = ok;
    EXPECT_TRUE(api::Client::check_config(c).ok()) << ok;
  }
  for (const char* bad : {"http://api.cloudflare.com/client/v4", "http://127.0.0.1.evil.com/",
                          "http://127.0.0.1@evil.com/", "http://10.0.0.1/", "ftp://127.0.0.1/",
                          "api.cloudflare.com", "http://[::2]/", "http:///x", ""}) {
    c.api_url = bad;
    auto r = api::Client::check_config(c);
    EXPECT_FALSE(r.ok()) << bad;
  }
  c.api_url = "https://api.cloudflare.com/client/v4";
  c.account_id = "";
  EXPECT_FALSE(api::Client::check_config(c).ok());
  c.account_id = "acc";
  c.token = "";
  EXPECT_FALSE(api::Client::check_config(c).ok());
  c.token = "tok\r\nX-Evil: 1";
  EXPECT_FALSE(api::Client::check_config(c).ok());
}

TEST_F(ClientTest, AClientWithAPlainHttpRemoteUrlSendsNothing) {
  auto c = config();
  c.api_url = "http://api.cloudflare.com/client/v4";
  auto r = client(c).list_instances("default");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::client);
  EXPECT_NE(r.error().message.find("http://"), std::string::npos) << r.error().message;
  EXPECT_EQ(fake->request_count(), 0u);
}

TEST_F(ClientTest, ObserverSeesEveryAttempt) {
  std::vector<std::pair<std::string, int>> seen;
  client().set_observer([&](const std::string& method, const std::string& path, int status,
                            milliseconds) { seen.emplace_back(method + " " + path, status); });
  fake->push_json(503, support::error_envelope(0, "x"));
  fake->push_error(http::TransportError::Kind::network, "reset");
  fake->push_json(200, support::envelope(instance("docs")));
  ASSERT_TRUE(client().get_instance("default", "docs").ok());
  const std::string path = "GET /client/v4" + k_default + "/docs";
  EXPECT_EQ(seen, (std::vector<std::pair<std::string, int>>{{path, 503}, {path, 0}, {path, 200}}));
}

// The token must not leak through any error path or log line, even when the server echoes the
// Authorization header back.
TEST_F(ClientTest, TheTokenNeverAppearsInErrorsOrLogs) {
  const std::string canary = "CANARYtok3n-9f8e7d6c5b4a3210";
  std::ostringstream log;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log);
  auto logger = std::make_shared<spdlog::logger>("canary", sink);
  logger->set_level(spdlog::level::trace);
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(logger);

  auto c = config();
  c.token = canary;
  c.retry.max_attempts = 2;
  auto& cl = client(c);
  const std::string echo = "Authorization: Bearer " + canary;
  const std::string padded = std::string(api::k_max_message - 10, 'p') + canary;  // cut inside it
  std::vector<http::HttpResponse> answers = {
      FakeTransport::json_response(401, support::error_envelope(10000, "bad header: " + echo)),
      FakeTransport::json_response(400, support::error_envelope(7001, "token " + canary)),
      FakeTransport::json_response(400, support::error_envelope(7001, padded)),
      FakeTransport::json_response(
          400,
          json{{"success", false},
               {"errors", {{{"code", 1}, {"message", canary}}, {{"code", 2}, {"message", echo}}}}}),
      FakeTransport::text_response(200, "<html><pre>" + echo + "</pre></html>"),
      FakeTransport::text_response(502, "<html><pre>" + echo + "</pre></html>"),
      FakeTransport::text_response(403, "<html>" + padded + "</html>"),
      FakeTransport::text_response(200, R"({"success":true,"result":{"id":")" + canary),
      FakeTransport::json_response(200, support::envelope({{"id", canary}, {"paused", canary}})),
      FakeTransport::json_response(503, support::error_envelope(0, "upstream said " + echo),
                                   {{"Retry-After", "1"}}),
  };
  std::vector<api::ApiError> errors;
  for (const auto& a : answers) {
    fake->push(a);
    fake->push(a);  // for the retried ones
    auto r = cl.get_instance("default", "docs");
    ASSERT_FALSE(r.ok());
    errors.push_back(r.error());
    while (fake->queued() > 0) (void)cl.get_namespace("drain");
  }
  fake->push_error(http::TransportError::Kind::network, "proxy said " + echo);
  fake->push_error(http::TransportError::Kind::network, "proxy said " + echo);
  auto transport = cl.get_instance("default", "docs");
  ASSERT_FALSE(transport.ok());
  errors.push_back(transport.error());

  spdlog::set_default_logger(previous);

  // The token was sent, so the test is not vacuous...
  EXPECT_EQ(fake->requests().at(0).header("Authorization"), "Bearer " + canary);
  // ... and no 8-character piece of it is in any error or log line.
  const auto leaks = [&](const std::string& text) {
    for (std::size_t i = 0; i + 8 <= canary.size(); ++i) {
      if (text.find(canary.substr(i, 8)) != std::string::npos) return true;
    }
    return false;
  };
  for (const auto& e : errors) {
    EXPECT_FALSE(leaks(e.message)) << e.message;
    EXPECT_FALSE(leaks(e.describe())) << e.describe();
  }
  EXPECT_FALSE(log.str().empty());
  EXPECT_FALSE(leaks(log.str())) << log.str();
}

}  // namespace

TEST_F(ClientTest, AnAnswerPastMaxAnswerBytesIsRefusedOnceNotRetried) {
  auto c = config();
  c.max_answer_bytes = 1u << 20;
  json items = instances(0, 1);
  items[0]["description"] = std::string(1200 * 1024, 'a');  // a 1.2 MiB answer
  fake->push_json(200, support::list_envelope(items, 1, 100, 1));
  auto list = client(c).list_instances("default");
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.error().kind, ErrorKind::bad_response);
  EXPECT_NE(list.error().message.find("refused the API's answer"), std::string::npos)
      << list.error().message;
  EXPECT_EQ(fake->requests().size(), 1u);
  // The default (8 MiB) takes it.
  fake->push_json(200, support::list_envelope(items, 1, 100, 1));
  EXPECT_TRUE(client(config()).list_instances("default").ok());
}
