#include "api/envelope.hpp"

#include <gtest/gtest.h>

#include <string>

#include "api/retry.hpp"

namespace {

using api::ErrorKind;
using api::ResultNeed;
using nlohmann::json;

const auto k_now = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));

http::HttpResponse response(int status, std::string body, std::string type = "application/json") {
  http::HttpResponse r;
  r.status = status;
  r.headers.emplace_back("content-type", std::move(type));
  r.body = std::move(body);
  return r;
}

util::Result<api::Envelope, api::ApiError> parse(int status, const std::string& body,
                                                 ResultNeed need = ResultNeed::object) {
  return api::parse_response(response(status, body), need, k_now);
}

TEST(Envelope, AcceptsTheMinimalAndTheFullEnvelope) {
  auto minimal = parse(200, R"({"success":true,"result":{"id":"docs"}})");
  ASSERT_TRUE(minimal.ok()) << minimal.error().describe();
  EXPECT_EQ(minimal.value().result["id"], "docs");
  EXPECT_TRUE(minimal.value().result_info.is_null());

  auto full = parse(201, R"({"success":true,"errors":[],"messages":[{"code":1,"message":"hi"}],
      "result":{"id":"docs","brand_new_field":{"x":[1,2]}},"result_info":{"page":1},
      "unknown_top":42})");
  ASSERT_TRUE(full.ok()) << full.error().describe();
  EXPECT_EQ(full.value().result_info["page"], 1);
}

TEST(Envelope, NullErrorsMessagesAndResultInfoAreTolerated) {
  auto r = parse(200, R"({"success":true,"errors":null,"messages":null,"result_info":null,
                          "result":[]})",
                 ResultNeed::array);
  ASSERT_TRUE(r.ok()) << r.error().describe();
}

TEST(Envelope, AnyTwoHundredIsSuccess) {
  for (int status : {200, 201, 202, 204, 299}) {
    EXPECT_TRUE(parse(status, R"({"success":true,"result":{}})").ok()) << status;
  }
}

TEST(Envelope, NonEnvelopeAnswersAreBadResponsesNamingWhatArrived) {
  const std::string html = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body>";
  auto r = api::parse_response(response(200, html, "text/html"), ResultNeed::object, k_now);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::bad_response);
  EXPECT_NE(r.error().message.find("text/html"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("502 Bad Gateway"), std::string::npos) << r.error().message;

  for (const char* body :
       {"", "{\"success\":true,\"result\":{\"id\":\"do", "[1,2,3]", "\"text\"", "null", "42",
        R"({"success":"yes","result":{}})", R"({"result":{}})", R"({"success":true})",
        R"({"success":true,"result":null})", R"({"success":true,"result":[1]})",
        R"({"success":true,"result":{},"errors":"none"})",
        R"({"success":true,"result":{},"result_info":[1]})"}) {
    auto bad = parse(200, body);
    ASSERT_FALSE(bad.ok()) << body;
    EXPECT_EQ(bad.error().kind, ErrorKind::bad_response) << body;
    EXPECT_EQ(bad.error().http_status, 200) << body;
  }
}

TEST(Envelope, ResultNeedDecidesWhatIsRequired) {
  EXPECT_TRUE(parse(200, R"({"success":true})", ResultNeed::any).ok());
  EXPECT_TRUE(parse(200, R"({"success":true,"result":null})", ResultNeed::any).ok());
  EXPECT_FALSE(parse(200, R"({"success":true,"result":{}})", ResultNeed::array).ok());
  EXPECT_FALSE(parse(200, R"({"success":true,"result":[]})", ResultNeed::object).ok());
}

TEST(Envelope, ErrorsCarryCodesAndJoinedMessages) {
  auto r = parse(400, R"({"success":false,"errors":[
      {"code":7001,"message":"bad chunk_size","path":["chunk_size"]},
      {"code":7003,"message":"second"}, "junk", {"code":"x"}],"messages":[],"result":null})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::client);
  EXPECT_EQ(r.error().http_status, 400);
  EXPECT_EQ(r.error().codes, (std::vector<int>{7001, 7003}));
  EXPECT_EQ(r.error().message, "chunk_size: bad chunk_size; second");
}

