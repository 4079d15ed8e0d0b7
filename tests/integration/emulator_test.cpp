// The emulator against raw HTTP: what a client of the real API would observe (API.md).
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "support/emulator_process.hpp"
#include "support/poll.hpp"

namespace {

using json = nlohmann::json;
using support::EmulatorProcess;

struct Answer {
  int status = 0;  // 0: no HTTP answer at all
  json body;       // null when the body is not JSON
  std::string raw;
  httplib::Headers headers;
  std::string error;  // transport error when status == 0
};

// Raw HTTP against an emulator; paths are relative to /client/v4/accounts/test-account/ai-search.
class Http {
 public:
  explicit Http(int port) : m_port(port) {}

  Answer call(const std::string& method, const std::string& path, const json& body = nullptr,
              const std::string& token = EmulatorProcess::k_token, int read_timeout_s = 10) const {
    return raw(
        method,
        std::string("/client/v4/accounts/") + EmulatorProcess::k_account + "/ai-search" + path,
        body, token, read_timeout_s);
  }

  Answer raw(const std::string& method, const std::string& full_path, const json& body,
             const std::string& token, int read_timeout_s = 10) const {
    httplib::Client client("127.0.0.1", m_port);
    client.set_read_timeout(read_timeout_s, 0);
    client.set_connection_timeout(5, 0);
    httplib::Headers headers;
    if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
    const std::string payload = body.is_null() ? std::string("{}") : body.dump();
    auto send = [&]() -> httplib::Result {
      if (method == "GET") return client.Get(full_path, headers);
      if (method == "POST") return client.Post(full_path, headers, payload, "application/json");
      if (method == "PUT") return client.Put(full_path, headers, payload, "application/json");
      if (method == "PATCH") return client.Patch(full_path, headers, payload, "application/json");
      return client.Delete(full_path, headers);
    };
    httplib::Result res = send();
    Answer a;
    if (!res) {
      a.error = httplib::to_string(res.error());
      return a;
    }
    a.status = res->status;
    a.raw = res->body;
    a.headers = res->headers;
    try {
      a.body = json::parse(res->body);
    } catch (const json::exception&) {
      a.body = nullptr;
    }
    return a;
  }

 private:
  int m_port;
};

std::string first_path(const Answer& a) {
  if (!a.body.is_object() || a.body["errors"].empty()) return "<no error>";
  const json& e = a.body["errors"][0];
  if (!e.contains("path")) return "<no path>";
  std::string s;
  for (const auto& p : e["path"]) s += (s.empty() ? "" : ".") + p.get<std::string>();
  return s;
}

int error_code(const Answer& a) {
  if (!a.body.is_object() || !a.body["errors"].is_array() || a.body["errors"].empty()) return -1;
  return a.body["errors"][0].value("code", -1);
}

class EmulatorTest : public ::testing::Test {
 protected:
  // Jobs run on the manual clock: they end when a test advances it, not when the machine gets
  // round to the next request.
  EmulatorTest()
      : emu({"--job-duration", "1s", "--job-cooldown", "30s", "--clock", "manual"}),
        http(emu.port()) {}

  json create(const std::string& id, json extra = json::object(), const std::string& ns = "") {
    extra["id"] = id;
    auto a = http.call("POST", instances_path(ns), extra);
    EXPECT_EQ(a.status, 200) << a.raw;
    return a.body["result"];
  }
  static std::string instances_path(const std::string& ns) {
    return ns.empty() ? "/instances" : "/namespaces/" + ns + "/instances";
  }
  void advance(long long ms) { emu.control("POST", "clock/advance", {{"ms", ms}}); }

  EmulatorProcess emu;
  Http http;
};

// ---- paths, envelope, auth ----------------------------------------------------------------

TEST_F(EmulatorTest, AccountPathsAreTheDefaultNamespace) {
  create("docs", {{"source", "docs-bucket"}});
  auto viaNs = http.call("GET", "/namespaces/default/instances/docs");
  ASSERT_EQ(viaNs.status, 200);
  EXPECT_EQ(viaNs.body["result"]["namespace"], "default");
  create("kb", {{"source", "kb-bucket"}}, "default");
  auto list = http.call("GET", "/instances");
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.body["result_info"]["total_count"], 2);
  EXPECT_EQ(http.call("GET", "/instances/kb").status, 200);
}

TEST_F(EmulatorTest, EveryAnswerIsACloudflareEnvelope) {
  auto ok = http.call("GET", "/instances");
  ASSERT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body["success"], true);
  EXPECT_EQ(ok.body["errors"], json::array());
  EXPECT_EQ(ok.body["messages"], json::array());
  EXPECT_TRUE(ok.body["result"].is_array());
  EXPECT_TRUE(ok.body.contains("result_info"));

  auto missing = http.call("GET", "/instances/nope");
  ASSERT_EQ(missing.status, 404);
  EXPECT_EQ(missing.body["success"], false);
  EXPECT_TRUE(missing.body["result"].is_null());
  EXPECT_EQ(missing.body["messages"], json::array());
  EXPECT_EQ(error_code(missing), 7002);
  EXPECT_EQ(missing.body["errors"][0]["message"], "Ai search not found.");
}

TEST_F(EmulatorTest, WrongOrMissingTokenIs401) {
  for (const std::string token : {"", "wrong-token"}) {
    auto a = http.call("GET", "/instances", nullptr, token);
    EXPECT_EQ(a.status, 401) << token;
    EXPECT_EQ(error_code(a), 10000);
    EXPECT_EQ(a.body["errors"][0]["message"], "Authentication error");
    EXPECT_EQ(a.raw.find(EmulatorProcess::k_token), std::string::npos);
  }
  // No instance got created by an unauthenticated write.
  http.call("POST", "/instances", {{"id", "sneaky"}}, "wrong-token");
  EXPECT_EQ(http.call("GET", "/instances/sneaky").status, 404);
}

