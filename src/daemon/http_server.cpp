#include "daemon/http_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <malloc.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "util/strings.hpp"

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

using Clock = std::chrono::steady_clock;

// An answer this big (/status or /metrics with hundreds of instances) was built from many times
// its size in short-lived allocations: the freed heap goes back to the kernel after it.
constexpr std::size_t k_trim_after_bytes = 64u << 10;
// After a refusal (405, 413, 431) the rest of what the client sends is read and dropped for a
// moment, so that closing does not reset the connection before the client reads the answer.
constexpr std::size_t k_drain_bytes = 256u << 10;
constexpr auto k_drain_time = std::chrono::milliseconds(1'000);
constexpr auto k_accept_pause = std::chrono::milliseconds(100);  // after EMFILE
constexpr std::size_t k_read_chunk = 4096;

const char* reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 413:
      return "Content Too Large";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

std::string render(const HttpReply& reply, bool head_only, bool allow_get) {
  std::string out = "HTTP/1.1 " + std::to_string(reply.status) + " " + reason_phrase(reply.status) +
                    "\r\nContent-Type: " + reply.content_type +
                    "\r\nContent-Length: " + std::to_string(reply.body.size()) +
                    "\r\nCache-Control: no-store\r\nConnection: close\r\n";
  if (allow_get) out += "Allow: GET, HEAD\r\n";
  out += "\r\n";
  if (!head_only) out += reply.body;
  return out;
}

HttpReply text(int status, std::string body) {
  return HttpReply{status, "text/plain; charset=utf-8", std::move(body)};
}

std::size_t default_max_connections() {
  rlimit rl{};
  std::size_t fds = 1024;
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) fds = rl.rlim_cur;
  return std::clamp<std::size_t>(fds / 4, 16, 256);
}

enum class ConnState { reading, working, writing, draining };

struct Conn {
  int fd = -1;
  ConnState state = ConnState::reading;
  std::string in;  // the head so far
  std::string out;
  std::size_t out_pos = 0;
  std::size_t drained = 0;
  bool refused = false;  // answered without reading the whole request: drain before closing
  bool trim = false;
  Clock::time_point deadline;
};

// What the head of a request asks for, as far as it has arrived.
struct HeadVerdict {
  enum class Kind { incomplete, route, refuse } kind = Kind::incomplete;
  HttpReply reply;  // refuse
  std::string path;
  bool head_only = false;
};

HeadVerdict judge_head(const std::string& in, const HttpServerLimits& limits) {
  HeadVerdict v;
  const auto refuse = [&](int status, std::string body) {
    v.kind = HeadVerdict::Kind::refuse;
    v.reply = text(status, std::move(body));
    return v;
  };
  const std::size_t line_end = in.find('\n');
  if (line_end == std::string::npos) {
    if (in.size() > limits.max_head_bytes) return refuse(431, "request line too long\n");
    return v;
  }
  // The request line: refuse a method with a body as soon as it is known.
  std::string line = in.substr(0, line_end);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  const auto parts = util::split(line, ' ');
  if (parts.size() != 3 || !util::starts_with(parts[2], "HTTP/1.") || parts[1].empty() ||
      parts[1][0] != '/') {
    return refuse(400, "bad request line\n");
  }
  if (parts[0] != "GET" && parts[0] != "HEAD") return refuse(405, "method not allowed\n");
  v.head_only = parts[0] == "HEAD";
  v.path = parts[1].substr(0, parts[1].find('?'));

  std::size_t end = in.find("\r\n\r\n");
  std::size_t head_size = end == std::string::npos ? end : end + 4;
  if (const auto lf = in.find("\n\n"); lf != std::string::npos && lf + 2 < head_size) {
    head_size = lf + 2;
  }
  const std::size_t scanned = std::min(head_size, in.size());
  const auto lines = static_cast<std::size_t>(
      std::count(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(scanned), '\n'));
  if (lines > limits.max_headers + 2) return refuse(431, "too many header fields\n");
  if (head_size == std::string::npos) {
    if (in.size() > limits.max_head_bytes) return refuse(431, "request header too large\n");
    return v;
  }
  if (head_size > limits.max_head_bytes) return refuse(431, "request header too large\n");
  for (const auto& raw : util::split(in.substr(line_end + 1, head_size - line_end - 1), '\n')) {
    const auto colon = raw.find(':');
    if (colon == std::string::npos) continue;
    const std::string name = util::to_lower(util::trim(raw.substr(0, colon)));
    const std::string value = util::trim(raw.substr(colon + 1));
    if (name == "transfer-encoding") return refuse(413, "a request body is not accepted\n");
    if (name == "content-length" && value != "0") {
      return refuse(413, "a request body is not accepted\n");
    }
  }
  v.kind = HeadVerdict::Kind::route;
  return v;
}

}  // namespace