TEST(Envelope, ErrorKindsFollowStatusAndCode) {
  struct Case {
    int status;
    int code;
    const char* message;
    ErrorKind kind;
  };
  const Case cases[] = {
      {401, 10000, "Authentication error", ErrorKind::auth},
      {403, 10000, "forbidden", ErrorKind::auth},
      {404, 7002, "Ai search not found.", ErrorKind::not_found},
      {400, 7022, "Ai search with this name already exist.", ErrorKind::already_exists},
      {409, 0, "Namespace already exists", ErrorKind::already_exists},
      {409, 7099, "namespace modified concurrently", ErrorKind::conflict},
      {429, 971, "Please wait", ErrorKind::rate_limited},
      {429, 7020, "Sync in cooldown", ErrorKind::sync_cooldown},
      {429, 0, "Sync in cooldown", ErrorKind::sync_cooldown},  // the spec's text, no code
      {429, 0, "Too many requests", ErrorKind::rate_limited},
      {500, 0, "boom", ErrorKind::server},
      {503, 7017, "Unable to connect to ai search", ErrorKind::server},
      {400, 7001, "validation", ErrorKind::client},
      {422, 0, "unprocessable", ErrorKind::client},
  };
  for (const auto& c : cases) {
    const json body = {{"success", false},
                       {"errors", {{{"code", c.code}, {"message", c.message}}}}};
    auto r = parse(c.status, body.dump());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind, c.kind) << c.status << " " << c.message;
    EXPECT_TRUE(r.error().has_code(c.code));
  }
}

TEST(Envelope, ErrorStatusWithHtmlBodyKeepsTheStatusKind) {
  auto r = api::parse_response(response(502, "<html>Bad Gateway</html>", "text/html"),
                               ResultNeed::object, k_now);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::server);
  EXPECT_TRUE(r.error().retryable());
  auto empty = parse(404, "");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().kind, ErrorKind::not_found);
}

TEST(Envelope, SuccessFalseOnTwoHundredIsAnError) {
  auto r = parse(200, R"({"success":false,"errors":[{"code":7002,"message":"gone"}]})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::not_found);
  auto unknown = parse(200, R"({"success":false,"errors":[]})");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().kind, ErrorKind::bad_response);
}

TEST(Envelope, LongMessagesAreCut) {
  const std::string longmsg(5000, 'x');
  auto r = parse(
      400, json({{"success", false}, {"errors", {{{"code", 1}, {"message", longmsg}}}}}).dump());
  ASSERT_FALSE(r.ok());
  EXPECT_LE(r.error().message.size(), api::k_max_message + 3);
  EXPECT_EQ(r.error().message.substr(r.error().message.size() - 3), "...");
}