TEST_F(EmulatorTest, UnknownAccountAndUnknownRoute) {
  auto other = http.raw("GET", "/client/v4/accounts/someone-else/ai-search/instances", nullptr,
                        EmulatorProcess::k_token);
  EXPECT_EQ(other.status, 403);
  EXPECT_EQ(error_code(other), 9109);
  auto route = http.call("GET", "/widgets");
  EXPECT_EQ(route.status, 404);
  EXPECT_EQ(error_code(route), 7003);
}

// ---- instances ----------------------------------------------------------------------------

TEST_F(EmulatorTest, CreateFillsServerDefaultsAndReadOnlyFields) {
  json r = create("docs", {{"source", "docs-bucket"}, {"chunk_size", 512}});
  EXPECT_EQ(r["chunk_size"], 512);
  EXPECT_EQ(r["chunk_overlap"], 10);
  EXPECT_EQ(r["max_num_results"], 10);
  EXPECT_DOUBLE_EQ(r["score_threshold"].get<double>(), 0.4);
  EXPECT_EQ(r["fusion_method"], "rrf");
  EXPECT_EQ(r["cache"], true);
  EXPECT_EQ(r["cache_threshold"], "close_enough");
  EXPECT_EQ(r["cache_ttl"], 172800);
  EXPECT_EQ(r["sync_interval"], 21600);
  EXPECT_EQ(r["index_method"], json({{"keyword", true}, {"vector", true}}));
  EXPECT_EQ(r["hybrid_search_enabled"], true);
  EXPECT_EQ(r["reranking"], false);
  EXPECT_EQ(r["rewrite_query"], false);
  EXPECT_EQ(r["paused"], false);
  EXPECT_EQ(r["status"], "waiting");
  EXPECT_EQ(r["type"], "r2");
  EXPECT_EQ(r["namespace"], "default");
  EXPECT_EQ(r["enable"], true);
  EXPECT_EQ(r["created_by"], "emulator@example.com");
  EXPECT_EQ(r["modified_by"], "emulator@example.com");
  EXPECT_TRUE(r["created_at"].is_string());
  EXPECT_TRUE(r["modified_at"].is_string());
  EXPECT_EQ(create("site", {{"source", "https://example.com"}})["type"], "web-crawler");
}

TEST_F(EmulatorTest, GetCreateUpdateDeleteOmitListOnlyFieldsThatListReturns) {
  json created = create("docs", {{"source", "b"}, {"chunk", false}});
  auto upd = http.call("PUT", "/instances/docs",
                       {{"summarization", true}, {"system_prompt_ai_search", "be brief"}});
  ASSERT_EQ(upd.status, 200) << upd.raw;
  auto get = http.call("GET", "/instances/docs");
  auto list = http.call("GET", "/instances");
  for (const json& one : {created, upd.body["result"], get.body["result"]}) {
    EXPECT_FALSE(one.contains("chunk"));
    EXPECT_FALSE(one.contains("summarization"));
    EXPECT_FALSE(one.contains("summarization_model"));
    EXPECT_FALSE(one.contains("system_prompt_ai_search"));
    EXPECT_FALSE(one.contains("system_prompt_rewrite_query"));
  }
  const json& item = list.body["result"][0];
  EXPECT_EQ(item["chunk"], false);
  EXPECT_EQ(item["summarization"], true);
  EXPECT_EQ(item["system_prompt_ai_search"], "be brief");
  EXPECT_TRUE(item.contains("system_prompt_index_summarization"));
  auto del = http.call("DELETE", "/instances/docs");
  ASSERT_EQ(del.status, 200);
  EXPECT_EQ(del.body["result"]["id"], "docs");
  EXPECT_FALSE(del.body["result"].contains("chunk"));
  EXPECT_EQ(http.call("GET", "/instances/docs").status, 404);
}

TEST_F(EmulatorTest, UpdateIsPartialAndReplacesNestedObjectsWhole) {
  create("docs", {{"source", "b"},
                  {"max_num_results", 5},
                  {"retrieval_options", {{"keyword_match_mode", "or"}}},
                  {"public_endpoint_params",
                   {{"enabled", true}, {"authorized_hosts", {"a.example.com"}}}}});
  emu.control("PUT", "config", {{"user", "other@example.com"}});
  auto a = http.call("PUT", "/instances/docs",
                     {{"chunk_size", 1024},
                      {"public_endpoint_params", {{"enabled", false}}},
                      {"retrieval_options", {{"boost_by", {{{"field", "timestamp"}}}}}},
                      {"created_at", "1999-01-01T00:00:00Z"},
                      {"unknown_field", 1}});
  ASSERT_EQ(a.status, 200) << a.raw;
  const json& r = a.body["result"];
  EXPECT_EQ(r["chunk_size"], 1024);
  EXPECT_EQ(r["max_num_results"], 5);                                  // omitted: kept
  EXPECT_EQ(r["public_endpoint_params"], json({{"enabled", false}}));  // replaced whole
  EXPECT_EQ(r["retrieval_options"]["keyword_match_mode"], "or");       // kept when omitted
  EXPECT_EQ(r["modified_by"], "other@example.com");
  EXPECT_EQ(r["created_by"], "emulator@example.com");
  EXPECT_NE(r["created_at"], "1999-01-01T00:00:00Z");  // read-only, ignored
  EXPECT_FALSE(r.contains("unknown_field"));
}

struct ValidationCase {
  const char* name;
  json body;
  const char* path;
};

