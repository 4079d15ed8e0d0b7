#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "util/result.hpp"

namespace service {

// One HTTP answer.
struct HttpReply {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// What the endpoint serves; each handler runs on a server thread and must be thread-safe.
struct HttpHandlers {
  std::function<HttpReply()> metrics;  // GET /metrics
  std::function<HttpReply()> healthz;  // GET /healthz
  std::function<HttpReply()> readyz;   // GET /readyz
  std::function<HttpReply()> status;   // GET /status
};

// "HOST:PORT" or "[V6]:PORT" -> host and port. Fails with a message on anything else
// (port 0 = any free port).
util::Result<std::pair<std::string, int>, std::string> parse_listen(const std::string& listen);

// What one client may cost the endpoint. Defaults follow Go's net/http advice for an exposed
// server (ReadHeaderTimeout, MaxHeaderBytes) scaled to four GET routes.
struct HttpServerLimits {
  std::size_t max_head_bytes = 8u << 10;             // request line + headers; more is 431
  std::size_t max_headers = 32;                      // header lines; more is 431
  std::chrono::milliseconds head_deadline{5'000};    // the whole head, from accept; then closed
  std::chrono::milliseconds write_deadline{10'000};  // the whole answer; then closed
  // Open connections at most; a new one closes the oldest still sending its head. 0 = a quarter
  // of RLIMIT_NOFILE (at most 256), so clients can never take the descriptors the reconcile
  // loop and state saves need.
  std::size_t max_connections = 0;
  std::size_t workers = 2;  // threads running the /metrics /readyz /status handlers
};

// The metrics/health/status endpoint: its own small HTTP/1.1 server (one poll thread and a few
// handler threads), because cpp-httplib 0.11 (Debian 12, a compiled library) has no header count
// limit, no whole-head deadline and no connection cap, and holds a thread per connection.
// GET and HEAD only: other paths answer 404; another method 405 and a GET with a body 413, both at
// once and without reading the body. One request per connection (Connection: close). Slow or idle
// clients cost a descriptor and a few KiB each, never a thread: /healthz is answered on the poll
// thread itself (its handler must be quick) and the others on `workers` threads. After a large
// answer (>= 64 KiB) the freed heap is handed back to the kernel (malloc_trim).
class HttpServer {
 public:
  explicit HttpServer(HttpHandlers handlers, HttpServerLimits limits = {});
  ~HttpServer();  // stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds `listen` and serves on a background thread. Fails with a message (bad address, port in
  // use) without starting anything.
  util::Result<void, std::string> start(const std::string& listen);
  // The bound port (useful with port 0); 0 before start().
  int port() const { return m_port; }
  // Stops serving, closes every connection and joins the threads. Idempotent.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
  int m_port = 0;
};

}  // namespace service