struct HttpServer::Impl {
  HttpHandlers handlers;
  HttpServerLimits limits;
  int listen_fd = -1;
  int wake_fd = -1;
  std::atomic<bool> stopping{false};
  std::thread loop_thread;
  std::vector<std::thread> workers;

  // Handler work: queued by the loop, answered by a worker through `done` and the wake fd.
  struct Job {
    std::uint64_t id;
    const std::function<HttpReply()>* handler;
    bool head_only;
  };
  struct Done {
    std::uint64_t id;
    std::string bytes;
    bool trim;
  };
  std::mutex mutex;
  std::condition_variable cv;
  std::deque<Job> jobs;
  std::vector<Done> done;
  bool workers_stop = false;

  // Loop thread only.
  std::map<std::uint64_t, Conn> conns;  // by id: oldest first
  std::uint64_t next_id = 1;
  Clock::time_point accept_paused_until{};

  void wake() {
    const std::uint64_t one = 1;
    (void)!::write(wake_fd, &one, sizeof one);
  }

  static HttpReply call(const std::function<HttpReply()>& handler) {
    try {
      return handler ? handler() : text(404, "not found\n");
    } catch (const std::exception& e) {
      return text(500, std::string("internal error: ") + e.what() + "\n");
    } catch (...) {
      return text(500, "internal error\n");
    }
  }

  void worker() {
    for (;;) {
      Job job{};
      {
        std::unique_lock lock(mutex);
        cv.wait(lock, [&] { return workers_stop || !jobs.empty(); });
        if (workers_stop) return;
        job = jobs.front();
        jobs.pop_front();
      }
      const HttpReply reply = call(*job.handler);
      Done d{job.id, render(reply, job.head_only, false), reply.body.size() >= k_trim_after_bytes};
      {
        std::lock_guard lock(mutex);
        done.push_back(std::move(d));
      }
      wake();
    }
  }

  void close_conn(std::map<std::uint64_t, Conn>::iterator it) {
    ::close(it->second.fd);
    const bool trim = it->second.trim;
    conns.erase(it);
    if (trim) ::malloc_trim(0);
  }

  void answer(Conn& c, std::string bytes, bool refused) {
    c.out = std::move(bytes);
    c.out_pos = 0;
    c.refused = refused;
    c.state = ConnState::writing;
    c.deadline = Clock::now() + limits.write_deadline;
    std::string().swap(c.in);
  }

  void route(std::uint64_t id, Conn& c, const HeadVerdict& v) {
    const std::function<HttpReply()>* handler = nullptr;
    if (v.path == "/healthz") {
      // On this thread: a worker pool busy with slow handlers never delays the liveness probe.
      answer(c, render(call(handlers.healthz), v.head_only, false), false);
      return;
    }
    if (v.path == "/metrics") handler = &handlers.metrics;
    if (v.path == "/readyz") handler = &handlers.readyz;
    if (v.path == "/status") handler = &handlers.status;
    if (!handler || !*handler) {
      answer(c, render(text(404, "not found\n"), v.head_only, false), false);
      return;
    }
    c.state = ConnState::working;
    {
      std::lock_guard lock(mutex);
      jobs.push_back(Job{id, handler, v.head_only});
    }
    cv.notify_one();
  }