TEST_F(EmulatorTest, CreateValidationFailsWith400AndThePath) {
  const std::vector<ValidationCase> cases = {
      {"missing id", {{"source", "b"}}, "id"},
      {"id pattern", {{"id", "Docs"}}, "id"},
      {"id trailing dash", {{"id", "docs-"}}, "id"},
      {"id too long", {{"id", std::string(65, 'a')}}, "id"},
      {"chunk_size small", {{"id", "a"}, {"chunk_size", 63}}, "chunk_size"},
      {"chunk_size type", {{"id", "a"}, {"chunk_size", "512"}}, "chunk_size"},
      {"chunk_overlap", {{"id", "a"}, {"chunk_overlap", 31}}, "chunk_overlap"},
      {"max_num_results 0", {{"id", "a"}, {"max_num_results", 0}}, "max_num_results"},
      {"max_num_results 51", {{"id", "a"}, {"max_num_results", 51}}, "max_num_results"},
      {"score_threshold", {{"id", "a"}, {"score_threshold", 1.5}}, "score_threshold"},
      {"type", {{"id", "a"}, {"type", "s3"}}, "type"},
      {"fusion_method", {{"id", "a"}, {"fusion_method", "sum"}}, "fusion_method"},
      {"cache_threshold", {{"id", "a"}, {"cache_threshold", "exact"}}, "cache_threshold"},
      {"cache_ttl", {{"id", "a"}, {"cache_ttl", 601}}, "cache_ttl"},
      {"sync_interval", {{"id", "a"}, {"sync_interval", 60}}, "sync_interval"},
      {"tokenizer",
       {{"id", "a"}, {"indexing_options", {{"keyword_tokenizer", "whitespace"}}}},
       "indexing_options.keyword_tokenizer"},
      {"index_method incomplete",
       {{"id", "a"}, {"index_method", {{"keyword", true}}}},
       "index_method.vector"},
      {"boolean", {{"id", "a"}, {"reranking", "yes"}}, "reranking"},
      {"custom_metadata type",
       {{"id", "a"}, {"custom_metadata", {{{"field_name", "x"}, {"data_type", "blob"}}}}},
       "custom_metadata.0.data_type"},
      {"boost direction",
       {{"id", "a"},
        {"retrieval_options", {{"boost_by", {{{"field", "x"}, {"direction", "up"}}}}}}},
       "retrieval_options.boost_by.0.direction"},
      {"public endpoint rate limit",
       {{"id", "a"}, {"public_endpoint_params", {{"rate_limit", {{"period_ms", 10}}}}}},
       "public_endpoint_params.rate_limit.period_ms"},
      {"parse_type",
       {{"id", "a"}, {"source_params", {{"web_crawler", {{"parse_type", "crawl"}}}}}},
       "source_params.web_crawler.parse_type"},
      {"paused is update-only", {{"id", "a"}, {"paused", true}}, "paused"},
      {"summarization is update-only", {{"id", "a"}, {"summarization", true}}, "summarization"},
      {"system prompt is update-only",
       {{"id", "a"}, {"system_prompt_rewrite_query", "x"}},
       "system_prompt_rewrite_query"},
  };
  for (const auto& c : cases) {
    auto a = http.call("POST", "/instances", c.body);
    EXPECT_EQ(a.status, 400) << c.name << ": " << a.raw;
    EXPECT_EQ(first_path(a), c.path) << c.name << ": " << a.raw;
    EXPECT_EQ(a.body["success"], false) << c.name;
  }
  EXPECT_EQ(http.call("GET", "/instances").body["result_info"]["total_count"], 0);
  // The boundaries themselves are accepted.
  create("edge", {{"chunk_size", 64},
                  {"chunk_overlap", 30},
                  {"max_num_results", 50},
                  {"score_threshold", 0},
                  {"cache_ttl", 600},
                  {"sync_interval", 900},
                  {"type", nullptr},
                  {"some_future_field", true}});
  create(std::string(64, 'a'));
}

TEST_F(EmulatorTest, UpdateValidationRejectsCreateOnlyFieldsAndBadValues) {
  create("docs");
  const std::vector<ValidationCase> cases = {
      {"type", {{"type", "r2"}}, "type"},
      {"hybrid", {{"hybrid_search_enabled", false}}, "hybrid_search_enabled"},
      {"range", {{"max_num_results", 100}}, "max_num_results"},
      {"paused type", {{"paused", "no"}}, "paused"},
  };
  for (const auto& c : cases) {
    auto a = http.call("PUT", "/instances/docs", c.body);
    EXPECT_EQ(a.status, 400) << c.name << ": " << a.raw;
    EXPECT_EQ(first_path(a), c.path) << c.name;
  }
  EXPECT_EQ(http.call("GET", "/instances/docs").body["result"]["max_num_results"], 10);
  auto paused = http.call("PUT", "/instances/docs", {{"paused", true}});
  ASSERT_EQ(paused.status, 200);
  EXPECT_EQ(paused.body["result"]["paused"], true);
}

TEST_F(EmulatorTest, NotFoundIs7002AndDuplicateIs7022) {
  for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/instances/nope"},
           {"PUT", "/instances/nope"},
           {"DELETE", "/instances/nope"},
           {"GET", "/instances/nope/stats"},
           {"POST", "/instances/nope/jobs"},
           {"GET", "/namespaces/default/instances/nope/jobs"}}) {
    auto a = http.call(method, path, json::object());
    EXPECT_EQ(a.status, 404) << method << " " << path;
    EXPECT_EQ(error_code(a), 7002) << method << " " << path;
  }
  create("docs");
  auto dup = http.call("POST", "/namespaces/default/instances", {{"id", "docs"}});
  EXPECT_EQ(dup.status, 400);
  EXPECT_EQ(error_code(dup), 7022);
  EXPECT_EQ(dup.body["errors"][0]["message"], "Ai search with this name already exist.");
  // Ids are unique per namespace only.
  http.call("POST", "/namespaces", {{"name", "team-a"}});
  create("docs", json::object(), "team-a");
  // A namespace that does not exist.
  EXPECT_EQ(http.call("GET", "/namespaces/ghost/instances").status, 404);
  EXPECT_EQ(http.call("POST", "/namespaces/ghost/instances", {{"id", "x"}}).status, 404);
}