TEST(RetryAfter, SecondsMillisecondsAndHttpDate) {
  http::HttpResponse r;
  r.headers = {{"retry-after", "7"}};
  EXPECT_EQ(api::parse_retry_after(r, k_now), std::chrono::milliseconds(7000));
  r.headers = {{"retry-after-ms", "1500"}, {"retry-after", "7"}};
  EXPECT_EQ(api::parse_retry_after(r, k_now), std::chrono::milliseconds(1500));
  // k_now is 2023-11-14T22:13:20Z.
  r.headers = {{"retry-after", "Tue, 14 Nov 2023 22:13:50 GMT"}};
  EXPECT_EQ(api::parse_retry_after(r, k_now), std::chrono::milliseconds(30'000));
  r.headers = {{"retry-after", "Tue, 14 Nov 2023 22:00:00 GMT"}};
  EXPECT_EQ(api::parse_retry_after(r, k_now), std::chrono::milliseconds(0));
  for (const char* junk : {"", "soon", "-5", "1e9999", "Tue, 99 Nov 2023 22:00:00 GMT"}) {
    r.headers = {{"retry-after", junk}};
    EXPECT_FALSE(api::parse_retry_after(r, k_now).has_value()) << junk;
  }
  r.headers = {{"retry-after", "99999999999999999999"}};
  ASSERT_TRUE(api::parse_retry_after(r, k_now).has_value());
  EXPECT_GT(*api::parse_retry_after(r, k_now), std::chrono::hours(24 * 365));
}

TEST(PageInfo, OptionalFieldsAndWrongTypes) {
  auto all = api::parse_page_info(
      json{{"page", 2}, {"per_page", 100}, {"count", 3}, {"total_count", 203}});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all.value().total_count, 203);
  auto partial =
      api::parse_page_info(json{{"page", 1}, {"per_page", 50}, {"total_count", nullptr}});
  ASSERT_TRUE(partial.ok());
  EXPECT_FALSE(partial.value().total_count.has_value());
  EXPECT_FALSE(api::parse_page_info(json{{"total_count", "203"}}).ok());
  EXPECT_FALSE(api::parse_page_info(json{{"page", 1.5}}).ok());
}

TEST(Objects, InstanceIsStrictOnWhatItReadsAndKeepsTheRest) {
  auto i = api::parse_instance(json{{"id", "docs"},
                                    {"namespace", nullptr},
                                    {"status", "ready"},
                                    {"paused", nullptr},
                                    {"created_by", nullptr},
                                    {"chunk_size", 512},
                                    {"future", {{"a", 1}}}},
                               "team-a");
  ASSERT_TRUE(i.ok()) << i.error();
  EXPECT_EQ(i.value().ns, "team-a");
  EXPECT_EQ(i.value().status, "ready");
  EXPECT_FALSE(i.value().paused);
  EXPECT_EQ(i.value().raw["future"]["a"], 1);

  auto with_ns = api::parse_instance(json{{"id", "kb"}, {"namespace", "support"}, {"paused", true}},
                                     "default");
  ASSERT_TRUE(with_ns.ok());
  EXPECT_EQ(with_ns.value().ns, "support");
  EXPECT_TRUE(with_ns.value().paused);

  EXPECT_FALSE(api::parse_instance(json{{"status", "ready"}}, "default").ok());
  EXPECT_FALSE(api::parse_instance(json{{"id", 5}}, "default").ok());
  EXPECT_FALSE(api::parse_instance(json{{"id", ""}}, "default").ok());
  EXPECT_FALSE(api::parse_instance(json{{"id", "x"}, {"paused", "no"}}, "default").ok());
  EXPECT_FALSE(api::parse_instance(json::array(), "default").ok());
}

TEST(Objects, JobDerivesItsStateFromTimestamps) {
  auto pending = api::parse_job(
      json{{"id", "j1"}, {"source", "user"}, {"started_at", nullptr}, {"ended_at", nullptr}});
  ASSERT_TRUE(pending.ok());
  EXPECT_TRUE(pending.value().pending());
  auto ended = api::parse_job(json{{"id", "j2"},
                                   {"source", "schedule"},
                                   {"started_at", "2026-01-01T00:00:00Z"},
                                   {"ended_at", "2026-01-01T00:05:00Z"},
                                   {"end_reason", "new_job_has_started"}});
  ASSERT_TRUE(ended.ok());
  EXPECT_TRUE(ended.value().finished());
  EXPECT_EQ(ended.value().end_reason, "new_job_has_started");
  EXPECT_FALSE(api::parse_job(json{{"id", "j3"}, {"started_at", 12}}).ok());
}

TEST(Objects, LogEntriesStatsAndNamespaces) {
  auto e = api::parse_job_log_entry(
      json{{"id", 3}, {"created_at", 1700000000.5}, {"message", "done"}, {"message_type", 1}});
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e.value().id, 3);
  EXPECT_DOUBLE_EQ(e.value().created_at, 1700000000.5);
  EXPECT_FALSE(api::parse_job_log_entry(json{{"message", "no id"}}).ok());

  auto s = api::parse_stats(json{{"degraded", true}, {"last_activity", "x"}});
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s.value().degraded);
  EXPECT_FALSE(s.value().completed.has_value());
  auto counts = api::parse_stats(json{{"completed", 10}, {"error", 2}});
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(counts.value().completed, 10);
  EXPECT_FALSE(api::parse_stats(json{{"completed", "10"}}).ok());

  auto n = api::parse_namespace(
      json{{"name", "support"}, {"description", nullptr}, {"created_at", nullptr}});
  ASSERT_TRUE(n.ok());
  EXPECT_FALSE(n.value().description.has_value());
  EXPECT_FALSE(api::parse_namespace(json{{"description", "x"}}).ok());
}

TEST(PathSegment, EncodesEverythingButUnreserved) {
  EXPECT_EQ(api::encode_path_segment("docs-1_a.b~c"), "docs-1_a.b~c");
  EXPECT_EQ(api::encode_path_segment("a/b c?d#%"), "a%2Fb%20c%3Fd%23%25");
  EXPECT_EQ(api::encode_path_segment(".."), "%2E%2E");
  EXPECT_EQ(api::encode_path_segment("."), "%2E");
  EXPECT_EQ(api::encode_path_segment("a..b"), "a..b");
}

