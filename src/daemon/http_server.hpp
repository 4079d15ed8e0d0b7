#pragma once

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

// The metrics/health/status endpoint (cpp-httplib, kept out of this header). GET only; other
// paths answer 404, other methods 405. Two worker threads; after a connection that served a large
// answer (>= 64 KiB) the freed heap is handed back to the kernel (malloc_trim).
class HttpServer {
 public:
  explicit HttpServer(HttpHandlers handlers);
  ~HttpServer();  // stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds `listen` and serves on a background thread. Fails with a message (bad address, port in
  // use) without starting anything.
  util::Result<void, std::string> start(const std::string& listen);
  // The bound port (useful with port 0); 0 before start().
  int port() const { return m_port; }
  // Stops serving and joins the thread. Idempotent.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
  int m_port = 0;
};

}  // namespace service