TEST_F(EmulatorTest, PaginatesTwoHundredFiftyInstances) {
  json instances = json::array();
  for (int i = 0; i < 250; ++i) instances.push_back({{"id", "inst-" + std::to_string(1000 + i)}});
  emu.control("POST", "seed", {{"instances", instances}});
  std::set<std::string> seen;
  for (int page = 1; page <= 3; ++page) {
    auto a = http.call("GET", "/instances?per_page=100&page=" + std::to_string(page));
    ASSERT_EQ(a.status, 200);
    const json& info = a.body["result_info"];
    EXPECT_EQ(info["page"], page);
    EXPECT_EQ(info["per_page"], 100);
    EXPECT_EQ(info["total_count"], 250);
    EXPECT_EQ(info["count"], page < 3 ? 100 : 50);
    EXPECT_EQ(a.body["result"].size(), info["count"].get<std::size_t>());
    for (const auto& item : a.body["result"]) seen.insert(item["id"].get<std::string>());
  }
  EXPECT_EQ(seen.size(), 250u);
  auto past = http.call("GET", "/instances?per_page=100&page=4");
  EXPECT_EQ(past.body["result"].size(), 0u);
  EXPECT_EQ(past.body["result_info"]["total_count"], 250);
  auto dflt = http.call("GET", "/instances");
  EXPECT_EQ(dflt.body["result_info"]["per_page"], 20);
  EXPECT_EQ(dflt.body["result"].size(), 20u);
  auto search = http.call("GET", "/instances?search=INST-11");
  EXPECT_EQ(search.body["result_info"]["total_count"], 100);  // inst-1100 .. inst-1199
  for (const char* bad : {"per_page=0", "per_page=101", "page=0", "page=x"}) {
    auto a = http.call("GET", std::string("/instances?") + bad);
    EXPECT_EQ(a.status, 400) << bad;
    EXPECT_EQ(first_path(a), std::string(bad).substr(0, std::string(bad).find('='))) << bad;
  }
}

TEST_F(EmulatorTest, SeedSimulatesSomeoneElsesDrift) {
  create("docs", {{"max_num_results", 20}});
  emu.control(
      "POST", "seed",
      {{"instances",
        {{{"id", "docs"}, {"max_num_results", 5}, {"modified_by", "someone@example.com"}},
         {{"namespace", "team-b"}, {"id", "hand-made"}, {"source", "https://x.example"}}}}});
  auto a = http.call("GET", "/instances/docs");
  EXPECT_EQ(a.body["result"]["max_num_results"], 5);
  EXPECT_EQ(a.body["result"]["modified_by"], "someone@example.com");
  auto b = http.call("GET", "/namespaces/team-b/instances/hand-made");
  ASSERT_EQ(b.status, 200);
  EXPECT_EQ(b.body["result"]["type"], "web-crawler");
  std::set<std::string> dumped;
  const json state = emu.control("GET", "state");
  for (const auto& i : state["instances"]) {
    dumped.insert(i["namespace"].get<std::string>() + "/" + i["id"].get<std::string>());
    EXPECT_TRUE(i["fields"].contains("chunk"));
  }
  EXPECT_EQ(dumped, (std::set<std::string>{"default/docs", "team-b/hand-made"}));
}

// ---- namespaces and move -----------------------------------------------------------------

TEST_F(EmulatorTest, NamespaceRules) {
  auto created = http.call("POST", "/namespaces", {{"name", "team-a"}, {"description", "A"}});
  ASSERT_EQ(created.status, 201) << created.raw;
  EXPECT_EQ(created.body["result"]["name"], "team-a");
  EXPECT_EQ(created.body["result"]["description"], "A");
  EXPECT_TRUE(created.body["result"]["created_at"].is_string());
  EXPECT_EQ(http.call("POST", "/namespaces", {{"name", "team-a"}}).status, 409);
  EXPECT_EQ(http.call("POST", "/namespaces", {{"name", "default"}}).status, 409);
  for (const char* bad : {"Team", "-a", "a-", "a_b", "abcdefghijklmnopqrstuvwxyz0123"}) {
    auto a = http.call("POST", "/namespaces", {{"name", bad}});
    EXPECT_EQ(a.status, 400) << bad;
    EXPECT_EQ(first_path(a), "name") << bad;
  }
  auto long_desc =
      http.call("POST", "/namespaces", {{"name", "x"}, {"description", std::string(257, 'd')}});
  EXPECT_EQ(first_path(long_desc), "description");

  auto list = http.call("GET", "/namespaces");
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.body["result"].size(), 1u);  // never `default`
  EXPECT_EQ(list.body["result"][0]["name"], "team-a");
  EXPECT_EQ(list.body["result_info"]["total_count"], 1);

  EXPECT_EQ(http.call("GET", "/namespaces/default").status, 200);
  EXPECT_EQ(http.call("GET", "/namespaces/nope").status, 404);
  EXPECT_EQ(http.call("PUT", "/namespaces/default", {{"description", "x"}}).status, 400);
  auto upd = http.call("PUT", "/namespaces/team-a", {{"description", "B"}});
  EXPECT_EQ(upd.body["result"]["description"], "B");

  create("docs", json::object(), "team-a");
  auto not_empty = http.call("DELETE", "/namespaces/team-a");
  EXPECT_EQ(not_empty.status, 400);
  EXPECT_EQ(not_empty.body["errors"][0]["message"], "Namespace not empty.");
  EXPECT_EQ(http.call("DELETE", "/namespaces/default").status, 400);
  http.call("DELETE", "/namespaces/team-a/instances/docs");
  auto gone = http.call("DELETE", "/namespaces/team-a");
  EXPECT_EQ(gone.status, 200);
  EXPECT_EQ(gone.body["result"], json::object());
  EXPECT_EQ(http.call("GET", "/namespaces/team-a").status, 404);
}

TEST_F(EmulatorTest, MoveBetweenNamespaces) {
  http.call("POST", "/namespaces", {{"name", "team-a"}});
  create("docs", {{"chunk_size", 300}});
  auto moved =
      http.call("PATCH", "/namespaces/default/instances/docs", {{"new_namespace", "team-a"}});
  ASSERT_EQ(moved.status, 200) << moved.raw;
  EXPECT_EQ(moved.body["result"], json::object());
  EXPECT_EQ(http.call("GET", "/instances/docs").status, 404);
  auto there = http.call("GET", "/namespaces/team-a/instances/docs");
  ASSERT_EQ(there.status, 200);
  EXPECT_EQ(there.body["result"]["chunk_size"], 300);
  EXPECT_EQ(there.body["result"]["namespace"], "team-a");

  create("docs");
  auto dup =
      http.call("PATCH", "/namespaces/team-a/instances/docs", {{"new_namespace", "default"}});
  EXPECT_EQ(dup.status, 400);
  EXPECT_EQ(error_code(dup), 7022);
  EXPECT_EQ(http.call("PATCH", "/namespaces/team-a/instances/docs", {{"new_namespace", "nowhere"}})
                .status,
            404);
  EXPECT_EQ(http.call("PATCH", "/namespaces/team-a/instances/ghost", {{"new_namespace", "default"}})
                .status,
            404);
  EXPECT_EQ(first_path(http.call("PATCH", "/namespaces/team-a/instances/docs", json::object())),
            "new_namespace");
}