  // Reads what arrived on a connection that is sending its head; false when it is to be closed.
  bool on_readable(std::uint64_t id, Conn& c) {
    char buf[k_read_chunk];
    for (;;) {
      const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
      if (n == 0) return false;
      if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
      if (c.state == ConnState::draining) {
        c.drained += static_cast<std::size_t>(n);
        if (c.drained > k_drain_bytes) return false;
        continue;
      }
      c.in.append(buf, static_cast<std::size_t>(n));
      const HeadVerdict v = judge_head(c.in, limits);
      if (v.kind == HeadVerdict::Kind::incomplete) continue;
      if (v.kind == HeadVerdict::Kind::refuse) {
        answer(c, render(v.reply, false, v.reply.status == 405), true);
      } else {
        route(id, c, v);
      }
      return true;
    }
  }

  // Writes what it can; false when the connection is to be closed.
  bool on_writable(Conn& c) {
    while (c.out_pos < c.out.size()) {
      const ssize_t n =
          ::send(c.fd, c.out.data() + c.out_pos, c.out.size() - c.out_pos, MSG_NOSIGNAL);
      if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
      c.out_pos += static_cast<std::size_t>(n);
    }
    c.trim = c.out.size() >= k_trim_after_bytes;
    std::string().swap(c.out);
    if (!c.refused) return false;
    ::shutdown(c.fd, SHUT_WR);
    c.state = ConnState::draining;
    c.deadline = Clock::now() + k_drain_time;
    return true;
  }

  void take_done() {
    std::vector<Done> ready;
    {
      std::lock_guard lock(mutex);
      ready.swap(done);
    }
    for (auto& d : ready) {
      auto it = conns.find(d.id);
      if (it == conns.end()) continue;  // closed meanwhile
      answer(it->second, std::move(d.bytes), false);
      it->second.trim = d.trim;
    }
  }

  // Makes room for one more connection: closes the oldest one still sending its head.
  bool make_room(std::size_t cap) {
    if (conns.size() < cap) return true;
    for (auto it = conns.begin(); it != conns.end(); ++it) {
      if (it->second.state == ConnState::reading || it->second.state == ConnState::draining) {
        close_conn(it);
        return true;
      }
    }
    return false;
  }

