#include "daemon/http_server.hpp"

#include <gtest/gtest.h>

#include <atomic>

#include "http_get.hpp"

namespace {

using service::HttpReply;

TEST(HttpServer, ParseListen) {
  auto a = service::parse_listen("127.0.0.1:9464");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->first, "127.0.0.1");
  EXPECT_EQ(a->second, 9464);
  auto b = service::parse_listen("[::1]:0");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->first, "::1");
  EXPECT_EQ(b->second, 0);
  for (const char* bad : {"", "9464", ":9464", "host:", "host:x1", "host:70000", "::1:9464",
                          "[::1]9464", "host:123456"})
    EXPECT_FALSE(service::parse_listen(bad).ok()) << bad;
}

TEST(HttpServer, ServesTheFourEndpointsAndRefusesTheRest) {
  std::atomic<int> ready_status{503};
  service::HttpHandlers h;
  h.metrics = [] { return HttpReply{200, "text/plain; version=0.0.4", "aisearchd_up 1\n"}; };
  h.healthz = [] { return HttpReply{200, "text/plain", "ok\n"}; };
  h.readyz = [&] { return HttpReply{ready_status.load(), "text/plain", "why\n"}; };
  h.status = [] { return HttpReply{200, "application/json", "{}"}; };
  service::HttpServer server(h);
  auto started = server.start("127.0.0.1:0");
  ASSERT_TRUE(started.ok()) << started.error();
  ASSERT_GT(server.port(), 0);

  auto m = daemon_test::http_get(server.port(), "/metrics");
  EXPECT_EQ(m.status, 200);
  EXPECT_EQ(m.body, "aisearchd_up 1\n");
  EXPECT_NE(m.headers.find("version=0.0.4"), std::string::npos);
  EXPECT_EQ(daemon_test::http_get(server.port(), "/healthz").body, "ok\n");
  EXPECT_EQ(daemon_test::http_get(server.port(), "/readyz").status, 503);
  ready_status = 200;
  EXPECT_EQ(daemon_test::http_get(server.port(), "/readyz").status, 200);
  EXPECT_EQ(daemon_test::http_get(server.port(), "/status").body, "{}");
  EXPECT_EQ(daemon_test::http_get(server.port(), "/nope").status, 404);
  EXPECT_EQ(daemon_test::http_get(server.port(), "/metrics", "POST").status, 405);
  server.stop();
  EXPECT_EQ(daemon_test::http_get(server.port(), "/healthz").status, 0);
}

TEST(HttpServer, AHandlerThatThrowsAnswers500) {
  service::HttpHandlers h;
  h.status = []() -> HttpReply { throw std::runtime_error("boom"); };
  service::HttpServer server(h);
  ASSERT_TRUE(server.start("127.0.0.1:0").ok());
  auto got = daemon_test::http_get(server.port(), "/status");
  EXPECT_EQ(got.status, 500);
  EXPECT_EQ(daemon_test::http_get(server.port(), "/metrics").status, 404);  // no handler
}

TEST(HttpServer, APortInUseFailsToStart) {
  service::HttpServer first({});
  ASSERT_TRUE(first.start("127.0.0.1:0").ok());
  service::HttpServer second({});
  auto r = second.start("127.0.0.1:" + std::to_string(first.port()));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("cannot bind"), std::string::npos);
  EXPECT_FALSE(service::HttpServer({}).start("not an address").ok());
}

TEST(HttpServer, ServesLargeAnswersWholeOneAfterAnother) {
  // Answers over 64 KiB make the server hand freed memory back after the connection.
  service::HttpHandlers h;
  std::atomic<int> calls{0};
  h.status = [&] {
    const int n = ++calls;
    return HttpReply{200, "application/json", std::string(1u << 20, static_cast<char>('a' + n))};
  };
  service::HttpServer server(h);
  ASSERT_TRUE(server.start("127.0.0.1:0").ok());
  for (int i = 1; i <= 3; ++i) {
    auto got = daemon_test::http_get(server.port(), "/status");
    EXPECT_EQ(got.status, 200);
    EXPECT_EQ(got.body, std::string(1u << 20, static_cast<char>('a' + i)));
  }
  EXPECT_EQ(daemon_test::http_get(server.port(), "/healthz").status, 404);  // no handler
}

TEST(HttpServer, StopWithoutStartAndTwiceIsHarmless) {
  service::HttpServer s({});
  s.stop();
  ASSERT_TRUE(s.start("127.0.0.1:0").ok());
  s.stop();
  s.stop();
}

}  // namespace