// ---- jobs --------------------------------------------------------------------------------

TEST_F(EmulatorTest, JobRunsThenCompletesByItselfAndCoolsDown) {
  create("docs", {{"source", "docs-bucket"}});
  emu.control("PUT", "config", {{"job_duration_ms", 200}});
  auto started =
      http.call("POST", "/namespaces/default/instances/docs/jobs", {{"description", "nightly"}});
  ASSERT_EQ(started.status, 200) << started.raw;
  const json job = started.body["result"];
  EXPECT_EQ(job["source"], "user");
  EXPECT_EQ(job["description"], "nightly");
  EXPECT_TRUE(job["started_at"].is_string());
  EXPECT_TRUE(job["ended_at"].is_null());
  EXPECT_TRUE(job["end_reason"].is_null());
  const std::string id = job["id"].get<std::string>();

  advance(199);
  EXPECT_TRUE(http.call("GET", "/instances/docs/jobs/" + id).body["result"]["ended_at"].is_null())
      << "still running 1 ms before its end";
  advance(1);
  const json seen = http.call("GET", "/instances/docs/jobs/" + id).body["result"];
  EXPECT_EQ(seen["end_reason"], "completed");
  EXPECT_EQ(seen["last_seen_at"], seen["ended_at"]);
  EXPECT_EQ(http.call("GET", "/instances/docs").body["result"]["status"], "ready");

  auto cooldown = http.call("POST", "/instances/docs/jobs");
  EXPECT_EQ(cooldown.status, 429);
  EXPECT_EQ(error_code(cooldown), 7020);
  EXPECT_EQ(cooldown.body["errors"][0]["message"], "Sync in cooldown");
  advance(31000);
  EXPECT_EQ(http.call("POST", "/instances/docs/jobs").status, 200);

  auto logs = http.call("GET", "/namespaces/default/instances/docs/jobs/" + id + "/logs");
  ASSERT_EQ(logs.status, 200);
  ASSERT_GE(logs.body["result"].size(), 2u);
  for (const auto& entry : logs.body["result"]) {
    EXPECT_TRUE(entry["id"].is_number_integer());
    EXPECT_TRUE(entry["created_at"].is_number());
    EXPECT_TRUE(entry["message"].is_string());
    EXPECT_TRUE(entry["message_type"].is_number_integer());
  }
}

TEST_F(EmulatorTest, FailingJobEndsWithErrorAndLogLines) {
  create("docs", {{"source", "docs-bucket"}});
  emu.control("PUT", "config", {{"job_outcomes", {{"default/docs", "fail"}}}});
  auto started = http.call("POST", "/instances/docs/jobs");
  const std::string id = started.body["result"]["id"];
  advance(1500);
  auto job = http.call("GET", "/instances/docs/jobs/" + id).body["result"];
  EXPECT_EQ(job["end_reason"], "error");
  auto logs =
      http.call("GET", "/namespaces/default/instances/docs/jobs/" + id + "/logs?per_page=500");
  int failures = 0;
  for (const auto& entry : logs.body["result"]) {
    if (entry["message"].get<std::string>().find("failed to fetch") != std::string::npos)
      ++failures;
  }
  EXPECT_GE(failures, 1);
  auto stats = http.call("GET", "/namespaces/default/instances/docs/stats");
  EXPECT_GT(stats.body["result"]["error"].get<int>(), 0);
  auto paged =
      http.call("GET", "/namespaces/default/instances/docs/jobs/" + id + "/logs?per_page=1&page=2");
  EXPECT_EQ(paged.body["result"].size(), 1u);
  EXPECT_EQ(paged.body["result"][0]["id"], 2);
}

TEST_F(EmulatorTest, NewJobSupersedesRunningOneAndCancelEndsIt) {
  create("docs");
  auto first = http.call("POST", "/instances/docs/jobs").body["result"]["id"].get<std::string>();
  auto second = http.call("POST", "/instances/docs/jobs");
  ASSERT_EQ(second.status, 200) << second.raw;
  auto old = http.call("GET", "/instances/docs/jobs/" + first).body["result"];
  EXPECT_EQ(old["end_reason"], "new_job_has_started");
  EXPECT_FALSE(old["ended_at"].is_null());

  const std::string id = second.body["result"]["id"];
  auto bad =
      http.call("PATCH", "/namespaces/default/instances/docs/jobs/" + id, {{"action", "pause"}});
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(first_path(bad), "action");
  auto cancelled =
      http.call("PATCH", "/namespaces/default/instances/docs/jobs/" + id, {{"action", "cancel"}});
  ASSERT_EQ(cancelled.status, 200);
  EXPECT_EQ(cancelled.body["result"]["end_reason"], "cancelled");
  EXPECT_FALSE(cancelled.body["result"]["ended_at"].is_null());

  auto list = http.call("GET", "/namespaces/default/instances/docs/jobs");
  ASSERT_EQ(list.body["result"].size(), 2u);
  EXPECT_EQ(list.body["result"][0]["id"], id);  // newest first
  EXPECT_EQ(list.body["result_info"]["total_count"], 2);
  EXPECT_EQ(http.call("GET", "/instances/docs/jobs/nope").status, 404);
}

TEST_F(EmulatorTest, StalledJobStopsReportingAndNeverEnds) {
  create("docs");
  emu.control("PUT", "config", {{"job_outcome", "stall"}});
  const std::string id = http.call("POST", "/instances/docs/jobs").body["result"]["id"];
  advance(5000);
  auto a = http.call("GET", "/instances/docs/jobs/" + id).body["result"];
  advance(60000);
  auto b = http.call("GET", "/instances/docs/jobs/" + id).body["result"];
  EXPECT_TRUE(b["ended_at"].is_null());
  EXPECT_EQ(a["last_seen_at"], b["last_seen_at"]);
}

