#include "daemon/http_server.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <vector>

#include "http_get.hpp"
#include "support/ports.hpp"

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
  // Its listening socket is closed (asked of this process: a connection attempt could meet
  // another process that took the port since).
  EXPECT_FALSE(support::this_process_listens_on(server.port()));
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

// ---- issue 14: hostile clients ----

// A raw loopback connection with a receive timeout.
int connect_raw(int port, int timeout_s = 5) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{timeout_s, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void send_all(int fd, const std::string& data) {
  (void)!::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
}

// Everything until the server closes or the receive timeout passes.
std::string read_until_close(int fd) {
  std::string raw;
  char buf[4096];
  for (;;) {
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    raw.append(buf, static_cast<std::size_t>(n));
  }
  return raw;
}

int status_of(const std::string& raw) {
  if (raw.rfind("HTTP/1.", 0) != 0 || raw.size() < 12) return 0;
  return std::stoi(raw.substr(9, 3));
}

service::HttpHandlers health_only() {
  service::HttpHandlers h;
  h.healthz = [] { return HttpReply{200, "text/plain", "ok\n"}; };
  h.metrics = [] { return HttpReply{200, "text/plain", "m\n"}; };
  return h;
}

TEST(HttpServerHostile, APostIsRefusedBeforeItsBodyIsSent) {
  // Before issue 14 the body was read in full (300 MiB in memory) before the 405.
  service::HttpServer server(health_only());
  ASSERT_TRUE(server.start("127.0.0.1:0").ok());
  const int fd = connect_raw(server.port());
  ASSERT_GE(fd, 0);
  send_all(fd, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 314572800\r\n\r\n");
  EXPECT_EQ(status_of(read_until_close(fd)), 405);
  ::close(fd);
}

TEST(HttpServerHostile, AGetWithABodyIsRefusedAtOnce) {
  service::HttpServer server(health_only());
  ASSERT_TRUE(server.start("127.0.0.1:0").ok());
  for (const char* body_header : {"Content-Length: 1000000", "Transfer-Encoding: chunked"}) {
    const int fd = connect_raw(server.port());
    ASSERT_GE(fd, 0);
    send_all(fd, std::string("GET /healthz HTTP/1.1\r\nHost: x\r\n") + body_header + "\r\n\r\n");
    EXPECT_EQ(status_of(read_until_close(fd)), 413) << body_header;
    ::close(fd);
  }
}

TEST(HttpServerHostile, HeaderCountAndSizeAreCapped) {
  // Before issue 14: any number of headers was read and answered 200.
  service::HttpServer server(health_only());
  ASSERT_TRUE(server.start("127.0.0.1:0").ok());
  std::string many = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 100; ++i) many += "X-H" + std::to_string(i) + ": v\r\n";
  int fd = connect_raw(server.port());
  send_all(fd, many + "\r\n");
  EXPECT_EQ(status_of(read_until_close(fd)), 431);
  ::close(fd);
  fd = connect_raw(server.port());
  send_all(fd, "GET /healthz HTTP/1.1\r\nX-Big: " + std::string(20'000, 'a') + "\r\n\r\n");
  EXPECT_EQ(status_of(read_until_close(fd)), 431);
  ::close(fd);
  EXPECT_EQ(daemon_test::http_get(server.port(), "/healthz").status, 200);
}

TEST(HttpServerHostile, SlowClientsDoNotBlockHealthz) {
  // Before issue 14 two connections trickling their headers held both threads.
  service::HttpServer server(health_only());
  ASSERT_TRUE(server.start("127.0.0.1:0").ok());
  std::vector<int> slow;
  for (int i = 0; i < 50; ++i) {
    const int fd = connect_raw(server.port());
    ASSERT_GE(fd, 0);
    send_all(fd, "GET /metrics HTTP/1.1\r\nX-Slow: ");
    slow.push_back(fd);
  }
  for (int i = 0; i < 5; ++i) {
    auto got = daemon_test::http_get(server.port(), "/healthz");
    EXPECT_EQ(got.status, 200);
    EXPECT_EQ(daemon_test::http_get(server.port(), "/metrics").body, "m\n");
  }
  for (int fd : slow) ::close(fd);
}

TEST(HttpServerHostile, TheWholeHeadHasADeadline) {
  service::HttpServerLimits limits;
  limits.head_deadline = std::chrono::milliseconds(200);
  service::HttpServer server(health_only(), limits);
  ASSERT_TRUE(server.start("127.0.0.1:0").ok());
  const int fd = connect_raw(server.port(), 10);
  send_all(fd, "GET /healthz HTTP/1.1\r\n");
  // The server closes the connection (recv returns 0) instead of waiting for the rest.
  char c;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(::recv(fd, &c, 1, 0), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  ::close(fd);
}

TEST(HttpServerHostile, IdleConnectionsAreCappedOldestFirst) {
  service::HttpServerLimits limits;
  limits.max_connections = 8;
  service::HttpServer server(health_only(), limits);
  ASSERT_TRUE(server.start("127.0.0.1:0").ok());
  std::vector<int> idle;
  for (int i = 0; i < 20; ++i) {
    const int fd = connect_raw(server.port());
    ASSERT_GE(fd, 0);
    idle.push_back(fd);
  }
  EXPECT_EQ(daemon_test::http_get(server.port(), "/healthz").status, 200);
  // The oldest were closed to make room (recv sees the end), the newest are still open.
  char c;
  EXPECT_EQ(::recv(idle.front(), &c, 1, 0), 0);
  EXPECT_EQ(::recv(idle[1], &c, 1, 0), 0);
  EXPECT_EQ(::recv(idle.back(), &c, 1, MSG_DONTWAIT), -1);
  for (int fd : idle) ::close(fd);
}

TEST(HttpServerHostile, HeadAnswersWithoutABody) {
  service::HttpServer server(health_only());
  ASSERT_TRUE(server.start("127.0.0.1:0").ok());
  auto got = daemon_test::http_get(server.port(), "/healthz", "HEAD");
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(got.body, "");
}

}  // namespace