  void accept_all(std::size_t cap) {
    for (;;) {
      const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE) {
          // Out of descriptors: free one for the next client and breathe.
          make_room(conns.size());
          accept_paused_until = Clock::now() + k_accept_pause;
        }
        return;
      }
      if (!make_room(cap)) {
        ::close(fd);  // every connection is busy being answered
        continue;
      }
      Conn c;
      c.fd = fd;
      c.deadline = Clock::now() + limits.head_deadline;
      conns.emplace(next_id++, std::move(c));
    }
  }

  void loop() {
    const std::size_t cap = limits.max_connections;
    std::vector<pollfd> fds;
    std::vector<std::uint64_t> ids;
    while (!stopping.load()) {
      const auto now = Clock::now();
      // Deadlines.
      for (auto it = conns.begin(); it != conns.end();) {
        const auto next = std::next(it);
        if (it->second.state != ConnState::working && it->second.deadline <= now) close_conn(it);
        it = next;
      }
      Clock::time_point wake_at = now + std::chrono::seconds(60);
      fds.clear();
      ids.clear();
      fds.push_back({wake_fd, POLLIN, 0});
      const bool accepting = now >= accept_paused_until;
      fds.push_back({accepting ? listen_fd : -1, POLLIN, 0});
      if (!accepting) wake_at = std::min(wake_at, accept_paused_until);
      for (const auto& [id, c] : conns) {
        short events = 0;
        if (c.state == ConnState::reading || c.state == ConnState::draining) events = POLLIN;
        if (c.state == ConnState::writing) events = POLLOUT;
        if (c.state != ConnState::working) wake_at = std::min(wake_at, c.deadline);
        // A connection waiting for its handler is not polled (a hang-up would wake us in a loop).
        fds.push_back({c.state == ConnState::working ? -1 : c.fd, events, 0});
        ids.push_back(id);
      }
      const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(wake_at - now);
      const int timeout = static_cast<int>(std::clamp<std::int64_t>(wait.count() + 1, 0, 60'000));
      const int n = ::poll(fds.data(), fds.size(), timeout);
      if (n < 0 && errno != EINTR) break;
      if (n <= 0) continue;
      if (fds[0].revents & POLLIN) {
        std::uint64_t count = 0;
        (void)!::read(wake_fd, &count, sizeof count);
        take_done();
      }
      for (std::size_t i = 2; i < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        auto it = conns.find(ids[i - 2]);
        if (it == conns.end()) continue;  // closed to make room
        Conn& c = it->second;
        bool keep = true;
        if (c.state == ConnState::reading || c.state == ConnState::draining) {
          keep = on_readable(it->first, c);
          if (keep && c.state == ConnState::writing) keep = on_writable(c);
        } else if (c.state == ConnState::writing) {
          keep = on_writable(c);
        }
        if (!keep) close_conn(it);
      }
      if (fds[1].fd >= 0 && (fds[1].revents & POLLIN)) accept_all(cap);
    }
    while (!conns.empty()) close_conn(conns.begin());
  }
};

HttpServer::HttpServer(HttpHandlers handlers, HttpServerLimits limits)
    : m_impl(std::make_unique<Impl>()) {
  m_impl->handlers = std::move(handlers);
  if (limits.max_connections == 0) limits.max_connections = default_max_connections();
  limits.workers = std::max<std::size_t>(1, limits.workers);
  m_impl->limits = limits;
}

HttpServer::~HttpServer() {
  stop();
}

util::Result<void, std::string> HttpServer::start(const std::string& listen) {
  auto addr = parse_listen(listen);
  if (!addr) return util::Err(addr.error());
  if (m_impl->loop_thread.joinable()) return util::Err(std::string("listen: already serving"));
  const auto& [host, port] = *addr;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0 || !found)
    return util::Err("listen: cannot bind " + listen + " (in use, or not a local address)");
  int fd = -1;
  for (addrinfo* a = found; a; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    // Reuse the address (fast restarts), never the port: a second daemon must fail to bind.
    int yes = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    if (::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, SOMAXCONN) == 0) break;
    ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(found);
  if (fd < 0)
    return util::Err("listen: cannot bind " + listen + " (in use, or not a local address)");
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
  m_port = bound.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                                       : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  const int wake = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake < 0) {
    ::close(fd);
    return util::Err(std::string("listen: eventfd failed"));
  }
  m_impl->listen_fd = fd;
  m_impl->wake_fd = wake;
  m_impl->stopping = false;
  {
    std::lock_guard lock(m_impl->mutex);
    m_impl->workers_stop = false;
  }
  for (std::size_t i = 0; i < m_impl->limits.workers; ++i) {
    m_impl->workers.emplace_back([impl = m_impl.get()] { impl->worker(); });
  }
  m_impl->loop_thread = std::thread([impl = m_impl.get()] { impl->loop(); });
  return {};
}

void HttpServer::stop() {
  if (!m_impl || !m_impl->loop_thread.joinable()) return;
  m_impl->stopping = true;
  m_impl->wake();
  m_impl->loop_thread.join();
  {
    std::lock_guard lock(m_impl->mutex);
    m_impl->workers_stop = true;
    m_impl->jobs.clear();
    m_impl->done.clear();
  }
  m_impl->cv.notify_all();
  for (auto& t : m_impl->workers) t.join();
  m_impl->workers.clear();
  ::close(m_impl->listen_fd);
  ::close(m_impl->wake_fd);
  m_impl->listen_fd = m_impl->wake_fd = -1;
}

}  // namespace service