TEST_F(EmulatorTest, TheManualClockMovesOnlyWhenAdvanced) {
  // Regression (issue 20): jobs ran on the wall clock, so a test that took longer than a job
  // between two requests met a job that had ended (and a cooldown) it did not expect.
  create("docs");
  emu.control("PUT", "config", {{"job_duration_ms", 1}});
  const std::string id = http.call("POST", "/instances/docs/jobs").body["result"]["id"];
  const json before = emu.control("GET", "state");
  // However many requests (and however much real time) pass, the job is still running.
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(http.call("GET", "/instances/docs/jobs/" + id).body["result"]["ended_at"].is_null())
        << "request " << i;
  }
  EXPECT_EQ(emu.control("GET", "state")["now"], before["now"]);
  EXPECT_EQ(before["clock"], "manual");
  advance(1);
  EXPECT_EQ(http.call("GET", "/instances/docs/jobs/" + id).body["result"]["end_reason"],
            "completed");
  // The wall clock is one config change away, and bad values are refused.
  EXPECT_EQ(emu.control("PUT", "config", {{"clock", "wall"}})["clock"], "wall");
  EXPECT_THROW(emu.control("PUT", "config", {{"clock", "sundial"}}), std::runtime_error);
}

TEST_F(EmulatorTest, ScheduledJobsAppearThroughTheControlApi) {
  create("docs");
  auto job = emu.control("POST", "instances/default/docs/schedule-job");
  EXPECT_EQ(job["source"], "schedule");
  auto list = http.call("GET", "/instances/docs/jobs");
  ASSERT_EQ(list.body["result"].size(), 1u);
  EXPECT_EQ(list.body["result"][0]["source"], "schedule");
  EXPECT_THROW(emu.control("POST", "instances/default/ghost/schedule-job"), std::runtime_error);
}

// ---- limits and faults ---------------------------------------------------------------------

TEST(EmulatorLimits, GlobalRateLimitIs971WithRetryAfter) {
  EmulatorProcess emu({"--rate-limit", "5/60"});
  Http http(emu.port());
  for (int i = 0; i < 5; ++i) EXPECT_EQ(http.call("GET", "/instances").status, 200) << i;
  auto limited = http.call("GET", "/instances");
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(error_code(limited), 971);
  ASSERT_TRUE(limited.headers.count("Retry-After"));
  int retry = std::stoi(limited.headers.find("Retry-After")->second);
  EXPECT_GE(retry, 1);
  EXPECT_LE(retry, 60);
  EXPECT_NO_THROW(emu.control("GET", "config"));  // control API is never limited
}

TEST_F(EmulatorTest, InjectedHttpFaultsDoNotApplyWrites) {
  emu.control("PUT", "config", {{"fault_rate", 1.0}, {"faults", {"500"}}});
  auto a = http.call("POST", "/instances", {{"id", "docs"}});
  EXPECT_EQ(a.status, 500);
  EXPECT_EQ(a.body["success"], false);
  emu.control("PUT", "config", {{"faults", {"503"}}});
  auto b = http.call("POST", "/instances", {{"id", "docs"}});
  EXPECT_EQ(b.status, 503);
  EXPECT_EQ(error_code(b), 7017);
  emu.control("PUT", "config", {{"faults", {"429"}}});
  auto limited = http.call("POST", "/instances", {{"id", "docs"}});
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(error_code(limited), 971);
  EXPECT_TRUE(limited.headers.count("Retry-After"));
  emu.control("PUT", "config", {{"faults", {"reset"}}});
  auto c = http.call("POST", "/instances", {{"id", "docs"}});
  EXPECT_EQ(c.status, 0) << "a reset must leave the client without an answer";
  EXPECT_FALSE(c.error.empty());
  emu.control("PUT", "config", {{"fault_rate", 0.0}});
  EXPECT_EQ(http.call("GET", "/instances/docs").status, 404);
  auto log = emu.control("GET", "requests");
  ASSERT_GE(log.size(), 4u);
  EXPECT_EQ(log[0]["fault"], "500");
  EXPECT_EQ(log[1]["fault"], "503");
  EXPECT_EQ(log[2]["fault"], "429");
  EXPECT_EQ(log[3]["fault"], "reset");
  EXPECT_EQ(log[3]["status"], 0);
}

TEST_F(EmulatorTest, TheRequestLogIsInArrivalOrder) {
  // Regression (issue 20): an entry was written when its request finished, so a request held
  // by the server (or a reset, logged after the connection was cut) came after requests that
  // arrived later. Request A is held by a timeout fault; its entry is there while it is held,
  // and B, sent after A arrived, comes after it.
  emu.control("PUT", "config",
              {{"fault_rate", 1.0}, {"faults", {"timeout"}}, {"timeout_hold_ms", 60000}});
  std::thread held(
      [&] { http.call("GET", "/instances/held", nullptr, EmulatorProcess::k_token, 1); });
  json log;
  support::poll_until(
      [&] {
        log = emu.control("GET", "requests");
        return !log.empty();
      },
      std::chrono::seconds(30));
  ASSERT_EQ(log.size(), 1u) << "A is logged when it arrives, not when it ends";
  EXPECT_TRUE(log[0]["status"].is_null()) << log[0];
  emu.control("PUT", "config", {{"fault_rate", 0.0}});
  EXPECT_EQ(http.call("GET", "/instances/after").status, 404);
  log = emu.control("GET", "requests");
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0]["path"], "/client/v4/accounts/test-account/ai-search/instances/held");
  EXPECT_EQ(log[0]["seq"], 1);
  EXPECT_EQ(log[1]["path"], "/client/v4/accounts/test-account/ai-search/instances/after");
  EXPECT_EQ(log[1]["seq"], 2);
  EXPECT_EQ(log[1]["status"], 404);
  held.join();

  // A reset followed at once by the next request: the reset is logged first, complete.
  for (int i = 0; i < 20; ++i) {
    emu.control("DELETE", "requests");
    emu.control("PUT", "config", {{"fault_rate", 1.0}, {"faults", {"reset"}}});
    EXPECT_EQ(http.call("GET", "/instances").status, 0);
    emu.control("PUT", "config", {{"fault_rate", 0.0}});
    EXPECT_EQ(http.call("GET", "/instances").status, 200);
    log = emu.control("GET", "requests");
    ASSERT_EQ(log.size(), 2u);
    EXPECT_EQ(log[0]["fault"], "reset") << "round " << i;
    EXPECT_EQ(log[0]["status"], 0) << "round " << i;
    EXPECT_EQ(log[1]["status"], 200) << "round " << i;
  }
}

