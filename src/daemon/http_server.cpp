#include "daemon/http_server.hpp"

#include <httplib.h>
#include <malloc.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace service {

util::Result<std::pair<std::string, int>, std::string> parse_listen(const std::string& listen) {
  std::string host, port;
  if (!listen.empty() && listen[0] == '[') {
    auto close = listen.find(']');
    if (close == std::string::npos || close + 1 >= listen.size() || listen[close + 1] != ':')
      return util::Err("listen: \"" + listen + "\" is not [ADDRESS]:PORT");
    host = listen.substr(1, close - 1);
    port = listen.substr(close + 2);
  } else {
    auto colon = listen.rfind(':');
    if (colon == std::string::npos || listen.find(':') != colon)
      return util::Err("listen: \"" + listen + "\" is not HOST:PORT");
    host = listen.substr(0, colon);
    port = listen.substr(colon + 1);
  }
  if (host.empty()) return util::Err("listen: \"" + listen + "\" has no host");
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
    return util::Err("listen: \"" + listen + "\" has no valid port");
  int p = std::stoi(port);
  if (p > 65535) return util::Err("listen: port " + port + " is out of range");
  return std::make_pair(host, p);
}

namespace {

// An answer this big (/status or /metrics with hundreds of instances) was built from many times
// its size in short-lived allocations.
constexpr std::size_t k_trim_after_bytes = 64u << 10;

// httplib's ThreadPool, plus: after a connection that served a big answer, the freed heap pages
// go back to the kernel (malloc_trim). Otherwise every scrape of a large daemon leaves megabytes
// of garbage resident until the next reconcile's trim.
class TrimmingTaskQueue final : public httplib::TaskQueue {
 public:
  TrimmingTaskQueue(std::size_t threads, std::atomic<bool>& trim_wanted)
      : m_pool(threads), m_trim_wanted(trim_wanted) {}

  void enqueue(std::function<void()> fn) override {
    m_pool.enqueue([this, fn = std::move(fn)] {
      fn();
      if (m_trim_wanted.exchange(false)) ::malloc_trim(0);
    });
  }
  void shutdown() override { m_pool.shutdown(); }

 private:
  httplib::ThreadPool m_pool;
  std::atomic<bool>& m_trim_wanted;
};

}  // namespace

struct HttpServer::Impl {
  HttpHandlers handlers;
  std::atomic<bool> trim_wanted{false};  // outlives the server's task queue
  httplib::Server server;
  std::thread thread;
};

HttpServer::HttpServer(HttpHandlers handlers) : m_impl(std::make_unique<Impl>()) {
  m_impl->handlers = std::move(handlers);
}

HttpServer::~HttpServer() {
  stop();
}

util::Result<void, std::string> HttpServer::start(const std::string& listen) {
  auto addr = parse_listen(listen);
  if (!addr) return util::Err(addr.error());
  auto& srv = m_impl->server;
  srv.new_task_queue = [impl = m_impl.get()] {
    return new TrimmingTaskQueue(2, impl->trim_wanted);
  };
  // httplib's default adds SO_REUSEPORT, which would let a second daemon bind the same port and
  // take half the scrapes: reuse the address (fast restarts), never the port.
  srv.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  srv.set_keep_alive_max_count(10);
  srv.set_read_timeout(5, 0);
  srv.set_write_timeout(5, 0);
  auto route = [&srv, impl = m_impl.get()](const char* path, std::function<HttpReply()>* handler) {
    srv.Get(path, [handler, impl](const httplib::Request&, httplib::Response& res) {
      HttpReply reply;
      try {
        reply =
            *handler ? (*handler)() : HttpReply{404, "text/plain; charset=utf-8", "not found\n"};
      } catch (const std::exception& e) {
        reply = {500, "text/plain; charset=utf-8",
                 std::string("internal error: ") + e.what() + "\n"};
      }
      res.status = reply.status;
      if (reply.body.size() >= k_trim_after_bytes) impl->trim_wanted = true;
      res.set_content(reply.body, reply.content_type);
    });
  };
  route("/metrics", &m_impl->handlers.metrics);
  route("/healthz", &m_impl->handlers.healthz);
  route("/readyz", &m_impl->handlers.readyz);
  route("/status", &m_impl->handlers.status);
  auto not_allowed = [](const httplib::Request&, httplib::Response& res) {
    res.status = 405;
    res.set_content("method not allowed\n", "text/plain; charset=utf-8");
  };
  srv.Post(".*", not_allowed);
  srv.Put(".*", not_allowed);
  srv.Delete(".*", not_allowed);
  srv.Patch(".*", not_allowed);

  const auto& [host, port] = *addr;
  int bound = port;
  if (port == 0) {
    bound = srv.bind_to_any_port(host);
  } else if (!srv.bind_to_port(host, port)) {
    bound = -1;
  }
  if (bound <= 0)
    return util::Err("listen: cannot bind " + listen + " (in use, or not a local address)");
  m_port = bound;
  m_impl->thread = std::thread([this] { m_impl->server.listen_after_bind(); });
  // stop() only acts on a running server: wait for the accept loop so it cannot be missed.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!srv.is_running() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return {};
}

void HttpServer::stop() {
  if (!m_impl) return;
  if (m_impl->thread.joinable()) {
    m_impl->server.stop();
    m_impl->thread.join();
  }
}

}  // namespace service
