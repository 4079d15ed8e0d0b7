#include "support/emulator_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace support {
namespace {

std::string emulator_binary() {
  if (const char* env = std::getenv("EMULATOR_BIN"); env != nullptr && *env != '\0') return env;
  return EMULATOR_BIN;
}

// Reads the first line the child writes, until `deadline`. Empty when none came.
std::string read_first_line(int fd, std::chrono::steady_clock::time_point deadline) {
  std::string line;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return {};
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return {};
    char c = 0;
    ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return {};
    if (c == '\n') return line;
    line.push_back(c);
  }
}

int wait_with_deadline(pid_t pid, std::chrono::milliseconds limit, bool& exited) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  int status = 0;
  while (true) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      exited = true;
      return status;
    }
    if (r < 0 && errno != EINTR) {
      exited = true;
      return 0;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      exited = false;
      return 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace

EmulatorProcess::EmulatorProcess(std::vector<std::string> extra_args) {
  std::vector<std::string> args = {emulator_binary(), "--host", "127.0.0.1",    "--port", "0",
                                   "--token",         k_token,  "--account-id", k_account};
  args.insert(args.end(), extra_args.begin(), extra_args.end());

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("emulator: pipe failed");
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    throw std::runtime_error("emulator: fork failed");
  }
  if (pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    _exit(127);
  }
  ::close(fds[1]);
  m_pid = pid;
  std::string line =
      read_first_line(fds[0], std::chrono::steady_clock::now() + std::chrono::seconds(60));
  ::close(fds[0]);
  const std::string prefix = "listening on http://";
  auto colon = line.rfind(':');
  if (line.rfind(prefix, 0) != 0 || colon == std::string::npos || colon < prefix.size()) {
    stop();
    throw std::runtime_error("emulator did not start (" + args[0] + "); first line: '" + line +
                             "'");
  }
  m_port = std::atoi(line.c_str() + colon + 1);
  if (m_port <= 0) {
    stop();
    throw std::runtime_error("emulator printed no port: '" + line + "'");
  }
}

EmulatorProcess::~EmulatorProcess() {
  stop();
}

int EmulatorProcess::stop() {
  if (m_stopped || m_pid <= 0) return m_status;
  m_stopped = true;
  ::kill(m_pid, SIGTERM);
  bool exited = false;
  m_status = wait_with_deadline(m_pid, std::chrono::seconds(30), exited);
  if (!exited) {
    ::kill(m_pid, SIGKILL);
    m_status = wait_with_deadline(m_pid, std::chrono::seconds(30), exited);
  }
  return m_status;
}

int EmulatorProcess::port() const {
  return m_port;
}

std::string EmulatorProcess::root_url() const {
  return "http://127.0.0.1:" + std::to_string(m_port);
}

std::string EmulatorProcess::base_url() const {
  return root_url() + "/client/v4";
}

pid_t EmulatorProcess::pid() const {
  return m_pid;
}

nlohmann::json EmulatorProcess::control(const std::string& method, const std::string& path,
                                        const nlohmann::json& body) const {
  // A tiny HTTP/1.1 client (Connection: close, read to EOF): the control API is local and
  // answers with Content-Length bodies, and this keeps the support library free of httplib.
  const std::string what = "emulator control " + method + " " + path;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(what + ": socket failed");
  timeval tv{30, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(m_port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    throw std::runtime_error(what + ": connect failed: " + std::strerror(errno));
  }
  const std::string payload = body.is_null() ? std::string() : body.dump();
  std::string request = method + " /__emulator/" + path +
                        " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(m_port) +
                        "\r\nConnection: close\r\nContent-Type: application/json\r\n"
                        "Content-Length: " +
                        std::to_string(payload.size()) + "\r\n\r\n" + payload;
  std::size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      throw std::runtime_error(what + ": send failed");
    }
    sent += static_cast<std::size_t>(n);
  }
  std::string response;
  char buf[65536];
  while (true) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      throw std::runtime_error(what + ": receive failed");
    }
    if (n == 0) break;
    response.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  auto header_end = response.find("\r\n\r\n");
  if (response.rfind("HTTP/1.", 0) != 0 || header_end == std::string::npos) {
    throw std::runtime_error(what + ": malformed answer");
  }
  int status = std::atoi(response.c_str() + response.find(' ') + 1);
  std::string answer = response.substr(header_end + 4);
  if (status >= 400) {
    throw std::runtime_error(what + ": HTTP " + std::to_string(status) + " " + answer);
  }
  if (answer.empty()) return nullptr;
  try {
    return nlohmann::json::parse(answer);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(what + ": answer is not JSON: " + e.what());
  }
}

int logged_status(const nlohmann::json& entry) {
  const auto it = entry.find("status");
  return it != entry.end() && it->is_number_integer() ? it->get<int>() : 0;
}

}  // namespace support