TEST_F(EmulatorTest, TruncateAndTimeoutApplyTheWriteThenFailTheAnswer) {
  emu.control("PUT", "config", {{"fault_rate", 1.0}, {"faults", {"truncate"}}});
  auto a = http.call("POST", "/instances", {{"id", "docs"}});
  EXPECT_EQ(a.status, 200);
  EXPECT_TRUE(a.body.is_null()) << "body should be cut mid-way: " << a.raw;
  EXPECT_FALSE(a.raw.empty());

  // Held far longer than the client waits (released when the emulator stops), so a slow
  // machine cannot see the 504 before its own timeout.
  emu.control("PUT", "config", {{"faults", {"timeout"}}, {"timeout_hold_ms", 600000}});
  auto start = std::chrono::steady_clock::now();
  auto b = http.call("POST", "/instances", {{"id", "kb"}}, EmulatorProcess::k_token, 1);
  EXPECT_EQ(b.status, 0) << "the client should time out";
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(900));

  emu.control("PUT", "config", {{"fault_rate", 0.0}});
  EXPECT_EQ(http.call("GET", "/instances/docs").status, 200);
  EXPECT_EQ(http.call("GET", "/instances/kb").status, 200);
  // A retried create now meets the duplicate: what makes duplicate-create bugs visible.
  EXPECT_EQ(error_code(http.call("POST", "/instances", {{"id", "docs"}})), 7022);
}

TEST_F(EmulatorTest, ShortFaultDropsOneListItemAndKeepsTheTotal) {
  for (const char* id : {"a1", "a2", "a3", "a4", "a5"}) create(id);
  emu.control("PUT", "config", {{"fault_rate", 1.0}, {"faults", {"short"}}});
  auto page = http.call("GET", "/instances?per_page=3");
  ASSERT_EQ(page.status, 200) << page.raw;
  EXPECT_EQ(page.body["result"].size(), 2u) << page.raw;
  EXPECT_EQ(page.body["result_info"]["total_count"], 5) << page.raw;
  EXPECT_EQ(page.body["result_info"]["count"], 2) << page.raw;
  EXPECT_EQ(page.body["result_info"]["page"], 1) << page.raw;
  // Anything but a non-empty list page is answered whole, and logged without a fault.
  auto one = http.call("GET", "/instances/a1");
  EXPECT_EQ(one.status, 200);
  EXPECT_EQ(one.body["result"]["id"], "a1");
  auto log = emu.control("GET", "requests");
  ASSERT_GE(log.size(), 7u);
  EXPECT_EQ(log[5]["fault"], "short");
  EXPECT_EQ(log[5]["status"], 200);
  EXPECT_FALSE(log[6].contains("fault")) << log[6];
  emu.control("PUT", "config", {{"fault_rate", 0.0}});
  EXPECT_EQ(http.call("GET", "/instances?per_page=3").body["result"].size(), 3u);
}

TEST_F(EmulatorTest, LostFaultAppliesTheWriteAndResetsTheConnection) {
  emu.control("PUT", "config", {{"fault_rate", 1.0}, {"faults", {"lost"}}});
  auto lost = http.call("POST", "/instances", {{"id", "docs"}});
  EXPECT_EQ(lost.status, 0) << "the answer must be lost: " << lost.raw;
  EXPECT_FALSE(lost.error.empty());
  emu.control("PUT", "config", {{"fault_rate", 0.0}});
  EXPECT_EQ(http.call("GET", "/instances/docs").status, 200) << "the write was applied";
  auto log = emu.control("GET", "requests");
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0]["fault"], "lost");
  EXPECT_EQ(log[0]["status"], 0);
  // A retried create then meets the duplicate.
  EXPECT_EQ(error_code(http.call("POST", "/instances", {{"id", "docs"}})), 7022);
}

TEST_F(EmulatorTest, FaultsCanTargetOnePathAndSomeMethods) {
  for (const char* ns : {"team-a", "team-b"})
    ASSERT_EQ(http.call("POST", "/namespaces", {{"name", ns}}).status, 201) << ns;
  create("one", json::object(), "team-a");
  create("two", json::object(), "team-b");
  auto config = emu.control("PUT", "config",
                            {{"fault_rate", 1.0},
                             {"faults", {"500"}},
                             {"fault_path", "/namespaces/team-a/instances"},
                             {"fault_methods", {"get"}}});
  EXPECT_EQ(config["fault_path"], "/namespaces/team-a/instances");
  EXPECT_EQ(config["fault_methods"], json::array({"GET"}));
  emu.control("DELETE", "requests");
  EXPECT_EQ(http.call("GET", "/namespaces/team-a/instances").status, 500);
  EXPECT_EQ(http.call("GET", "/namespaces/team-a/instances/one").status, 500);
  EXPECT_EQ(http.call("GET", "/namespaces/team-b/instances").status, 200);
  EXPECT_EQ(http.call("GET", "/namespaces").status, 200);
  EXPECT_EQ(http.call("POST", "/namespaces/team-a/instances", {{"id", "three"}}).status, 200)
      << "POST is not a targeted method";
  auto log = emu.control("GET", "requests");
  ASSERT_EQ(log.size(), 5u);
  EXPECT_EQ(log[0]["fault"], "500");
  EXPECT_EQ(log[1]["fault"], "500");
  for (std::size_t i = 2; i < log.size(); ++i) EXPECT_FALSE(log[i].contains("fault")) << log[i];
  // Cleared targeting faults every request again; a bad method is refused.
  emu.control("PUT", "config", {{"fault_path", ""}, {"fault_methods", json::array()}});
  EXPECT_EQ(http.call("POST", "/namespaces/team-b/instances", {{"id", "four"}}).status, 500);
  EXPECT_THROW(emu.control("PUT", "config", {{"fault_methods", {"FETCH"}}}), std::runtime_error);
}