// Issue 14: hostile answers. A list answer whose instance field nests `depth` levels.
std::string nested_list(std::size_t depth, char open, char close) {
  std::string body = R"({"success":true,"result_info":{"total_count":1},"result":[{"id":"docs",)"
                     R"("metadata":)";
  body.reserve(body.size() + 2 * depth * 6 + 64);
  for (std::size_t i = 0; i < depth; ++i) body += open == '{' ? std::string(R"({"a":)") : "[";
  body += "1";
  for (std::size_t i = 0; i < depth; ++i) body += close;
  return body + "}]}";
}

TEST(HostileAnswers, SeventyThousandNestedObjectsAreRefusedWithoutACrash) {
  // Crashed (SIGSEGV in a recursive copy of the parsed document) before issue 14.
  auto r = parse(200, nested_list(70'000, '{', '}'), ResultNeed::array);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::bad_response);
  EXPECT_NE(r.error().message.find("nested deeper than 64 levels"), std::string::npos)
      << r.error().message;
  EXPECT_FALSE(api::retry_delay(api::RetryPolicy{}, r.error(), 1, 0.5).has_value());
}

TEST(HostileAnswers, TwoHundredThousandNestedArraysAreRefusedWithoutACrash) {
  auto r = parse(200, nested_list(200'000, '[', ']'), ResultNeed::array);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::bad_response);
  EXPECT_NE(r.error().message.find("nested deeper than 64 levels"), std::string::npos)
      << r.error().message;
  // The same on an error status: refused, not a retryable 5xx.
  auto e = parse(503, nested_list(200'000, '[', ']'), ResultNeed::array);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().kind, ErrorKind::bad_response);
  EXPECT_FALSE(api::retry_delay(api::RetryPolicy{}, e.error(), 1, 0.5).has_value());
}

TEST(HostileAnswers, SixtyFourLevelsParseAndSixtyFiveDoNot) {
  // The envelope and the result array are two of the levels, the instance object a third.
  auto ok = parse(200, nested_list(61, '{', '}'), ResultNeed::array);
  ASSERT_TRUE(ok.ok()) << ok.error().describe();
  EXPECT_EQ(ok.value().result[0]["id"], "docs");
  EXPECT_FALSE(parse(200, nested_list(62, '{', '}'), ResultNeed::array).ok());
}

TEST(HostileAnswers, AnAnswerThatWouldParseIntoTooMuchMemoryIsRefused) {
  // 1.5 M tiny items in 3 MiB of JSON: ~50 MiB once parsed. Accepted before issue 14.
  std::string body = R"({"success":true,"result":[)";
  for (int i = 0; i < 1'500'000; ++i) body += i == 0 ? "0" : ",0";
  body += "]}";
  auto r = parse(200, body, ResultNeed::array);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::bad_response);
  EXPECT_NE(r.error().message.find("MiB once parsed"), std::string::npos) << r.error().message;
  api::JsonLimits small;
  small.max_bytes = 1024;
  auto big = api::parse_response(response(200, std::string(2048, ' ') + "{}"), ResultNeed::any,
                                 k_now, "", small);
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.error().message.find("larger than"), std::string::npos) << big.error().message;
}

TEST(HostileAnswers, ABodyCutByTheTransportIsRefusedAndNotRetried) {
  auto cut = response(503, "");
  cut.body_over_limit = 8u << 20;
  auto r = api::parse_response(cut, ResultNeed::array, k_now);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::bad_response);
  EXPECT_NE(r.error().message.find("body larger than 8 MiB (after decompression)"),
            std::string::npos)
      << r.error().message;
  EXPECT_FALSE(api::retry_delay(api::RetryPolicy{}, r.error(), 1, 0.5).has_value());
}

TEST(HostileAnswers, RedirectsAndInvalidUtf8NameTheirCause) {
  auto moved = response(301, "<html>moved</html>", "text/html");
  moved.headers.emplace_back("location", "https://elsewhere.example/v4");
  auto r = api::parse_response(moved, ResultNeed::object, k_now);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::bad_response);
  EXPECT_NE(r.error().message.find("redirected (HTTP 301) to https://elsewhere.example/v4"),
            std::string::npos)
      << r.error().message;
  auto utf8 = parse(200, "{\"success\":true,\"result\":{\"id\":\"d\xff\"}}");
  ASSERT_FALSE(utf8.ok());
  EXPECT_NE(utf8.error().message.find("invalid UTF-8 at byte 33"), std::string::npos)
      << utf8.error().message;
  auto syntax = parse(200, "{\"success\":true,");
  ASSERT_FALSE(syntax.ok());
  EXPECT_NE(syntax.error().message.find("not JSON at byte"), std::string::npos)
      << syntax.error().message;
}

}  // namespace