TEST_F(EmulatorTest, TheRateWindowRunsOnTheManualClock) {
  // On the manual clock the window ends when the test says, however slowly requests come.
  emu.control("PUT", "config", {{"rate_limit", "2/10"}});
  EXPECT_EQ(http.call("GET", "/instances").status, 200);
  EXPECT_EQ(http.call("GET", "/instances").status, 200);
  auto limited = http.call("GET", "/instances");
  ASSERT_EQ(limited.status, 429);
  ASSERT_TRUE(limited.headers.count("Retry-After"));
  EXPECT_EQ(limited.headers.find("Retry-After")->second, "10");
  advance(9000);
  limited = http.call("GET", "/instances");
  ASSERT_EQ(limited.status, 429);
  EXPECT_EQ(limited.headers.find("Retry-After")->second, "1");
  advance(1000);
  EXPECT_EQ(http.call("GET", "/instances").status, 200);
}

TEST(EmulatorFaults, SameSeedSameFaults) {
  auto statuses = [](const std::string& seed) {
    EmulatorProcess emu({"--fault-rate", "0.5", "--faults", "500,503", "--seed", seed});
    Http http(emu.port());
    std::vector<int> out;
    for (int i = 0; i < 30; ++i) out.push_back(http.call("GET", "/instances").status);
    return out;
  };
  auto a = statuses("7");
  EXPECT_EQ(a, statuses("7"));
  EXPECT_NE(std::count(a.begin(), a.end(), 200), 30);
  EXPECT_NE(std::count(a.begin(), a.end(), 200), 0);
}

TEST_F(EmulatorTest, LatencyDelaysApiButNotControl) {
  emu.control("PUT", "config", {{"latency_ms", 300}});
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(http.call("GET", "/instances").status, 200);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(300));
  emu.control("PUT", "config", {{"latency_ms", 0}, {"fault_rate", 1.0}, {"faults", {"500"}}});
  EXPECT_NO_THROW(emu.control("GET", "state"));
}

TEST_F(EmulatorTest, RequestLogRecordsApiCallsAndCanBeCleared) {
  http.call("GET", "/instances?per_page=5");
  http.call("POST", "/instances", {{"id", "docs"}});
  http.call("GET", "/instances/nope");
  auto log = emu.control("GET", "requests");
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[0]["seq"], 1);
  EXPECT_EQ(log[0]["method"], "GET");
  EXPECT_EQ(log[0]["path"], "/client/v4/accounts/test-account/ai-search/instances");
  EXPECT_EQ(log[0]["query"], "per_page=5");
  EXPECT_EQ(log[0]["status"], 200);
  EXPECT_TRUE(log[0]["time_ms"].is_number());
  EXPECT_EQ(log[1]["method"], "POST");
  EXPECT_EQ(log[2]["status"], 404);
  EXPECT_FALSE(log[0].contains("fault"));
  emu.control("DELETE", "requests");
  EXPECT_EQ(emu.control("GET", "requests").size(), 0u);
}

TEST_F(EmulatorTest, ResetEmptiesEverything) {
  http.call("POST", "/namespaces", {{"name", "team-a"}});
  create("docs");
  emu.control("POST", "reset");
  EXPECT_EQ(http.call("GET", "/instances").body["result_info"]["total_count"], 0);
  EXPECT_EQ(http.call("GET", "/namespaces").body["result"].size(), 0u);
  EXPECT_EQ(emu.control("GET", "requests").size(), 2u);  // only the two above, after reset
  EXPECT_THROW(emu.control("PUT", "config", {{"no_such_key", 1}}), std::runtime_error);
}

TEST_F(EmulatorTest, HandlesConcurrentCreates) {
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        auto a = http.call("POST", "/instances",
                           {{"id", "c-" + std::to_string(t) + "-" + std::to_string(i)}});
        if (a.status == 200) ++ok;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 200);
  EXPECT_EQ(http.call("GET", "/instances").body["result_info"]["total_count"], 200);
}

TEST(EmulatorState, StateFileSurvivesRestart) {
  auto dir =
      std::filesystem::temp_directory_path() / ("emulator-state-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string file = (dir / "state.json").string();
  std::string job_id;
  {
    EmulatorProcess emu({"--state-file", file});
    Http http(emu.port());
    ASSERT_EQ(http.call("POST", "/namespaces", {{"name", "team-a"}, {"description", "A"}}).status,
              201);
    ASSERT_EQ(
        http.call("POST", "/namespaces/team-a/instances", {{"id", "docs"}, {"chunk_size", 777}})
            .status,
        200);
    job_id = http.call("POST", "/namespaces/team-a/instances/docs/jobs").body["result"]["id"];
    int status = emu.stop();
    ASSERT_TRUE(WIFEXITED(status)) << status;
    EXPECT_EQ(WEXITSTATUS(status), 0);
  }
  ASSERT_TRUE(std::filesystem::exists(file));
  {
    EmulatorProcess emu({"--state-file", file});
    Http http(emu.port());
    auto ns = http.call("GET", "/namespaces/team-a");
    EXPECT_EQ(ns.status, 200);
    EXPECT_EQ(ns.body["result"]["description"], "A");
    auto inst = http.call("GET", "/namespaces/team-a/instances/docs");
    ASSERT_EQ(inst.status, 200);
    EXPECT_EQ(inst.body["result"]["chunk_size"], 777);
    EXPECT_EQ(http.call("GET", "/namespaces/team-a/instances/docs/jobs/" + job_id).status, 200);
  }
  {
    // A corrupt state file is refused, never silently replaced by an empty state.
    std::FILE* f = std::fopen(file.c_str(), "w");
    std::fputs("{not json", f);
    std::fclose(f);
    EXPECT_THROW(EmulatorProcess({"--state-file", file}), std::runtime_error);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
